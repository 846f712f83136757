#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_hostile_time: one device's clock cannot move event time (issue 12,
finding 1). The gateway clock is unsynchronized (tests/fault/clockshim.c), so
a device ts up to 30 days ahead passes the payload check. Among three devices,
cam-1 says it is 29 days later; the two speakers' clocks agree with each other.
Expected: cam-1's ts is not believed (its message gets the gateway's estimate,
counted as clock_fallback, logged once for cam-1), no window closes past the
present, later real messages are not late and cam-1's real tamper raises an
alert; the same after a restart. Then a genuine jump confirmed by two devices
(a gateway clock 2 days behind after a power cut) is followed."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402
from test_clock import preload_for, shim_path  # noqa: E402

DAY = 86400
DEVICES = [("spk-1", "speaker", "xom-a"), ("spk-2", "speaker", "xom-a"),
           ("cam-1", "camera", "xom-a")]


def start(h, cfg, ctl):
    saved = {k: os.environ.get(k) for k in ("LD_PRELOAD", "NTM_CLOCKSHIM")}
    os.environ["LD_PRELOAD"] = preload_for(harness.gatewayd_path(), shim_path())
    os.environ["NTM_CLOCKSHIM"] = ctl
    try:
        return h.start_daemon(cfg)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def counter(h, name):
    r = h.query("SELECT value FROM counters WHERE name = ?", (name,))
    return r[0][0] if r else 0


def hb(dev, ts):
    v, k = {d: (vv, kk) for d, kk, vv in DEVICES}[dev]
    return (ts, S.topic(v, k, dev, "heartbeat"), {"interval_s": 60})


def main(h, t):
    port = h.start_broker()
    ctl = h.write_file("clockshim.ctl", "0 0\n")  # the machine's time, unsynchronized
    cfg = h.write_config(["xom-a"], DEVICES, extra="sync:\n  interval_s: 1\n")
    d = start(h, cfg, ctl)
    now = int(time.time())
    ahead = now + 29 * DAY
    S.publish_script(port, [hb("spk-1", now), hb("spk-2", now), hb("cam-1", ahead),
                            hb("cam-1", ahead + 60)], client_id="hostile-time-1")
    S.wait_for(lambda: h.query("SELECT count(*) FROM messages")[0][0] >= 4, 20, "4 messages",
               daemon=d)
    time.sleep(1.5)  # a sync tick: windows the watermark closed would be formed now
    S.publish_script(port, [hb("spk-1", now + 5), hb("spk-2", now + 5),
                            (now + 6, S.topic("xom-a", "camera", "cam-1", "event"),
                             {"type": "tamper"})], client_id="hostile-time-2")
    S.wait_for(lambda: h.query("SELECT count(*) FROM messages")[0][0] >= 7, 20, "7 messages",
               daemon=d)
    time.sleep(1.5)
    d.terminate()
    t.ok(h.query("SELECT max(ts) FROM messages")[0][0] < now + 600,
         "no stored ts is far ahead", h.query("SELECT device, ts, flags FROM messages"))
    t.eq(counter(h, "late"), 0, "no real message is late")
    t.ok(counter(h, "clock_fallback") >= 2, "cam-1's two messages count as clock_fallback")
    log = d.stderr_text()
    t.eq(log.count("alert tamper: camera cam-1"), 1, "cam-1's real tamper raised an alert")
    t.eq(h.query("SELECT count(*) FROM pending_rows WHERE start > ?", (now + 3600,))[0][0]
         if h.query("SELECT count(*) FROM sqlite_master WHERE name = 'pending_rows'")[0][0]
         else 0, 0, "no window formed in the future")
    t.eq(log.count("device cam-1 in village xom-a says the time is"), 1,
         "cam-1's clock is logged once")

    # a restart: the estimate comes back from the gateway clock and the saved state
    d = start(h, cfg, ctl)
    S.publish_script(port, [hb("cam-1", ahead + 120), hb("spk-1", now + 20)],
                     client_id="hostile-time-3")
    S.wait_for(lambda: h.query("SELECT count(*) FROM messages")[0][0] >= 9, 20, "9 messages",
               daemon=d)
    d.terminate()
    t.ok(h.query("SELECT max(ts) FROM messages")[0][0] < now + 600,
         "after a restart, still no stored ts far ahead")
    t.eq(counter(h, "late"), 0, "after a restart, no real message is late")

    # a genuine jump: the gateway clock 2 days behind (a power cut), the devices
    # right; two devices agree, so event time follows them
    behind = 2 * DAY
    with open(ctl + ".tmp", "w") as f:
        f.write(f"{-behind} 0\n")
    os.replace(ctl + ".tmp", ctl)
    d = start(h, cfg, ctl)
    later = int(time.time()) + 10
    S.publish_script(port, [hb("spk-1", later), hb("spk-2", later + 1), hb("spk-1", later + 2)],
                     client_id="hostile-time-4")
    S.wait_for(lambda: h.query("SELECT count(*) FROM messages")[0][0] >= 12, 20, "12 messages",
               daemon=d)
    d.terminate()
    got = [r[0] for r in h.query("SELECT ts FROM messages ORDER BY id DESC LIMIT 2")]
    t.ok(all(abs(x - later) < 600 for x in got),
         "confirmed device clocks are followed when the gateway clock is behind", got)


harness.run(main)
