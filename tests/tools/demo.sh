#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# demo.sh: the gateway on its built-in default, on this machine: builds it,
# starts a local mosquitto on a free loopback port, the daemon with
# config/demo.yaml (the Hoang Giang commune inventory) and the device
# simulator for DEMO_SECONDS (default 20), then stops the daemon with SIGTERM
# and prints `ntmctl status`. Everything lives in a temporary directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
SECONDS_TO_RUN=${DEMO_SECONDS:-20}
RATE=${DEMO_RATE:-50}

[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

WORK=$(mktemp -d /tmp/ntm-demo.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  [ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null || true
  [ -n "${GW_PID:-}" ] && kill "$GW_PID" 2>/dev/null || true
  [ -n "${MQ_PID:-}" ] && kill "$MQ_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

cat > "$WORK/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
max_queued_messages 0
CONF
mosquitto -c "$WORK/mosquitto.conf" > "$WORK/mosquitto.log" 2>&1 &
MQ_PID=$!

sed -e "s|^\(\s*port:\).*|\1 $PORT|" -e "s|demo-buffer.db|$WORK/buffer.db|" \
  config/demo.yaml > "$WORK/gateway.yaml"
echo "demo: broker on 127.0.0.1:$PORT, work dir $WORK"
sleep 0.3
build/daemon/ntm-gatewayd --config "$WORK/gateway.yaml" 2> >(tee "$WORK/gateway.log" >&2) &
GW_PID=$!
sleep 1
echo "demo: simulating the commune's 33 devices at $RATE msg/s for $SECONDS_TO_RUN s"
build/tests/tools/ntm-sim --port "$PORT" --config "$WORK/gateway.yaml" --rate "$RATE" \
  --duration "$SECONDS_TO_RUN" --count 40 --invalid 1 &
SIM_PID=$!
wait "$SIM_PID" || true
SIM_PID=
kill -TERM "$GW_PID"
wait "$GW_PID"
GW_PID=
echo
build/daemon/ctl/ntmctl --config "$WORK/gateway.yaml" status
