#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_broker_states: READY=1 does not wait for the broker, and a port that
is not a broker is said (issue 13, finding 7).

1. No broker at mqtt.port (connection refused): READY=1 comes (the buffer is
   open, the loop runs), STATUS= and the live state say the broker is down
   with the reason; when a broker comes up on that port the daemon connects
   and STATUS= says so.
2. mqtt.port is a TCP server that accepts and never answers (not a broker):
   the log says so within seconds ("no MQTT answer"), the live state carries
   it, and the daemon keeps retrying (a second connection is seen).
"""

import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402


class Silent:
    """Accepts TCP connections and never says a word."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.conns = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.conns.append(c)


def live(h):
    try:
        with open(h.db_path + ".state.json", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main(h, t):
    os.environ.pop("RUNTIME_DIRECTORY", None)
    # ---- 1. nothing listens on the port
    port = harness.free_port()
    cfg = h.write_config(["thon-a"], mqtt={"port": port}, name="refused.yaml")
    d = h.start_daemon(cfg, ready=False)
    d.wait_ready(15)
    t.ok(True, "READY=1 with no broker at all")
    st = d.wait_status(lambda s: "broker down" in s["text"], 15, "STATUS= saying the broker is down")
    t.ok("refused" in st["text"].lower(), "STATUS= gives the reason", st["text"])
    lv = S.wait_for(lambda: (s := live(h)) and s["broker"]["state"] == "down" and s, 10,
                    "the live state: broker down", daemon=d)
    t.ok(lv["ready"], "the live state says ready")
    t.eq(lv["broker"]["port"], port, "the live state names the port")
    h.start_broker(port)
    d.wait_status(lambda s: s["connected"], 90, "STATUS= broker connected once it is up")
    t.ok(True, "connects when the broker comes up")
    t.eq(d.terminate(), 0, "clean stop")
    h.broker.stop()

    # ---- 2. a TCP server that is not a broker
    silent = Silent()
    cfg = h.write_config(["thon-a"], mqtt={"port": silent.port}, name="silent.yaml")
    t0 = time.monotonic()
    d = h.start_daemon(cfg, ready=False)
    d.wait_ready(15)
    S.wait_for(lambda: "no MQTT answer" in d.stderr_text(), 20,
               "the log line about a port that does not answer MQTT", daemon=d)
    took = time.monotonic() - t0
    t.ok(took < 20, f"said within {took:.1f} s (the keepalive would take 45 s)")
    line = next(l for l in d.stderr_text().splitlines() if "no MQTT answer" in l)
    t.ok(str(silent.port) in line and "mqtt.port" in line, "the line names the port and the key",
         line)
    lv = S.wait_for(lambda: (s := live(h)) and s["broker"]["state"] == "down"
                    and "CONNACK" in (s["broker"]["last_error"] or "") and s, 10,
                    "the live state: down, no CONNACK", daemon=d)
    S.wait_for(lambda: silent.accepted >= 2, 30, "a retry after dropping the silent peer",
               daemon=d)
    t.ok(True, "retried")
    t.eq(d.stderr_text().count("no MQTT answer"), 1, "said once, not at every retry")
    t.eq(d.terminate(), 0, "clean stop")


harness.run(main)
