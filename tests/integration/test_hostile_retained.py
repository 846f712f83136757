#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_hostile_retained: a retained message is taken in once, when it is
published, never again when the broker replays it at a new subscription
(issue 12, finding 3). A retained tamper event published while the daemon
runs, and a retained heartbeat published while it is stopped, over three
restarts: two messages stored, one tamper alert, and the daemon says it
ignored the replays."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402


def pub_retained(h, port, topic, payload):
    h.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-r", "-t", topic,
           "-m", payload], check=True, timeout=30)


def main(h, t):
    port = h.start_broker()
    cfg = h.write_config(["xom-a"], [("cam-1", "camera", "xom-a")])
    d = h.start_daemon(cfg)
    now = int(time.time())
    pub_retained(h, port, S.topic("xom-a", "camera", "cam-1", "event"),
                 '{"ts":%d,"type":"tamper"}' % now)
    S.wait_for(lambda: h.query("SELECT count(*) FROM messages")[0][0] >= 1, 20,
               "the tamper event", daemon=d)
    d.terminate()
    pub_retained(h, port, S.topic("xom-a", "camera", "cam-1", "heartbeat"),
                 '{"ts":%d,"interval_s":60}' % (now + 1))
    for run in range(3):
        d = h.start_daemon(cfg)
        S.wait_for(lambda: h.query("SELECT count(*) FROM messages")[0][0] >= 2, 20,
                   "the heartbeat queued while the daemon was stopped", daemon=d)
        time.sleep(1.5)  # a replay comes right after the subscription
        d.terminate()
        t.eq(h.query("SELECT count(*) FROM messages")[0][0], 2, f"messages after start {run + 1}")
        t.eq(h.query("SELECT count(*) FROM alerts")[0][0], 1, f"alerts after start {run + 1}")
    t.ok("ignored a retained message" in d.stderr_text(), "the replay is logged as ignored",
         d.stderr_text()[-1000:])


harness.run(main)
