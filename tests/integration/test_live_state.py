#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_live_state: the live state file readers find (issue 13, finding 3).

The daemon writes <storage.path>.state.json (no RUNTIME_DIRECTORY) about once a
second: schema 1, its pid, the broker connected; an uplink whose receiver went
away turns "failing" with its last error, the batches waiting and the next try;
the broker stopped turns "down" with an error; the receiver back turns the
uplink "ok". With RUNTIME_DIRECTORY set the file is there instead, and a clean
stop removes it.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

DAY = "2026-11-20"
TOKEN = "live-Token.42"
VILLAGES = ["thon-a"]
DEVICES = [("spk-a", "speaker", "thon-a")]


def hour_step(hh):
    t = S.ts(DAY, hh)
    return [(t, S.topic("thon-a", "speaker", "spk-a", "heartbeat"), {"interval_s": 3600}),
            (t + 1800, S.topic("thon-a", "speaker", "spk-a", "heartbeat"), {"interval_s": 3600})]


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main(h, t):
    port = h.start_broker()
    rx = S.start_receiver(TOKEN)
    tok = S.token_file(h, TOKEN)
    cfg = S.write_config(h, VILLAGES, DEVICES, uplinks=[S.http_uplink(rx, tok)],
                         sync={"interval_s": 1, "grace_s": 60}, plugin_dir_=S.plugin_dir())
    os.environ.pop("RUNTIME_DIRECTORY", None)
    path = h.db_path + ".state.json"
    run = S.HourlyRun(h, port, rx, cfg, hour_step, "live")
    d = run.start()
    st = S.wait_for(lambda: (s := read(path)) and s["broker"]["state"] == "connected" and s,
                    20, "the live state with the broker connected", daemon=d)
    t.eq(st["schema"], 1, "schema version")
    t.eq(st["pid"], d.proc.pid, "the daemon's pid")
    t.eq(st["gateway_id"], "gw-test-01", "gateway id")
    t.ok(st["ready"], "ready")
    t.eq([u["name"] for u in st["uplinks"]], ["provincial-http"], "one uplink, by name")
    t.eq(st["uplinks"][0]["plugin"], "provincial-http", "its plugin")
    t.eq(st["uplinks"][0]["state"], "idle", "nothing sent yet: idle")
    for k in ("rate_per_s", "accepted_total", "rejected_total"):
        t.ok(k in st["ingest"], f"ingest.{k}")
    t.eq(st["sources"], {}, "no source sections yet")

    rx.go_away()
    run.step(3)
    st = S.wait_for(lambda: (s := read(path)) and s["uplinks"][0]["state"] == "failing" and s,
                    30, "the uplink failing in the live state", daemon=d)
    u = st["uplinks"][0]
    t.ok(u["waiting_batches"] >= 1, "batches waiting", str(u))
    t.ok(u["failing_since_ms"] and u["last_error"], "failing since and the error", str(u))
    t.ok(u["next_try_ms"] and u["next_try_ms"] >= st["written_ms"] - 1000, "a next try", str(u))

    rx.come_back()
    st = S.wait_for(lambda: (s := read(path)) and s["uplinks"][0]["state"] == "ok"
                    and s["uplinks"][0]["waiting_batches"] == 0 and s,
                    90, "the uplink ok again, nothing waiting", daemon=d)
    t.ok(st["uplinks"][0]["last_ok_ms"] > 0, "last delivery time")
    t.eq(st["uplinks"][0]["last_error"], None, "no error once delivered")

    h.broker.stop()
    st = S.wait_for(lambda: (s := read(path)) and s["broker"]["state"] == "down" and s,
                    20, "the broker down in the live state", daemon=d)
    t.ok(st["broker"]["last_error"], "the broker's error", str(st["broker"]))
    t.eq(d.terminate(), 0, "clean stop")
    t.ok(not os.path.exists(path), "a clean stop removes the file")

    rt = os.path.join(h.tmp, "run")
    os.mkdir(rt)
    os.environ["RUNTIME_DIRECTORY"] = rt
    d2 = h.start_daemon(cfg, ready=False)
    st = S.wait_for(lambda: read(os.path.join(rt, "state.json")), 10,
                    "the live state in RUNTIME_DIRECTORY", daemon=d2)
    t.eq(st["pid"], d2.proc.pid, "RUNTIME_DIRECTORY/state.json written by the second run")
    t.ok(not os.path.exists(path), "nothing by the buffer then")
    t.eq(d2.terminate(), 0, "clean stop")
    os.environ.pop("RUNTIME_DIRECTORY", None)
    rx.stop()


harness.run(main)
