#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# soak.sh: the long soak, not run by CI (it takes about 15 minutes by default).
#
#   tests/fault/soak.sh [--valgrind | --asan] [-b BUILD_DIR] [HOURS]
#
# Runs tests/fault/test_soak_short.py for HOURS of device time (default 24: 100
# devices each reporting every 10 s, 864,000 messages, ts from 22:00 to 22:00,
# so that a day closes and its messages are released early, in the
# warm-up, and 23 hours close all along; their rows form batches that the
# `file` uplink delivers), published at full speed, with the daemon
#
#   --valgrind (default)  under valgrind memcheck: --leak-check=full
#                         --errors-for-leak-kinds=definite --error-exitcode=99,
#                         so a definite leak or any memory error makes the
#                         daemon exit 99 and the test fail; BUILD_DIR default
#                         `build` (a plain build). RSS (valgrind's, which
#                         includes its own bookkeeping) must stay flat within
#                         8 MiB.
#   --asan                the ASan+UBSan build (BUILD_DIR default `build-asan`,
#                         configured with -Db_sanitize=address,undefined
#                         -Db_lundef=false): LeakSanitizer at exit.
#
# The test's checks are the same as in CI (flood_soak_support.flat_rss for memory,
# every message counted per device, every closed window's rows delivered once
# with the values computed from the simulator's messages). The valgrind log is
# kept and its summary printed. NTM_SOAK_DEVICES and NTM_SOAK_INTERVAL_S change
# the load. About 1,100 msg/s under valgrind on one core of a 2-core VM, so
# 24 h take about 13 minutes, 1 h about 50 s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mode=valgrind build="" hours=24
while [ $# -gt 0 ]; do
  case $1 in
    --valgrind) mode=valgrind ;;
    --asan) mode=asan ;;
    -b) build=$2; shift ;;
    -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    [0-9]*) hours=$1 ;;
    *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$build" ]; then
  build=$root/build
  [ "$mode" = asan ] && build=$root/build-asan
fi
build=$(cd "$build" && pwd)
ninja -C "$build" daemon/ntm-gatewayd daemon/ctl/ntmctl tests/tools/ntm-sim plugins/file/file.so >/dev/null

export NTM_CTL=$build/daemon/ctl/ntmctl NTM_SIM=$build/tests/tools/ntm-sim
export NTM_PLUGIN_BUILD_DIR=$build/plugins NTM_SOURCE_ROOT=$root
export NTM_SOAK_HOURS=$hours PYTHONDONTWRITEBYTECODE=1
work=$(mktemp -d /tmp/ntm-soak.XXXXXX)
echo "soak: $hours h of device time, $mode, build $build; logs in $work"

if [ "$mode" = valgrind ]; then
  command -v valgrind >/dev/null || { echo "soak.sh: valgrind is not installed (tests/tools/deps.sh)" >&2; exit 1; }
  cat >"$work/ntm-gatewayd" <<WRAP
#!/bin/sh
exec valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \\
  --show-leak-kinds=definite --num-callers=30 --log-file=$work/valgrind.%p.log \\
  $build/daemon/ntm-gatewayd "\$@"
WRAP
  chmod +x "$work/ntm-gatewayd"
  export NTM_GATEWAYD=$work/ntm-gatewayd NTM_SOAK_RSS_SLACK_MIB=${NTM_SOAK_RSS_SLACK_MIB:-8}
else
  export NTM_GATEWAYD=$build/daemon/ntm-gatewayd
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
fi

rc=0
python3 "$here/test_soak_short.py" 2>&1 | tee "$work/test.log" || rc=$?
if [ "$mode" = valgrind ]; then
  for f in "$work"/valgrind.*.log; do
    [ -s "$f" ] || { echo "valgrind: $(basename "$f"): no error, no definite leak"; continue; }
    echo "---- $f"; cat "$f"; rc=1
  done
fi
exit $rc
