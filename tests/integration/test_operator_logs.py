#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_operator_logs: what the log says to an operator (issue 13, findings 6, 10).

1. A wrong base_url (the server answers 404 to everything): batches are
   retried many times, but the 404 is logged at most a few times (the
   plugin's warnings are limited to one a minute, as the uplink's own line).
2. A receiver that refuses connections: the error text is not doubled
   ("Couldn't connect to server" once per line).
3. An undeclared device (cam-t2-02, a typo of the declared cam-t2-2) is
   logged once, naming the nearest declared id, however often it reports.
4. Start and stop are logged at notice level.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

DAY = "2026-11-20"
TOKEN = "logs-Token.42"
DEVICES = [("loa-a", "speaker", "thon-a"), ("cam-t2-2", "camera", "thon-a")]


def hour_step(hh):
    t = S.ts(DAY, hh)
    return [(t, S.topic("thon-a", "speaker", "loa-a", "heartbeat"), {"interval_s": 3600}),
            (t + 60, S.topic("thon-a", "camera", "cam-t2-02", "heartbeat"), {"interval_s": 3600}),
            (t + 1800, S.topic("thon-a", "speaker", "loa-a", "heartbeat"), {"interval_s": 3600})]


def main(h, t):
    port = h.start_broker()
    rx = S.start_receiver(TOKEN)
    tok = S.token_file(h, TOKEN)
    rx.answer(404, n=None, body={"error": "no such path"})
    cfg = S.write_config(h, ["thon-a"], DEVICES, uplinks=[S.http_uplink(rx, tok)],
                         sync={"interval_s": 1, "grace_s": 60}, plugin_dir_=S.plugin_dir())
    run = S.HourlyRun(h, port, rx, cfg, hour_step, "logs", gap=0.3)
    d = run.start()
    run.step(6)
    S.wait_for(lambda: len(rx.requests) >= 8, 60, "eight attempts answered 404", daemon=d)
    time.sleep(1)
    log = d.stderr_text()
    n404 = [ln for ln in log.splitlines() if "404" in ln]
    print("\n".join(n404))
    t.ok(len(n404) <= 3, f"{len(rx.requests)} attempts answered 404, {len(n404)} log lines say so",
         "\n".join(n404))
    und = [ln for ln in log.splitlines() if "cam-t2-02" in ln and "not in the inventory" in ln]
    t.eq(len(und), 1, "the undeclared device is logged once (it reported 6 times)")
    t.ok(und and "nearest declared id is cam-t2-2" in und[0], "with the nearest declared id",
         "\n".join(und))
    t.ok(any(ln.startswith("notice: ntm-gatewayd") and " started: " in ln
             for ln in log.splitlines()), "start at notice level")
    t.eq(d.terminate(), 0, "clean stop")
    log = d.stderr_text()
    t.ok(any(ln.startswith("notice: stopped:") for ln in log.splitlines()), "stop at notice level")

    # ---- connection refused: the reason once per line
    rx.clear_script()
    rx.go_away()
    d = run.start()
    run.step(2)
    S.wait_for(lambda: "Couldn't connect to server" in d.stderr_text(), 30,
               "the refused connection in the log", daemon=d)
    lines = [ln for ln in d.stderr_text().splitlines() if "Couldn't connect" in ln]
    print("\n".join(lines))
    t.ok(lines and all(ln.count("Couldn't connect to server") == 1 for ln in lines),
         "curl's error text is not doubled", "\n".join(lines))
    t.eq(d.terminate(), 0, "clean stop")
    rx.stop()


harness.run(main)
