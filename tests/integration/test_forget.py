#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_forget: `ntmctl forget` (issue 12, finding 4): the operator forgets
undeclared devices and the village's figures follow. Two declared speakers and
three undeclared ones in one village; fake-1 and fake-2 are forgotten while the
daemon runs: the next closed hour counts 3 devices and their mean uptime
without them, the hour closed before is unchanged. fake-3 is forgotten while the
daemon is stopped: done at its start. After the restart none comes back, the
day's row counts the 2 declared ones, no accepted message was lost, a
forgotten device that speaks again is a new one, and forgetting a declared or
an unknown device fails with a clear message and changes nothing.
`--undeclared DAYS` forgets every undeclared device silent that long."""
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

V = "xom-a"
DECLARED = [("spk-1", "speaker", V), ("spk-2", "speaker", V)]
FAKES = ["fake-1", "fake-2", "fake-3"]


def subscribed(d):
    S.wait_for(lambda: "subscribed to ntm/v1/#" in d.stderr_text(), 30,
               "the daemon's subscription", daemon=d)
    return d


def beats(at, names, interval):
    return [(at, S.topic(V, "speaker", n, "heartbeat"), {"interval_s": interval}) for n in names]


def row(h, period, start):
    r = h.query("SELECT value, devices FROM history_rows WHERE period = ? AND start = ?"
                " AND village = ? AND kind = 'speaker' AND name = 'uptime_pct'",
                (period, start, V))
    return r[0] if r else None


def names(h):
    return sorted(x[0] for x in h.query("SELECT name FROM devices"))


def main(h, t):
    os.environ.pop("RUNTIME_DIRECTORY", None)  # the live state beside the buffer
    port = h.start_broker()
    cfg = h.write_config([V], DECLARED, extra="sync:\n  interval_s: 1\n  grace_s: 60\n")
    ctl = lambda *a, **kw: h.ctl("--config", cfg, *a, **kw)  # noqa: E731
    # a local day two days back: every ts is behind the gateway clock
    day = (datetime.datetime.now(S.TZ) - datetime.timedelta(days=2)).strftime("%Y-%m-%d")
    h9, h10, h11 = S.ts(day, 9), S.ts(day, 10), S.ts(day, 11)

    d = subscribed(h.start_daemon(cfg))
    # 09:30 and 10:30: the speakers online 3 min each time, the fakes 30 min
    script = []
    for at in (S.ts(day, 9, 30), S.ts(day, 10, 30)):
        script += beats(at, ["spk-1", "spk-2"], 60) + beats(at, FAKES, 600)
    S.publish_script(port, script, client_id="forget-1")
    d.wait_counts(len(script), 0)
    # hour 9 closed with 5 devices: (2 x 180 + 3 x 1800) / (5 x 3600)
    S.wait_for(lambda: row(h, "hour", h9), 20, "hour 9's row", daemon=d)
    t.eq(row(h, "hour", h9), (32.0, 5), "hour 9: 5 devices, 32 %")
    S.wait_for(lambda: h.query("SELECT count(*) FROM messages")[0][0] == len(script), 10,
               "the messages committed", daemon=d)

    # ---- forget two undeclared devices while the daemon runs
    p = ctl("forget", "fake-1", "fake-2")
    print(p.stdout_text + p.stderr_text)
    t.eq(p.returncode, 0, "forget fake-1 fake-2 exits 0")
    t.ok(p.stdout_text.count(" forgotten: ") == 2, "both reported forgotten", p.stdout_text)
    t.eq(names(h), ["fake-3", "spk-1", "spk-2"], "the devices table without them")
    log = d.stderr_text()
    print("".join(x + "\n" for x in log.splitlines() if "ntmctl forget" in x))
    t.ok("forgot undeclared device fake-1" in log and "forgot undeclared device fake-2" in log,
         "one log line per forgotten device", log[-2000:])
    t.eq(h.query("SELECT count(*) FROM messages")[0][0], len(script),
         "their messages stay (no accepted message lost)")

    # ---- a declared device, an unknown one: refused, nothing changes
    p = ctl("forget", "spk-1")
    t.eq(p.returncode, 1, "forget of a declared device exits 1")
    t.ok("declared" in p.stderr_text and "gateway.yaml" in p.stderr_text,
         "it says to remove it from gateway.yaml first", p.stderr_text)
    p = ctl("forget", "nobody-9")
    t.eq(p.returncode, 1, "forget of an unknown device exits 1")
    t.ok("no device nobody-9 is known" in p.stderr_text, "it says the device is unknown",
         p.stderr_text)
    p = ctl("forget", "fake-3", "spk-2")
    t.eq(p.returncode, 1, "a declared id among others: exit 1")
    t.eq(names(h), ["fake-3", "spk-1", "spk-2"], "refused requests changed no device")
    t.eq(h.query("SELECT count(*) FROM forget_requests")[0][0], 2, "and asked nothing")
    t.eq(ctl("forget").returncode, 2, "forget without an id: usage error")
    t.eq(ctl("forget", "bad/id").returncode, 2, "forget of a malformed id: usage error")

    # ---- the next closed hour: 3 devices, (2 x 180 + 1800) / (3 x 3600)
    S.publish_script(port, beats(S.ts(day, 11, 5), ["spk-1"], 60), client_id="forget-2")
    S.wait_for(lambda: row(h, "hour", h10), 20, "hour 10's row", daemon=d)
    t.eq(row(h, "hour", h10), (20.0, 3), "hour 10: 3 devices, 20 %")
    t.eq(row(h, "hour", h9), (32.0, 5), "hour 9's row unchanged")
    accepted = len(script) + 1
    S.wait_for(lambda: h.query("SELECT count(*) FROM messages")[0][0] == accepted, 10,
               "the messages committed", daemon=d)
    t.eq(d.terminate(), 0, "a clean stop")

    # ---- forgotten while stopped: done at the next start
    p = ctl("forget", "fake-3")
    print(p.stdout_text + p.stderr_text)
    t.eq(p.returncode, 0, "forget while stopped exits 0")
    t.ok("next start" in p.stdout_text, "it says it is done at the next start", p.stdout_text)
    d = subscribed(h.start_daemon(cfg))
    t.ok("forgot undeclared device fake-3" in d.stderr_text(), "done at the start")
    t.eq(names(h), ["spk-1", "spk-2"], "none came back after the restart")
    t.eq(h.query("SELECT count(*) FROM messages")[0][0], accepted, "no message lost")
    t.eq(h.query("SELECT count(*) FROM forget_requests WHERE done_ms IS NULL")[0][0], 0,
         "every request done")

    # ---- the day closes: 2 devices; the fakes' hours 9 and 10 left the day:
    # spk 2 x 180 (h9) + 2 x 180 (h10) + 180 (h11) = 900 s / (2 x 86400)
    S.publish_script(port, beats(S.ts(day, 24, 5), ["spk-1"], 60), client_id="forget-3")
    S.wait_for(lambda: row(h, "day", S.ts(day)), 20, "the day's row", daemon=d)
    t.eq(row(h, "day", S.ts(day)), (0.52, 2), "the day: 2 devices, 0.52 %")
    t.eq(row(h, "hour", h11)[1], 2, "hour 11: 2 devices")

    # ---- one speaks again: a new undeclared device
    S.publish_script(port, beats(S.ts(day, 24, 6), ["fake-1"], 60), client_id="forget-4")
    S.wait_for(lambda: "fake-1" in names(h), 10, "fake-1 back as a new device", daemon=d)
    r = h.query("SELECT id, declared FROM devices WHERE name = 'fake-1'")[0]
    # rows 1 to 5 were spk-1, spk-2 and the fakes: no forgotten id is given again
    t.ok(r[0] > 5 and r[1] == 0, "a new undeclared row, with a new id", r)
    p = ctl("--json", "forget", "fake-1")
    t.eq((p.returncode, json.loads(p.stdout_text or "{}").get("devices")),
         (0, [{"device": "fake-1", "result": "forgotten"}]), "forgotten again, --json")

    # ---- --undeclared DAYS: every undeclared device silent that long
    p = ctl("forget", "--undeclared", "1")
    t.ok(p.returncode == 0 and "nothing to forget" in p.stdout_text,
         "none silent for a day: nothing to forget", p.stdout_text + p.stderr_text)
    S.publish_script(port, beats(S.ts(day, 24, 7), ["fake-8", "fake-9"], 60),
                     client_id="forget-5")
    S.wait_for(lambda: "fake-9" in names(h), 10, "fake-8, fake-9 known", daemon=d)
    time.sleep(1.1)  # heard more than 0 s ago
    p = ctl("forget", "--undeclared", "0")
    print(p.stdout_text + p.stderr_text)
    t.ok(p.returncode == 0 and p.stdout_text.count(" forgotten: ") == 2,
         "forget --undeclared 0: both", p.stdout_text + p.stderr_text)
    t.eq(names(h), ["spk-1", "spk-2"], "only the declared devices are left")
    t.eq(ctl("forget", "--undeclared", "x").returncode, 2, "--undeclared x: usage error")
    t.eq(ctl("forget", "--undeclared", "1", "fake-8").returncode, 2,
         "--undeclared with ids: usage error")
    t.eq(d.terminate(), 0, "a clean stop")


harness.run(main)
