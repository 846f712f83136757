#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# build.sh [OUTDIR]: builds the libFuzzer targets of tests/fuzz with clang
# (-fsanitize=fuzzer,address,undefined), each from the daemon sources it tests
# and nothing else, into OUTDIR (default: build-fuzz at the top of the tree).
# Independent of meson: the normal (gcc) build is not touched.
#
#   fuzz_topic      ntm_topic_parse                 ingest*.c siphash.c record.c config*.c
#   fuzz_payload    ntm_topic_parse + _payload_parse ingest*.c siphash.c record.c config*.c
#   fuzz_config     ntm_config_parse, _diff, _apply_live  config*.c record.c
#   fuzz_agg_state  ntm_agg_load/add/tick/save      aggregate.c agg_*.c record.c config*.c
#   fuzz_retry_after ntm_retry_after_ms             retry_after.c
#   fuzz_multipart  ntm_multipart_feed/finish       sources/multipart.c
#   fuzz_hikvision  ntm_hik_parse                   sources/hikvision.c (expat)
#   fuzz_dahua      ntm_dahua_parse                 sources/dahua.c
#
# (config*.c, the loader as daemon/meson.build's config_lib has it, is in the
# ingest and aggregation targets for the test configuration; its built-in
# plugin directory, which meson sets from the install layout, is a placeholder here.)
# CC (default: clang, else clang-14) chooses the compiler.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/build-fuzz}
mkdir -p "$out"

CC=${CC:-}
if [ -z "$CC" ]; then
  for c in clang clang-14; do command -v "$c" >/dev/null && { CC=$c; break; }; done
fi
[ -n "$CC" ] || { echo "build.sh: clang not found (apt-get install clang-14)" >&2; exit 1; }
# libFuzzer's runtime comes with compiler-rt (Debian: libclang-rt-14-dev)
if ! echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n){(void)d;(void)n;return 0;}' |
    "$CC" -x c -fsanitize=fuzzer -o "$out/.probe" - 2>/dev/null; then
  echo "build.sh: $CC cannot link -fsanitize=fuzzer (apt-get install libclang-rt-14-dev)" >&2
  exit 1
fi
rm -f "$out/.probe"

version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$root/meson.build" | head -1)
CFLAGS=(-std=c11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
  -D_GNU_SOURCE "-DNTM_VERSION=\"$version\"" -DNTM_DEFAULT_PLUGIN_DIR=\"/usr/lib/ntm-gateway/plugins\"
  -I"$root/daemon" -I"$root/include")
read -r -a CJSON <<<"$(pkg-config --cflags --libs libcjson)"
read -r -a YAML <<<"$(pkg-config --cflags --libs yaml-0.1)"
read -r -a EXPAT <<<"$(pkg-config --cflags --libs expat)"
d=$root/daemon
config=("$d/config.c" "$d/config_yaml.c" "$d/config_table.c" "$d/config_keys.c" "$d/config_diff.c" "$d/config_doc.c")

build() { # target, sources and libraries...: skipped when newer than its inputs
  local t=$1; shift
  local f fresh=1
  if [ -x "$out/$t" ]; then
    for f in "$here/$t.c" "$here/fuzz_common.h" "$root"/tests/unit/*.h "$0" "$@" "$d"/*.h \
        "$root"/include/ntm/*.h; do
      [ -f "$f" ] && [ "$f" -nt "$out/$t" ] && fresh=0
    done
  else
    fresh=0
  fi
  [ $fresh -eq 1 ] && return 0
  "$CC" "${CFLAGS[@]}" -o "$out/$t" "$here/$t.c" "$@" -lm
}

pids=()
ingest=("$d/ingest.c" "$d/ingest_text.c" "$d/ingest_topic.c" "$d/ingest_payload.c" "$d/ingest_mac.c")
agg=("$d/aggregate.c" "$d/agg_windows.c" "$d/agg_devices.c" "$d/agg_clients.c" "$d/agg_state.c")
build fuzz_topic "${ingest[@]}" "$d/siphash.c" "$d/record.c" "$d/hash.c" "${config[@]}" "${CJSON[@]}" "${YAML[@]}" & pids+=($!)
build fuzz_payload "${ingest[@]}" "$d/siphash.c" "$d/record.c" "$d/hash.c" "${config[@]}" "${CJSON[@]}" "${YAML[@]}" & pids+=($!)
build fuzz_config "${config[@]}" "$d/record.c" "$d/hash.c" "${YAML[@]}" & pids+=($!)
build fuzz_agg_state "${agg[@]}" "$d/record.c" "$d/hash.c" "${config[@]}" "${YAML[@]}" & pids+=($!)
build fuzz_retry_after "$d/retry_after.c" & pids+=($!)
build fuzz_multipart "$d/sources/multipart.c" & pids+=($!)
build fuzz_hikvision "$d/sources/hikvision.c" "${EXPAT[@]}" & pids+=($!)
build fuzz_dahua "$d/sources/dahua.c" & pids+=($!)
build fuzz_tail "$d/tail.c" "$d/hash.c" & pids+=($!)
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[ $rc -eq 0 ] || { echo "build.sh: a fuzz target did not build" >&2; exit 1; }
echo "build.sh: fuzz_topic fuzz_payload fuzz_config fuzz_agg_state fuzz_retry_after fuzz_multipart fuzz_hikvision fuzz_dahua fuzz_tail in $out"
