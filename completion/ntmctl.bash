# SPDX-License-Identifier: GPL-3.0-or-later
# bash completion for ntmctl: commands, their options, village ids and device
# ids (from the configuration, with the kinds), batch seqs for requeue.
_ntmctl_config() {
    local i
    for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
        case ${COMP_WORDS[i]} in
        -c | --config) echo "${COMP_WORDS[i + 1]}"; return ;;
        --config=*) echo "${COMP_WORDS[i]#--config=}"; return ;;
        esac
    done
    echo /etc/ntm-gateway/gateway.yaml
}

_ntmctl_ids() { # KEY: the values of "id:" under the top-level section KEY
    local cfg
    cfg=$(_ntmctl_config)
    [ -r "$cfg" ] || return
    awk -v sec="$1:" '
        /^[a-z_]+:/ { in_sec = ($1 == sec) }
        in_sec && match($0, /id: *[A-Za-z0-9_.-]+/) {
            v = substr($0, RSTART, RLENGTH); sub(/id: */, "", v); print v
        }' "$cfg" 2>/dev/null
}

_ntmctl() {
    local cur prev cmd="" i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    local commands="status today devices batches indicators quarantine requeue forget check-config broker-files device"
    local global="--config --db --state --json --wide --help"
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -c | --config | -d | --db | --state) ((i++)) ;;
        -*) ;;
        *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done
    case $prev in
    -c | --config | -d | --db | --state)
        COMPREPLY=($(compgen -f -- "$cur"))
        return ;;
    --village)
        COMPREPLY=($(compgen -W "$(_ntmctl_ids villages)" -- "$cur"))
        return ;;
    --kind)
        COMPREPLY=($(compgen -W "speaker camera wifi" -- "$cur"))
        return ;;
    --period)
        COMPREPLY=($(compgen -W "hour day" -- "$cur"))
        return ;;
    --broker-dir)
        COMPREPLY=($(compgen -d -- "$cur"))
        return ;;
    --day | --uplink | --ip | --undeclared)
        return ;;
    esac
    if [ -z "$cmd" ]; then
        COMPREPLY=($(compgen -W "$commands $global" -- "$cur"))
        return
    fi
    local opts="--json --wide --help"
    case $cmd in
    status) opts+=" --check" ;;
    today) opts+=" --village --day" ;;
    devices) opts+=" --offline --village --kind" ;;
    batches) opts+=" --uplink" ;;
    forget) opts+=" --undeclared" ;;
    indicators) opts+=" --village --kind --period" ;;
    device) opts+=" --kind --village --ip --broker-dir" ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    elif [ "$cmd" = devices ]; then
        COMPREPLY=($(compgen -W "$(_ntmctl_ids devices)" -- "$cur"))
    elif [ "$cmd" = device ] && [ "$prev" = device ]; then
        COMPREPLY=($(compgen -W "add remove passwd" -- "$cur"))
    elif [ "$cmd" = device ] && [[ $prev == remove || $prev == passwd ]]; then
        COMPREPLY=($(compgen -W "$(_ntmctl_ids devices)" -- "$cur"))
    fi
}
complete -F _ntmctl ntmctl
