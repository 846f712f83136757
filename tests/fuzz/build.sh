#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# build.sh [OUTDIR]: builds the libFuzzer targets of tests/fuzz (listed, with the
# parts each links, in tests/fuzz/meson.build) into OUTDIR (default: build-fuzz at
# the top of the tree): a meson build of the tree by clang with -Dfuzzing=true,
# everything compiled for coverage (-fsanitize=fuzzer-no-link) and under ASan and
# UBSan. The normal (gcc) builds are not touched. CC (default: clang, else
# clang-14) chooses the compiler. Prints the targets' directory last.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/build-fuzz}

CC=${CC:-}
if [ -z "$CC" ]; then
  for c in clang clang-14; do command -v "$c" >/dev/null && { CC=$c; break; }; done
fi
[ -n "$CC" ] || { echo "build.sh: clang not found (apt-get install clang-14)" >&2; exit 1; }
# libFuzzer's runtime comes with compiler-rt (Debian: libclang-rt-14-dev)
probe=$(mktemp)
if ! echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n){(void)d;(void)n;return 0;}' |
    "$CC" -x c -fsanitize=fuzzer -o "$probe" - 2>/dev/null; then
  rm -f "$probe"
  echo "build.sh: $CC cannot link -fsanitize=fuzzer (apt-get install libclang-rt-14-dev)" >&2
  exit 1
fi
rm -f "$probe"

opts=(-Dfuzzing=true -Dbuildtype=debugoptimized -Doptimization=1 -Db_sanitize=address,undefined
  -Db_lundef=false "-Dc_args=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer")
if [ -f "$out/build.ninja" ]; then
  meson setup --reconfigure "$out" "${opts[@]}" >/dev/null
else
  CC=$CC meson setup "$out" "${opts[@]}" >/dev/null
fi
# only the fuzz targets (and the libraries they link), not the whole tree
mapfile -t targets < <(meson introspect --targets "$out" | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["type"] == "executable" and t["name"].startswith("fuzz_"):
        print(t["filename"][0])')
[ ${#targets[@]} -gt 0 ] || { echo "build.sh: no fuzz target in $out" >&2; exit 1; }
rel=()
for t in "${targets[@]}"; do rel+=("${t#"$out"/}"); done
ninja -C "$out" "${rel[@]}" >/dev/null
echo "build.sh: ${#targets[@]} targets in $out/tests/fuzz"
