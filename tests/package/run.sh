#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# run.sh: the package test, opt-in (tests/run.sh does not run it: it installs
# and purges packages on the machine). CI calls this script when it runs the
# package stage; it needs root (or sudo) on a Debian 12 machine and takes
# about two minutes once the tools are installed. The last line is
# "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -eq 0 ]; then
    exec tests/package/test_package.sh "$@"
else
    exec sudo --preserve-env=NTM_KEEP_TMP,NTM_PKG_TEST_FREE_PORT tests/package/test_package.sh "$@"
fi
