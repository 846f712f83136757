#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# demo.sh: the whole product on this machine, in under two minutes. Builds the
# tree (build/), then tests/tools/demo.py: a local mosquitto, the daemon with
# the Hoang Giang inventory (config/demo.yaml), a local provincial receiver,
# and the simulator replaying yesterday at speed so that every hour and the
# day close; it prints the day's indicators per village as the province got
# them, what was delivered, `ntmctl status` and `ntmctl batches`, and serves
# the status page (on a terminal, until Enter is pressed).
# Needs what tests/tools/deps.sh installs. No root needed.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${NTM_BUILD:-build}
[ -d "$BUILD" ] || meson setup "$BUILD" >/dev/null
ninja -C "$BUILD" >/dev/null
exec python3 tests/tools/demo.py --build "$BUILD" --wait "$@"
