#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# run.sh [RUNS]: builds the libFuzzer targets (build.sh, clang) and runs each
# for RUNS inputs (default 20000) from its seed corpus (corpus/<target>/, read
# only: new inputs go to a scratch directory in the build dir). Fails on any
# crash, sanitizer report, leak, timeout (10 s per input) or out-of-memory
# (2 GiB); the reproducer is saved in the build dir as
# crashes/<target>-crash-<sha1> (or -leak-, -timeout-, -oom-) and its report
# as crashes/<target>.log: nothing is written into the source tree.
# Prints one line per target and "N passed, M failed" last.
#
# Environment: FUZZ_BUILD (default build-fuzz at the top of the tree),
# FUZZ_SEED (libFuzzer -seed, default 0 = random; the seed used is printed),
# FUZZ_ARGS (more libFuzzer options, e.g. "-max_total_time=3600" for a long run,
# see README.md), CC.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${1:-20000}
out=${FUZZ_BUILD:-$root/build-fuzz}
seed=${FUZZ_SEED:-0}
read -r -a extra <<<"${FUZZ_ARGS:-}"

t0=$(date +%s)
if ! "$here/build.sh" "$out"; then
  echo "0 passed, 1 failed"
  exit 1
fi
crashes=$out/crashes
mkdir -p "$crashes"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

# max_len (bytes) per target, 4096 for one not named here. A payload is at most
# 16 KiB, but 4 KiB reaches every rule (fuzz_payload's option byte can set
# max_payload to 64 for too_large). A camera part is read whole up to 16 KiB; 4 KiB
# reaches every rule of its parsers. The multipart reader's limit (64 B to 100 kB)
# comes from its input's first byte, and 2 KiB keeps it at CI speed while it is
# fed three ways.
declare -A max_lens=([fuzz_topic]=256 [fuzz_config]=8192 [fuzz_agg_state]=8192
  [fuzz_retry_after]=128 [fuzz_multipart]=2048 [fuzz_dahua]=2048 [fuzz_tail]=512
  [fuzz_web]=512 [fuzz_password_file]=1024 [fuzz_text_safe]=1024 [fuzz_textwidth]=512)
bin=$out/tests/fuzz
targets=()
for f in "$bin"/fuzz_*; do
  [ -f "$f" ] && [ -x "$f" ] && targets+=("$(basename "$f")")
done
passed=0; failed=0
for t in "${targets[@]}"; do
  max_len=${max_lens[$t]:-4096}
  if [ ! -d "$here/corpus/$t" ]; then
    failed=$((failed + 1))
    echo "FAIL $t: no seed corpus at tests/fuzz/corpus/$t; add a directory with a few valid and hostile inputs"
    continue
  fi
  work=$out/work/$t
  rm -rf "$work"; mkdir -p "$work"
  log=$out/$t.log
  dict=()
  [ -f "$here/dict/${t#fuzz_}.dict" ] && dict=(-dict="$here/dict/${t#fuzz_}.dict")
  s=$(date +%s%N)
  "$bin/$t" -runs="$runs" -max_len="$max_len" -seed="$seed" -timeout=10 -rss_limit_mb=2048 \
    "${dict[@]}" -print_final_stats=1 \
    -artifact_prefix="$crashes/$t-" "${extra[@]}" "$work" "$here/corpus/$t" >"$log" 2>&1
  rc=$?
  secs=$(awk -v a="$s" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  used_seed=$(sed -n 's/^INFO: Seed: //p' "$log" | head -1)
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
    printf 'ok   %-16s %7s runs  cov %4s  ft %5s  %5.1f s  (seed %s)\n' "$t" "${execs:-?}" \
      "${cov:-?}" "${ft:-?}" "$secs" "$used_seed"
  else
    failed=$((failed + 1))
    cp "$log" "$crashes/$t.log"
    artifact=$(sed -n "s/.*Test unit written to \(.*\)$/\1/p" "$log" | tail -1)
    printf 'FAIL %-16s exit %d after %s runs, %5.1f s (seed %s); reproducer %s; report %s\n' \
      "$t" "$rc" "${execs:-?}" "$secs" "$used_seed" "${artifact:-none}" "$crashes/$t.log"
    grep -E 'ERROR: |SUMMARY: |invariant failed|runtime error' "$log" | head -5 | sed 's/^/     /'
    echo "     reproduce: $bin/$t ${artifact:-CRASH_FILE}"
  fi
done
echo "(fuzz: $(( $(date +%s) - t0 )) s)"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
