# SPDX-License-Identifier: GPL-3.0-or-later
"""test_ingest_counts: 3 villages, 100 declared devices, 10,000 valid and 1,000
invalid messages with QoS 1. Every valid message is in `messages` under its
device, every invalid one is counted and quarantined under the reason the
simulator expects, and no raw MAC reaches the database files or the log."""
import os
import re
import signal
import time

from harness import REASONS, run

VILLAGES = ["thon-1", "thon-2", "thon-3"]
N_DEVICES = 100
N_VALID = 10000
N_INVALID = 1000


def mac_forms(mac):
    """Every textual form a MAC could take: aa:bb.., AA:BB.., aa-bb.., AA-BB.., aabb.., AABB.."""
    lo = mac.lower()
    forms = set()
    for s in (lo, lo.upper()):
        forms.add(s)
        forms.add(s.replace(":", "-"))
        forms.add(s.replace(":", ""))
    return forms


def main(h, t):
    h.start_broker()
    devices = h.sim_devices(VILLAGES, N_DEVICES)
    t.require(len(devices) == N_DEVICES, f"the simulator gives {N_DEVICES} devices")
    cfg = h.write_config(VILLAGES, devices)
    d = h.start_daemon(cfg)
    t.ok(True, "ntm-gatewayd is READY")

    p, exp = h.sim("--villages", ",".join(VILLAGES), "--devices", N_DEVICES,
                   "--count", N_VALID, "--invalid", N_INVALID, "--qos", 1, "--seed", 42)
    t.eq(p.returncode, 0, "ntm-sim exit code")
    t.eq(exp["valid_total"], N_VALID, "valid messages sent")
    t.eq(exp["invalid_total"], N_INVALID, "invalid messages sent")
    t.eq(exp["acked"], N_VALID + N_INVALID, "every message acknowledged by the broker")
    print(f"(simulator: {p.elapsed:.2f} s)")

    st = d.wait_counts(N_VALID, N_INVALID, timeout=120)
    t.ok(True, f"STATUS reached: {st['text']}")
    rc = d.terminate()
    t.eq(rc, 0, "exit code after SIGTERM")
    t.ok(d.stopping, "STOPPING=1 was sent")

    # messages per device
    rows = h.query("SELECT d.name, COUNT(*) FROM messages m JOIN devices d ON d.id = m.device "
                   "GROUP BY d.name")
    got = {name: n for name, n in rows}
    t.eq(got, exp["valid"], "messages per device equal the simulator's counts")
    total = h.query("SELECT COUNT(*) FROM messages")[0][0]
    t.eq(total, N_VALID, "no other row in messages (no invalid message accepted)")
    orphans = h.query("SELECT COUNT(*) FROM messages WHERE device NOT IN (SELECT id FROM devices)")
    t.eq(orphans[0][0], 0, "every message belongs to a device")

    # devices: declared ones, nothing made up from rejected topics
    dev_rows = h.query("SELECT name, village, kind, declared FROM devices")
    want_devs = {i: (v, k) for i, k, v in devices}
    got_devs = {n: (v, k) for n, v, k, _ in dev_rows}
    t.eq(got_devs, want_devs, "devices table: the 100 declared devices with village and kind")
    t.eq(sorted(set(r[3] for r in dev_rows)), [1], "every device is marked declared")
    per_dev = dict(h.query("SELECT name, messages FROM devices"))
    t.eq({k: v for k, v in per_dev.items() if v}, exp["valid"],
         "devices.messages equals the simulator's counts")

    # rejections: counters and quarantine per reason
    want_rej = {r: n for r, n in exp["invalid"].items() if n}
    counters = dict(h.query("SELECT name, value FROM counters"))
    got_rej = {k[len("rejected."):]: v for k, v in counters.items()
               if k.startswith("rejected.") and v}
    t.eq(got_rej, want_rej, "counters rejected.<reason> equal the expected per reason")
    t.eq(counters.get("accepted"), N_VALID, "counter accepted")
    t.eq(counters.get("clock_fallback", 0), 0, "counter clock_fallback (every ts is now)")
    lo, hi = h.query("SELECT MIN(ts), MAX(ts) FROM messages")[0]
    t.ok(exp["first_ts"] <= lo <= hi <= exp["last_ts"], "messages keep the devices' ts",
         f"{lo}..{hi} not within {exp['first_ts']}..{exp['last_ts']}")
    q = h.query("SELECT reason, COUNT(*) FROM quarantine GROUP BY reason")
    got_q = {}
    for reason, n in q:
        if isinstance(reason, int):  # stored as the enum's integer (1 = bad_topic)
            reason = REASONS[reason - 1] if 0 < reason <= len(REASONS) else str(reason)
        got_q[reason] = got_q.get(reason, 0) + n
    t.eq(got_q, want_rej, "quarantine rows per reason equal the expected per reason")
    big = h.query("SELECT MAX(size) FROM quarantine")[0][0]
    t.ok(big is not None and big > 16384, "the too_large message's size is kept",
         f"max size {big}")

    # no raw MAC anywhere: database files and the daemon's log
    forms = set()
    for mac in exp["mac_pool"]:
        forms |= mac_forms(mac)
    files = h.db_files()
    found = []
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        low = data.lower()
        for form in forms:
            if form.lower().encode() in low:
                found.append((os.path.basename(path), form))
    t.eq(found, [], f"no raw MAC text in {', '.join(os.path.basename(p) for p in files)}")
    log = d.stderr_text()
    t.eq([f for f in forms if f.lower() in log.lower()], [], "no raw MAC in the daemon's log")
    rej_lines = [l for l in log.splitlines() if "reject" in l.lower() or "REASON=" in l]
    t.ok(len(rej_lines) < 100, "rejections are logged rate-limited, not one line per message",
         f"{len(rej_lines)} lines")


run(main)
