#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# test_completion.sh SRCROOT: the bash completion of ntmctl completes
# commands, a command's options, kinds, and device and village ids read from
# the configuration.
set -u
. "$1/completion/ntmctl.bash"
cfg=$1/config/demo.yaml
fail=0
try() { # WANT WORD...
    local want=$1
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _ntmctl
    if [[ " ${COMPREPLY[*]} " == *" $want "* ]]; then
        echo "ok - '${*}' completes to $want"
    else
        echo "FAIL - '${*}' does not complete to $want (got: ${COMPREPLY[*]})"
        fail=1
    fi
}
try devices ntmctl dev
try check-config ntmctl check
try --offline ntmctl devices --off
try --check ntmctl status --
try camera ntmctl devices --kind ca
try day ntmctl indicators --period d
try cam-t2-1 ntmctl --config "$cfg" devices cam-t2
try thon-3 ntmctl --config "$cfg" today --village thon-
try passwd ntmctl device pa
try cam-t2-1 ntmctl --config "$cfg" device remove cam-t2
exit $fail
