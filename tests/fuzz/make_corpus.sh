#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# make_corpus.sh [TARGET...]: (re)makes the seed corpora under tests/fuzz/corpus/<target>/
# from the tests' own inputs, then keeps only the inputs that add coverage
# (libFuzzer -merge=1). Run it after changing a parser or its unit tests, and
# commit the result; run.sh only reads the corpora.
#
#   fuzz_topic, fuzz_payload  every topic and payload tests/unit/test_ingest.c
#                             parses (harvested with harvest.c and -Wl,--wrap),
#                             and ntm-sim's valid and invalid messages of every
#                             channel (--dry-run --count 200 --invalid 40
#                             --villages a,b --devices 6)
#   fuzz_config               every file tests/unit/test_config.c parses,
#                             config/*.yaml, the contract's gateway.yaml, and the
#                             broken files in seeds/config/ (always kept)
#   fuzz_agg_state            every state tests/unit/test_aggregate.c and
#                             test_agg_state.c save or try to load (valid ones,
#                             truncated, flipped)
#   fuzz_retry_after          every value tests/unit/test_retry_after.c reads,
#                             with its "now"
#
# With TARGET names, only their corpora are made again (the others stay as
# they are).
#
# Needs a built ntm-sim: $NTM_SIM, else build*/tests/tools/ntm-sim.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${FUZZ_BUILD:-$root/build-fuzz}
"$here/build.sh" "$out" >/dev/null

sim=${NTM_SIM:-}
if [ -z "$sim" ]; then
  for b in build build-ci build-int; do
    [ -x "$root/$b/tests/tools/ntm-sim" ] && { sim=$root/$b/tests/tools/ntm-sim; break; }
  done
fi
[ -n "$sim" ] || { echo "make_corpus.sh: no ntm-sim built (meson setup build && ninja -C build)" >&2; exit 1; }

raw=$(mktemp -d /tmp/ntm-fuzz-raw.XXXXXX)
trap 'rm -rf "$raw"' EXIT
all=(fuzz_topic fuzz_payload fuzz_config fuzz_agg_state fuzz_retry_after)
for t in "${all[@]}"; do mkdir -p "$raw/$t" "$raw/keep-$t"; done
targets=("${@:-${all[@]}}")

# 1. the unit tests, each linked with harvest.c wrapping the parsers it calls, and
#    with the daemon's own static libraries from the fuzz build (built by the same
#    clang, for coverage: their list of sources is daemon/meson.build's)
CC=${CC:-}
if [ -z "$CC" ]; then
  for c in clang clang-14; do command -v "$c" >/dev/null && { CC=$c; break; }; done
fi
flags=(-std=c11 -O0 -g -w -D_GNU_SOURCE -fsanitize=address,undefined,fuzzer-no-link -DNTM_VERSION=\"corpus\"
  -DNTM_DEFAULT_PLUGIN_DIR=\"/usr/lib/ntm-gateway/plugins\"
  -I"$root/daemon" -I"$root/include")
lib() { echo "$out/daemon/libntm_$1.a"; }
cj=$(pkg-config --cflags --libs libcjson) ym=$(pkg-config --cflags --libs yaml-0.1)
harvest() { # name, define, unit test, wrapped functions, libraries...
  local name=$1 def=$2 test=$3 wrap=$4; shift 4
  # shellcheck disable=SC2086
  $CC "${flags[@]}" "-D$def" -o "$raw/$name" "$root/tests/unit/$test" "$here/harvest.c" \
    "$@" $cj $ym -lm "-Wl,--wrap=$wrap"
}
harvest h_ingest HARVEST_INGEST test_ingest.c ntm_topic_parse,--wrap=ntm_payload_parse \
  "$(lib ingest)" "$(lib config)" "$(lib siphash)" "$(lib record)"
harvest h_config HARVEST_CONFIG test_config.c ntm_config_parse,--wrap=ntm_config_load \
  "$(lib config)" "$(lib record)"
for t in aggregate agg_state; do
  harvest "h_$t" HARVEST_AGG "test_$t.c" ntm_agg_load,--wrap=ntm_agg_save \
    "$(lib aggregate)" "$(lib config)" "$(lib record)"
done
harvest h_retry_after HARVEST_RETRY_AFTER test_retry_after.c ntm_retry_after_ms "$(lib retry_after)"
for h in h_ingest h_config h_aggregate h_agg_state h_retry_after; do
  (cd "$root/tests/unit" && NTM_SOURCE_ROOT=$root NTM_HARVEST_DIR=$raw "$raw/$h" >/dev/null 2>&1) ||
    echo "make_corpus.sh: note: $h (a unit test) reported failures; its inputs are kept anyway" >&2
done

# 2. ntm-sim's messages: valid ones of every channel and every invalid case.
#    ts from 2026-11-22T00:00:00+07:00 on, the clock fuzz_payload uses by default.
"$sim" --dry-run -q --count 200 --invalid 40 --villages a,b --devices 6 \
  --start-ts 1795280400 --step-ms 1000 >"$raw/sim.txt"
python3 - "$raw" <<'PY'
import hashlib, os, sys
raw = sys.argv[1]
kinds = {"speaker": 0, "camera": 1, "wifi": 2}
chans = {"state": 0, "heartbeat": 1, "event": 2, "stats": 3}
seen_kc = set()
def put(target, data, keep=False):
    d = os.path.join(raw, ("keep-" if keep else "") + target)
    with open(os.path.join(d, "sim-" + hashlib.sha1(data).hexdigest()[:16]), "wb") as f:
        f.write(data)
for line in open(os.path.join(raw, "sim.txt"), "rb").read().split(b"\n"):
    if not line:
        continue
    topic, _, payload = line.partition(b" ")
    put("fuzz_topic", topic)
    lv = topic.split(b"/")
    k = kinds.get(lv[3].decode("latin-1")) if len(lv) == 6 else None
    c = chans.get(lv[5].decode("latin-1")) if len(lv) == 6 else None
    if k is None or c is None:
        k, c = 0, 0  # the payload of a bad topic, as a speaker state
    # one valid payload per kind and channel is always kept, the rest by coverage
    keep = (k, c) not in seen_kc and payload.startswith(b"{\"ts\"") and len(payload) < 2000
    seen_kc.add((k, c))
    put("fuzz_payload", bytes([k, c, 0]) + payload, keep)
PY

# 3. configuration files, always kept: the shipped ones, the contract, the broken seeds
for f in "$root"/config/*.yaml "$here"/seeds/config/*.yaml; do
  cp "$f" "$raw/keep-fuzz_config/$(basename "$f")"
done
for f in "$root"/tests/fixtures/config/*.yaml; do
  cp "$f" "$raw/keep-fuzz_config/fixture-$(basename "$f")"
done

# 4. merge: the kept seeds, then whatever else adds coverage
for t in "${targets[@]}"; do
  c=$here/corpus/$t
  rm -rf "$c"
  mkdir -p "$c"
  cp "$raw/keep-$t"/. "$c"/ -r 2>/dev/null || true
  "$out/tests/fuzz/$t" -merge=1 -max_len=32768 -rss_limit_mb=4096 "$c" "$raw/$t" >"$raw/merge-$t.log" 2>&1 ||
    { echo "make_corpus.sh: merge of $t failed:" >&2; tail -30 "$raw/merge-$t.log" >&2; exit 1; }
  printf '%-16s %4d files %6d KiB (from %d candidates)\n' "$t" "$(ls "$c" | wc -l)" \
    "$(du -sk "$c" | cut -f1)" "$(ls "$raw/$t" | wc -l)"
done
