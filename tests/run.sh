#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# run.sh: builds ntm-gateway twice (plain, and with ASan+UBSan), warnings as
# errors, and runs the whole meson test suite on both; then the libFuzzer
# targets for a fixed number of runs; then, as root, the Debian package test. The last line is the total: "tests: N passed, N failed"
# (meson tests count one each, the package test counts its checks).
set -uo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"

passed=0; failed=0; status=0
run_suite() { # build dir, "meson test" options, meson setup options...
  local dir=$1 test_opts=$2; shift 2
  if [ -d "$dir" ]; then
    meson setup --reconfigure "$dir" "$@" >/dev/null || return 1
  else
    meson setup "$dir" "$@" >/dev/null || return 1
  fi
  ninja -C "$dir" || return 1
  # shellcheck disable=SC2086
  # 4 at once on 2 cores: the parallel tests mostly wait (retries, timers); the
  # load-bound ones are is_parallel: false and run alone.
  meson test -C "$dir" --print-errorlogs --num-processes "${NTM_TEST_JOBS:-4}" $test_opts
  local rc=$?
  read -r p f < <(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r != "SKIP": f += 1
print(p, f)
PY
)
  passed=$((passed + p)); failed=$((failed + f))
  return $rc
}

echo "== build and test: plain"
run_suite build-ci "" -Dwerror=true -Dbuildtype=debugoptimized || status=1
# Under the sanitizers every test but the long fault scenarios (suite 'slow':
# they drive the same code paths for minutes, and run in the plain build).
echo "== build and test: ASan + UBSan (all but the suite 'slow')"
run_suite build-asan "--no-suite slow" -Dwerror=true -Dbuildtype=debug -Db_sanitize=address,undefined \
  -Db_lundef=false || status=1

# libFuzzer targets (clang): topic, payload, configuration, aggregation state;
# a fixed number of runs each (tests/fuzz/README.md has the long run).
echo "== fuzz: 20000 runs per target"
fuzz_log=$(mktemp)
tests/fuzz/run.sh 20000 2>&1 | tee "$fuzz_log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
read -r p f < <(tail -n 1 "$fuzz_log" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p')
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
rm -f "$fuzz_log"

# The Debian package: build, lintian, install, run as the service user, purge.
# It installs packages on this machine, so it runs as root only (CI is root);
# NTM_SKIP_PACKAGE=1 skips it.
if [ "${NTM_SKIP_PACKAGE:-0}" != 1 ] && [ "$(id -u)" -eq 0 ]; then
  echo "== Debian package test"
  pkg_log=$(mktemp)
  tests/package/run.sh 2>&1 | tee "$pkg_log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  read -r p f < <(tail -n 1 "$pkg_log" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1 \2/p')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-1}))
  rm -f "$pkg_log"
else
  echo "== Debian package test skipped (needs root; NTM_SKIP_PACKAGE=${NTM_SKIP_PACKAGE:-0})"
fi

[ $failed -eq 0 ] || status=1
echo "tests: $passed passed, $failed failed"
exit $status
