#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_mappings.py: MQTT mappings against a real mosquitto (issue 11).

The shipped Frigate profile (config/mappings/frigate.yaml, included with
`include: frigate`) is fed the payloads of tests/fixtures/frigate/ (Frigate's
documented shapes, see the README there), next to a commune-defined mapping of
a made-up vendor format:

    acme/<village>/<device>/status  {"kind": "beat", "stat": {"up_min": N}}
      -> heartbeat of a speaker not in the inventory (kind: speaker, {village}),
         uptime_s = up_min x 60 (scale), only when kind is "beat" (when)

Checked, exactly: the rows stored (device, channel, fields), what is counted as
unmapped (not rejected), each rejection with its reason and the mapping's name
in the quarantine (a map miss, a device not in the inventory, a missing path,
a payload that is not JSON, a deep payload, a too large one), the good
messages all kept in the middle of a flood of unmapped ones, and that SIGHUP
applies a changed mapping (the subscriptions follow: a new topic is heard).
"""

import json
import os
import subprocess
import time

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "fixtures", "frigate")
PROFILES = os.path.join(HERE, "..", "..", "config", "mappings")

ACME = """  - name: acme-speaker
    topic: "acme/{village}/{device}/status"
    kind: speaker
    channel: heartbeat
    when: {kind: beat}
    fields:
      uptime_s: {from: "stat.up_min", scale: 60}
