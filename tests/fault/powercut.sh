#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# powercut.sh: the long power-cut run (100 cuts by default), not part of the suite:
#   tests/fault/powercut.sh [BUILD_DIR] [CUTS] [SEED]
# BUILD_DIR (default build) is a meson build of this tree; prints one line per cut
# and the distribution of messages lost per cut (median, mean, max).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
ninja -C "$build" daemon/ntm-gatewayd tests/tools/ntm-sim tests/fault/ntm-pcshim.so \
    plugins/provincial-http/provincial-http.so >/dev/null
export NTM_GATEWAYD="$build/daemon/ntm-gatewayd" NTM_CTL="$build/daemon/ctl/ntmctl" \
    NTM_SIM="$build/tests/tools/ntm-sim" NTM_PCSHIM_SO="$build/tests/fault/ntm-pcshim.so" \
    NTM_SOURCE_ROOT="$root" NTM_POWERCUT_CUTS="${2:-100}" \
    NTM_POWERCUT_SEED="${3:-$(date +%s)}" PYTHONDONTWRITEBYTECODE=1
exec python3 "$root/tests/fault/powercut.py"
