#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# run.sh: the performance benchmark of issue 6 in one command. Builds what it
# needs (build-bench, meson buildtype=debugoptimized: -O2 -g, the optimization
# Debian packages use, with symbols for callgrind), installs Node-RED with npm
# under tests/bench/work/ (git-ignored) if it is not there yet, runs
# tests/bench/bench.py and prints ONE Markdown table, every figure next to its
# target; the same table goes to tests/bench/RESULTS.md with the date, the
# machine (uname -m, CPU model), the command and the run time.
#
#   tests/bench/run.sh            the full run (about 15 minutes)
#   tests/bench/run.sh --quick    smaller loads (about 3 minutes)
#   tests/bench/run.sh --only ingest,callgrind   some sections (ingest, nodered,
#                                 callgrind, steady, idle, week)
#   tests/bench/compare.py --base main   the ingest, callgrind and steady sections
#                                 for main's build and this one in the same run,
#                                 alternating, with the ratios (work/COMPARE.md)
#
# Needs: tests/tools/deps.sh's packages (mosquitto, valgrind, strace, ...), and
# npm for the Node-RED figures (without it the table says so and the rest runs).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${NTM_BENCH_BUILD:-build-bench}
ARGS=("$@")
OUT=tests/bench/RESULTS.md
for a in "$@"; do
  case "$a" in
    --only*) OUT=tests/bench/work/RESULTS-partial.md ;;  # a partial run keeps RESULTS.md
  esac
done
mkdir -p tests/bench/work

echo "== build ($BUILD, buildtype=debugoptimized)"
if [ -d "$BUILD" ]; then
  meson setup --reconfigure "$BUILD" -Dbuildtype=debugoptimized >/dev/null || exit 1
else
  meson setup "$BUILD" -Dbuildtype=debugoptimized >/dev/null || exit 1
fi
ninja -C "$BUILD" daemon/ntm-gatewayd tests/tools/ntm-sim tests/bench/ntm-replay \
  plugins/provincial-http/provincial-http.so plugins/file/file.so >/dev/null || exit 1

missing=()
for t in mosquitto mosquitto_sub valgrind callgrind_annotate strace sqlite3; do
  command -v "$t" >/dev/null || missing+=("$t")
done
[ ${#missing[@]} -eq 0 ] || echo "run.sh: missing ${missing[*]} (tests/tools/deps.sh installs them); those figures are skipped"

python3 tests/bench/bench.py --build "$BUILD" --out "$OUT" \
  --command "tests/bench/run.sh${ARGS[*]:+ ${ARGS[*]}}" "${ARGS[@]}"
rc=$?
[ $rc -eq 0 ] && echo "(written to $OUT)"
exit $rc