"""


def fixture(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()


def event(typ, cam, start):
    ev = json.loads(fixture(f"events.{typ}.json"))
    for side in ("before", "after"):
        ev[side]["camera"] = cam
        ev[side]["start_time"] = start
    return json.dumps(ev).encode()


def pub(h, topic, payload, *extra):
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(h.port), "-q", "1",
                    "-t", topic, "-s", *extra], input=payload, check=True, timeout=30)


def config(h, extra_mapping=""):
    cfg = h.write_config(["va", "vb"], [("cam-1", "camera", "va"), ("cam-2", "camera", "vb")],
                         extra=f"mapping_dir: {os.path.abspath(PROFILES)}\n"
                               "mappings:\n  - include: frigate\n" + ACME + extra_mapping)
    return cfg


def rows(h):
    return h.query(
        "SELECT d.name, m.channel, m.ts, m.flags, m.online, m.uptime_s, m.event, m.recording "
        "FROM messages m JOIN devices d ON d.id = m.device ORDER BY m.id")


def main(h, t):
    h.start_broker()
    cfg = config(h)
    d = h.start_daemon(cfg)
    now = int(time.time())

    good = [
        ("frigate/cam-1/status/detect", fixture("status__detect.online.txt")),
        ("frigate/cam-1/recordings/state", fixture("recordings__state.on.txt")),
        ("frigate/events", event("new", "cam-1", now - 5 + 0.475377)),
        ("frigate/cam-2/status/detect", fixture("status__detect.offline.txt")),
        ("frigate/cam-2/recordings/state", fixture("recordings__state.off.txt")),
        ("acme/vb/spk-7/status", b'{"kind": "beat", "stat": {"up_min": 90}}'),
    ]
    unmapped = [
        ("frigate/events", event("update", "cam-1", now - 5)),
        ("frigate/events", event("end", "cam-1", now - 5)),
        ("acme/vb/spk-7/status", b'{"kind": "other"}'),
    ]
    deep = b'{"kind": "beat", "stat": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    bad = [  # topic, payload, reason, mapping, words in the detail
        ("frigate/cam-1/status/detect", b"starting", "bad_value", "frigate-detect",
         "field 'online': 'starting' is not in its map"),
        ("frigate/events", event("new", "cam-9", now - 4), "bad_topic", "frigate-events",
         "device 'cam-9' is not in the inventory"),
        ("acme/vb/spk-7/status", b'{"kind": "beat"}', "missing_field", "acme-speaker",
         "path 'stat.up_min' is not in the payload"),
        ("frigate/events", b"not json at all", "not_json", "frigate-events",
         "the payload is not JSON"),
        ("acme/vb/spk-7/status", deep, "not_json", "acme-speaker", "the payload is not JSON"),
        ("acme/vb/spk-8/status", b'{"kind": "beat", "stat": {"up_min": [' +
         b"1," * 20000 + b'1]}}', "too_large", "acme-speaker", "more than 16384"),
    ]
    # the good ones in the middle of a flood of unmapped ones
    flood = [b'{"kind": "noise", "n": %d}' % i for i in range(3000)]
    p = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(h.port), "-q", "1",
                          "-t", "acme/va/spk-flood/status", "-l"], stdin=subprocess.PIPE)
    p.stdin.write(b"\n".join(flood[:1500]) + b"\n")
    p.stdin.flush()
    for topic, payload in good:
        pub(h, topic, payload)
    p.stdin.write(b"\n".join(flood[1500:]) + b"\n")
    p.stdin.close()
    p.wait(60)
    for topic, payload in unmapped:
        pub(h, topic, payload)
    for topic, payload, *_ in bad:
        pub(h, topic, payload)
    d.wait_counts(accepted=len(good), rejected=len(bad), timeout=30)
    time.sleep(0.5)

    got = rows(h)
    CH = {"state": 0, "heartbeat": 1, "event": 2, "stats": 3}
    want = [
        ("cam-1", CH["state"], 1, None, None),
        ("cam-1", CH["stats"], None, None, 1),
        ("cam-1", CH["event"], None, None, None),
        ("cam-2", CH["state"], 0, None, None),
        ("cam-2", CH["stats"], None, None, 0),
        ("spk-7", CH["heartbeat"], None, 5400, None),
    ]
    t.eq([(r[0], r[1], r[4], r[5], r[7]) for r in got], want,
         "the rows stored: device, channel, online, uptime_s, recording")
    ev = [r for r in got if r[1] == CH["event"]]
    t.eq([r[2] for r in ev], [now - 5], "the Frigate event's ts is after.start_time (floored)")
    t.ok(all(r[3] & 1 == 0 for r in got),
         "no mapped message counted as clock_fallback (a mapping without ts uses the receive "
         "time by rule)")
    t.eq(h.query("SELECT kind, village FROM devices WHERE name = 'spk-7'"), [("speaker", "vb")],
         "an undeclared device takes the mapping's kind and the topic's {village}")

    q = h.query("SELECT topic, reason, detail FROM quarantine ORDER BY id")
    t.eq(len(q), len(bad), "one quarantine entry per rejected message, none for unmapped ones")
    for (topic, _p, reason, mapping, words), got_q in zip(bad, q):
        t.eq(got_q[1], reason, f"{mapping}: {words[:40]}: the reason")
        t.ok(f"mapping '{mapping}'" in got_q[2] and words in got_q[2],
             f"the quarantine detail names the mapping and says what: {got_q[2][:160]}")
    print("quarantine:\n  " + "\n  ".join(f"{r[1]}: {r[0]}: {r[2][:150]}" for r in q))

    # the live state's "mappings" section: who is heard through which mapping, the counts
    live = None
    end = time.monotonic() + 5
    while time.monotonic() < end:
        try:
            with open(h.db_path + ".state.json") as f:
                live = json.load(f)["sources"]["mappings"]
            if live.get("(mappings)", {}).get("frigate-events", {}).get("unmapped") == 2:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    t.ok(live is not None, "the live state has a mappings section")
    if live is not None:
        t.eq(live.get("spk-7", {}).get("mapping"), "acme-speaker",
             "live state: spk-7 is heard through acme-speaker")
        counts = {k: (v["mapped"], v["unmapped"], v["rejected"])
                  for k, v in live.get("(mappings)", {}).items()}
        t.eq(counts, {"frigate-detect": (2, 0, 1), "frigate-recording": (2, 0, 0),
                      "frigate-events": (2, 2, 1), "acme-speaker": (1, 3001, 3)},
             "live state: per mapping (mapped = handed to the gate, which may still reject: "
             "cam-9; unmapped; rejected by the mapping)")

    # SIGHUP: a changed mapping set applies at once; the new topic is subscribed
    extra = """  - name: acme-state
    topic: "acme2/{device}/online"
    channel: state
    fields:
      online: {from: payload, map: {"1": true, "0": false}}
"""
    text = open(config(h, extra)).read()
    with open(cfg, "w") as f:
        f.write(text)
    d.signal(__import__("signal").SIGHUP)
    time.sleep(1.0)
    t.ok("mappings" in d.stderr_text() and "applied" in d.stderr_text(),
         "SIGHUP: the mappings change is applied live")
    pub(h, "acme2/cam-2/online", b"1")
    d.wait_counts(accepted=len(good) + 1, timeout=20)
    last = rows(h)[-1]
    t.eq((last[0], last[1], last[4]), ("cam-2", CH["state"], 1),
         "after SIGHUP the new mapping's topic is heard (subscribed without a restart)")
    d.terminate()
    t.eq(d.returncode, 0, "the daemon exits 0")


harness.run(main)
