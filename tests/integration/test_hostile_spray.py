#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_hostile_spray: a client inventing device ids cannot grow the gateway
for ever (issue 12, finding 4). With storage.max_undeclared_devices 20, 500
invented ids under one village: 20 are taken in, the other 480 are rejected as
too_many_devices (counted, quarantined, logged once), "new device" lines are
summed up instead of one each, and the declared devices are still accepted;
the cap holds after a restart."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

CAP, SPRAY = 20, 500


def counter(h, name):
    r = h.query("SELECT value FROM counters WHERE name = ?", (name,))
    return r[0][0] if r else 0


def main(h, t):
    port = h.start_broker()
    cfg = h.write_config(["xom-a"], [("spk-1", "speaker", "xom-a")],
                         storage={"max_undeclared_devices": CAP})
    d = h.start_daemon(cfg)
    now = int(time.time())
    script = [(now, S.topic("xom-a", "speaker", f"fake-{i:05d}", "heartbeat"), {"interval_s": 60})
              for i in range(SPRAY)]
    script.append((now, S.topic("xom-a", "speaker", "spk-1", "heartbeat"), {"interval_s": 60}))
    S.publish_script(port, script, client_id="hostile-spray")
    d.wait_counts(CAP + 1, SPRAY - CAP)
    time.sleep(1.2)  # the counters reach the database at the next commit
    t.eq(h.query("SELECT count(*) FROM devices WHERE declared = 0")[0][0], CAP,
         "undeclared devices known")
    t.eq(counter(h, "rejected.too_many_devices"), SPRAY - CAP, "rejected past the cap")
    t.eq(h.query("SELECT count(*) FROM messages WHERE device = (SELECT id FROM devices"
                 " WHERE name = 'spk-1')")[0][0], 1, "the declared device is still accepted")
    log = d.stderr_text()
    t.ok(log.count("new device ") <= 2, "new-device lines are summed up",
         log.count("new device "))
    t.ok(log.count(": too_many_devices (") == 1, "too_many_devices is logged once",
         log.count(": too_many_devices ("))
    d.terminate()
    d = h.start_daemon(cfg)
    S.publish_script(port, [(now + 1, S.topic("xom-a", "speaker", "fake-new", "heartbeat"),
                             {"interval_s": 60})], client_id="hostile-spray-2")
    S.wait_for(lambda: counter(h, "rejected.too_many_devices") == SPRAY - CAP + 1, 20,
               "the cap after a restart", daemon=d)
    d.terminate()


harness.run(main)
