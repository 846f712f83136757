#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_sync_e2e: a scripted commune day, through the real broker, daemon,
provincial-http plugin and a real receiver (tests/tools/receiver.py).

The day is 2026-11-20 (local, +07:00), replayed at speed: every message carries
an explicit ts, the watermark follows the messages (provincial-sync.md,
Windows), sync.interval_s is 1 and grace_s 60. A last heartbeat at
2026-11-21 00:05 closes hour 23 and the day. The indicators the receiver gets
are compared with values computed BY HAND from the script below (each literal
says where it comes from), for every village, kind, hour and the day; the
alerts with their ids; every body is validated against the schema by the
receiver; no row arrives twice.
"""

import os
import json
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

DAY = "2026-11-20"
NEXT = "2026-11-21"
TOKEN = "e2e-Token_0123456789"


def T(hh, mm=0, ss=0):
    return S.ts(DAY, hh, mm, ss)


VILLAGES = ["thon-dong", "thon-tay", "thon-bac"]
DEVICES = [
    ("spk-d1", "speaker", "thon-dong"),
    ("cam-d1", "camera", "thon-dong"),
    ("ap-d1", "wifi", "thon-dong"),
    ("ap-d2", "wifi", "thon-dong"),
    ("spk-t1", "speaker", "thon-tay"),
    ("spk-t2", "speaker", "thon-tay"),   # declared, never seen: counts 0 in uptime
    ("cam-t1", "camera", "thon-tay"),
    ("ap-b1", "wifi", "thon-bac"),       # heartbeats every 120 s with interval_s 60; lapses
    ("cam-b1", "camera", "thon-bac"),    # an explicit state offline at 15:20
]
WHERE = {d: (v, k) for d, k, v in DEVICES}
# these send a heartbeat with interval_s 3600 at every full hour: each one keeps
# the device online for 3 h, so they are online the whole day from 00:00:00
HOURLY = ["spk-d1", "cam-d1", "ap-d1", "ap-d2", "spk-t1", "cam-t1", "cam-b1"]

MAC = {c: f"a4:5e:60:00:00:0{i}" for i, c in enumerate("ABCDEFG", 1)}


def msg(t, dev, channel, **payload):
    v, k = WHERE[dev]
    return (t, S.topic(v, k, dev, channel), payload)


def script():
    """The day, in ts order (stable: at equal ts, the order written here)."""
    m = []
    for h in range(24):
        for dev in HOURLY:
            m.append(msg(T(h), dev, "heartbeat", interval_s=3600, uptime_s=h * 3600))
    # ap-b1: a heartbeat every 120 s from 00:00:00 to 23:58:00 (online over [t, t+180)),
    # except between 09:58:00 and 10:30:00: online until 10:01:00, then offline, back at 10:30
    for k in range(720):
        t = T(0) + 120 * k
        if T(9, 58) < t < T(10, 30):
            continue
        m.append(msg(t, "ap-b1", "heartbeat", interval_s=60))
    ev = [
        # speakers, thon-dong
        msg(T(6, 30), "spk-d1", "event", type="broadcast", start=T(6, 15), duration_s=900,
            result="played", priority="normal", source="commune", program="ban-tin-sang"),
        msg(T(6, 45), "spk-d1", "event", type="broadcast", start=T(6, 40), duration_s=300,
            result="interrupted", source="province"),
        msg(T(7, 10), "spk-d1", "event", type="broadcast", start=T(7, 10), duration_s=0,
            result="failed"),
        msg(T(11, 5), "spk-d1", "event", type="broadcast", start=T(10, 55), duration_s=600,
            result="played", priority="emergency", source="national"),
        msg(T(17, 30), "spk-d1", "event", type="fault", fault="amplifier"),
        msg(T(17, 40), "spk-d1", "event", type="broadcast", start=T(17, 40), duration_s=0,
            result="failed", priority="emergency", source="province"),
        # speakers, thon-tay
        msg(T(6, 20), "spk-t1", "event", type="broadcast", start=T(6, 0), duration_s=1200,
            result="played", source="province"),
        msg(T(6, 50), "spk-t1", "event", type="broadcast", start=T(6, 30), duration_s=1200,
            result="played", priority="priority", source="commune"),
        msg(T(18, 10), "spk-t1", "event", type="broadcast", start=T(18, 5), duration_s=270,
            result="interrupted", priority="emergency", source="national"),
        msg(T(19, 15), "spk-t1", "event", type="fault", fault="power"),
        # cameras, thon-dong
        msg(T(3, 30), "cam-d1", "event", type="video_loss", duration_s=12),
        msg(T(8, 0, 30), "cam-d1", "stats", recording=True, storage_free_pct=63),
        msg(T(8, 5), "cam-d1", "event", type="motion"),
        msg(T(8, 20), "cam-d1", "event", type="motion"),
        msg(T(8, 30), "cam-d1", "stats", recording=True, storage_free_pct=62),
        msg(T(8, 47), "cam-d1", "event", type="motion", duration_s=20),
        msg(T(8, 59), "cam-d1", "stats", recording=False, storage_free_pct=62),
        msg(T(14, 10), "cam-d1", "event", type="motion"),
        msg(T(14, 30), "cam-d1", "stats", recording=True),
        msg(T(22, 15), "cam-d1", "event", type="tamper"),
        # cameras, thon-tay
        msg(T(8, 10), "cam-t1", "event", type="motion"),
        msg(T(9, 10), "cam-t1", "event", type="motion"),
        msg(T(12, 0, 30), "cam-t1", "event", type="tamper"),
        msg(T(12, 5), "cam-t1", "stats", recording=False, storage_free_pct=40),
        # camera, thon-bac: recording at 15:10, explicitly offline 15:20 until its 16:00 heartbeat
        msg(T(15, 10), "cam-b1", "stats", recording=True, storage_free_pct=80),
        msg(T(15, 20), "cam-b1", "state", online=False),
        # wifi, thon-dong: client C is on both APs at 09:10, F on both at 19:20
        msg(T(9, 10), "ap-d1", "stats", clients=3, new_sessions=3, rx_bytes=1500000,
            tx_bytes=500000, client_macs=[MAC["A"], MAC["B"], MAC["C"]]),
        msg(T(9, 10), "ap-d2", "stats", clients=2, new_sessions=2, rx_bytes=2000000,
            tx_bytes=1000000, client_macs=[MAC["C"], MAC["D"]]),
        msg(T(9, 40), "ap-d1", "stats", clients=4, new_sessions=1, rx_bytes=250000,
            tx_bytes=250000, client_macs=[MAC["A"], MAC["B"], MAC["C"], MAC["E"]]),
        msg(T(19, 20), "ap-d1", "stats", clients=2, new_sessions=2, rx_bytes=10000000,
            tx_bytes=5000000, client_macs=[MAC["A"], MAC["F"]]),
        msg(T(19, 20), "ap-d2", "stats", clients=1, new_sessions=1, rx_bytes=123456,
            tx_bytes=654321, client_macs=[MAC["F"]]),
        # wifi, thon-bac
        msg(T(10, 45), "ap-b1", "stats", clients=1, new_sessions=1, rx_bytes=1000000,
            tx_bytes=0, client_macs=[MAC["G"]]),
        msg(T(20, 30), "ap-b1", "stats", clients=0, new_sessions=0, rx_bytes=0, tx_bytes=0,
            client_macs=[]),
    ]
    m += ev
    m.sort(key=lambda x: x[0])  # stable
    return m


# ---------------------------------------------------------------------- expected, by hand

NAMES = {
    "speaker": ["uptime_pct", "broadcasts", "broadcasts_played", "broadcasts_failed",
                "broadcast_minutes", "emergency_broadcasts", "faults"],
    "camera": ["uptime_pct", "motion_events", "tamper_events", "video_loss_events"],
    # + recording_pct, only in windows with a camera stats report
    "wifi": ["uptime_pct", "unique_clients", "sessions", "peak_clients", "traffic_mb"],
}
UNITS = {"uptime_pct": "%", "recording_pct": "%", "broadcast_minutes": "min",
         "traffic_mb": "MB"}  # every other name: count

# (village, kind): devices of that kind in that village (all are declared)
GROUPS = {
    ("thon-dong", "speaker"): 1, ("thon-dong", "camera"): 1, ("thon-dong", "wifi"): 2,
    ("thon-tay", "speaker"): 2, ("thon-tay", "camera"): 1,
    ("thon-bac", "wifi"): 1, ("thon-bac", "camera"): 1,
}

# uptime_pct of an hour without anything special: every seen device is online the
# whole day; thon-tay's speakers are spk-t1 (100) and spk-t2, declared and never
# seen (0): mean 50
UPTIME = {g: 100.0 for g in GROUPS}
UPTIME[("thon-tay", "speaker")] = 50.0

# the hours that differ from all-zero counts and the default uptime
HOURS = {
    ("thon-dong", "speaker"): {
        # 06:30 played (900 s) + 06:45 interrupted (300 s): 2 broadcasts, 1 played,
        # (900 + 300) / 60 = 20 min
        6: {"broadcasts": 2, "broadcasts_played": 1, "broadcast_minutes": 20.0},
        # 07:10 failed
        7: {"broadcasts": 1, "broadcasts_failed": 1},
        # emergency played 10:55 + 600 s, ends and is published 11:05: hour 11, 10 min
        11: {"broadcasts": 1, "broadcasts_played": 1, "broadcast_minutes": 10.0,
             "emergency_broadcasts": 1},
        # 17:30 fault amplifier; 17:40 emergency failed (0 s)
        17: {"broadcasts": 1, "broadcasts_failed": 1, "emergency_broadcasts": 1, "faults": 1},
    },
    ("thon-tay", "speaker"): {
        # 06:20 played 1200 s + 06:50 played 1200 s: 40 min
        6: {"broadcasts": 2, "broadcasts_played": 2, "broadcast_minutes": 40.0},
        # 18:10 emergency interrupted after 270 s: 4.5 min, neither played nor failed
        18: {"broadcasts": 1, "broadcast_minutes": 4.5, "emergency_broadcasts": 1},
        # 19:15 fault power
        19: {"faults": 1},
    },
    ("thon-dong", "camera"): {
        3: {"video_loss_events": 1},                              # 03:30
        # motion 08:05, 08:20, 08:47; stats 08:00:30 true, 08:30 true, 08:59 false: 2/3
        8: {"motion_events": 3, "recording_pct": 66.67},
        14: {"motion_events": 1, "recording_pct": 100.0},         # 14:10; stats 14:30 true
        22: {"tamper_events": 1},                                 # 22:15
    },
    ("thon-tay", "camera"): {
        8: {"motion_events": 1},                                  # 08:10
        9: {"motion_events": 1},                                  # 09:10
        12: {"tamper_events": 1, "recording_pct": 0.0},           # 12:00:30; stats 12:05 false
    },
    ("thon-bac", "camera"): {
        # online 15:00-15:20 (offline from the state at 15:20 to the 16:00 heartbeat):
        # 20 / 60 = 33.33 %; stats 15:10 true
        15: {"uptime_pct": 33.33, "recording_pct": 100.0},
    },
    ("thon-dong", "wifi"): {
        # ap-d1 {A,B,C} + ap-d2 {C,D} at 09:10, ap-d1 {A,B,C,E} at 09:40: {A,B,C,D,E} = 5;
        # sessions 3 + 2 + 1 = 6; peak max(3, 2, 4) = 4;
        # traffic (1.5M + 0.5M) + (2M + 1M) + (0.25M + 0.25M) = 5.5M bytes = 5.5 MB
        9: {"unique_clients": 5, "sessions": 6, "peak_clients": 4, "traffic_mb": 5.5},
        # ap-d1 {A,F} + ap-d2 {F}: 2; sessions 2 + 1 = 3; peak 2;
        # (10M + 5M) + (123456 + 654321) = 15777777 bytes = 15.78 MB
        19: {"unique_clients": 2, "sessions": 3, "peak_clients": 2, "traffic_mb": 15.78},
    },
    ("thon-bac", "wifi"): {
        # ap-b1: last heartbeat 09:58 -> online until 10:01; back at 10:30:
        # online 10:00-10:01 and 10:30-11:00 = 31 min: 31/60 = 51.67 %;
        # stats 10:45: 1 client {G}, 1 session, 1M + 0 bytes = 1 MB
        10: {"uptime_pct": 51.67, "unique_clients": 1, "sessions": 1, "peak_clients": 1,
             "traffic_mb": 1.0},
        # the 20:30 report is all zero: the counts stay 0
    },
}

DAYROWS = {
    # broadcasts 06:30, 06:45, 07:10, 11:05, 17:40 = 5; played 06:30, 11:05 = 2;
    # failed 07:10, 17:40 = 2; minutes 15 + 5 + 10 = 30; emergency 11:05, 17:40 = 2
    ("thon-dong", "speaker"): {"uptime_pct": 100.0, "broadcasts": 5, "broadcasts_played": 2,
                               "broadcasts_failed": 2, "broadcast_minutes": 30.0,
                               "emergency_broadcasts": 2, "faults": 1},
    # 06:20, 06:50, 18:10 = 3; played 2; minutes 20 + 20 + 4.5 = 44.5; emergency 1;
    # fault 19:15; uptime (100 + 0) / 2
    ("thon-tay", "speaker"): {"uptime_pct": 50.0, "broadcasts": 3, "broadcasts_played": 2,
                              "broadcasts_failed": 0, "broadcast_minutes": 44.5,
                              "emergency_broadcasts": 1, "faults": 1},
    # motion 3 + 1 = 4; tamper 22:15; video_loss 03:30; reports true, true, false, true: 3/4
    ("thon-dong", "camera"): {"uptime_pct": 100.0, "motion_events": 4, "tamper_events": 1,
                              "video_loss_events": 1, "recording_pct": 75.0},
    ("thon-tay", "camera"): {"uptime_pct": 100.0, "motion_events": 2, "tamper_events": 1,
                             "video_loss_events": 0, "recording_pct": 0.0},
    # offline 15:20-16:00 = 2400 s: (86400 - 2400) / 86400 = 97.2222 %
    ("thon-bac", "camera"): {"uptime_pct": 97.22, "motion_events": 0, "tamper_events": 0,
                             "video_loss_events": 0, "recording_pct": 100.0},
    # {A,B,C,D,E,F} = 6; sessions 6 + 3 = 9; peak 4; 5500000 + 15777777 bytes = 21.28 MB
    ("thon-dong", "wifi"): {"uptime_pct": 100.0, "unique_clients": 6, "sessions": 9,
                            "peak_clients": 4, "traffic_mb": 21.28},
    # offline 10:01-10:30 = 1740 s: (86400 - 1740) / 86400 = 97.986 %; the last heartbeat,
    # 23:58, keeps it online past 24:00
    ("thon-bac", "wifi"): {"uptime_pct": 97.99, "unique_clients": 1, "sessions": 1,
                           "peak_clients": 1, "traffic_mb": 1.0},
}

# alert ids are numbered in the order the alerts arise, which is ts order here
ALERTS = [
    (T(3, 30), "thon-dong", "camera", "cam-d1", "video_loss", None),
    (T(10, 1), "thon-bac", "wifi", "ap-b1", "offline", None),   # lapsed: 09:58 + 3 x 60 s
    (T(10, 30), "thon-bac", "wifi", "ap-b1", "online", None),
    (T(12, 0, 30), "thon-tay", "camera", "cam-t1", "tamper", None),
    (T(15, 20), "thon-bac", "camera", "cam-b1", "offline", None),  # explicit state
    (T(16), "thon-bac", "camera", "cam-b1", "online", None),
    (T(17, 30), "thon-dong", "speaker", "spk-d1", "fault", "amplifier"),
    (T(17, 40), "thon-dong", "speaker", "spk-d1", "emergency_not_played", None),
    (T(18, 10), "thon-tay", "speaker", "spk-t1", "emergency_not_played", None),
    (T(19, 15), "thon-tay", "speaker", "spk-t1", "fault", "power"),
    (T(22, 15), "thon-dong", "camera", "cam-d1", "tamper", None),
    # ap-b1's last heartbeat 23:58:00 + 180 s: it lapses at 2026-11-21 00:01:00, which
    # the closing heartbeat (00:05) moves the watermark past
    (S.ts(NEXT, 0, 1), "thon-bac", "wifi", "ap-b1", "offline", None),
]


def expected_rows():
    """{(village, kind, period, start iso, name): (value, unit, devices)}"""
    out = {}
    for (v, k), ndev in GROUPS.items():
        for h in range(24):
            special = HOURS.get((v, k), {}).get(h, {})
            vals = {n: 0 for n in NAMES[k]}
            vals["uptime_pct"] = UPTIME[(v, k)]
            vals.update(special)
            for n, x in vals.items():
                out[(v, k, "hour", S.iso(T(h)), n)] = (x, UNITS.get(n, "count"), ndev)
        for n, x in DAYROWS[(v, k)].items():
            out[(v, k, "day", S.iso(T(0)), n)] = (x, UNITS.get(n, "count"), ndev)
    return out


def check_hand_computation(t):
    """The literals agree with each other: for counts and minutes a day is the sum of
    its hours (devices.md, Late messages). This checks the arithmetic above, not the
    daemon."""
    bad = []
    for g, day in DAYROWS.items():
        for n, x in day.items():
            if n in ("uptime_pct", "recording_pct", "unique_clients", "peak_clients",
                     "traffic_mb"):
                continue
            s = sum(hr.get(n, 0) for hr in HOURS.get(g, {}).values())
            if abs(s - x) > 1e-9:
                bad.append(f"{g} {n}: day {x}, hours sum to {s}")
    t.eq(bad, [], "the hand-computed day counts are the sums of the hand-computed hours")


def main(h, t):
    check_hand_computation(t)
    port = h.start_broker()
    rx = S.start_receiver(TOKEN)
    try:
        run_day(h, t, port, rx)
    finally:
        rx.stop()


def run_day(h, t, port, rx):
    tok = S.token_file(h, TOKEN)
    cfg = S.write_config(h, VILLAGES, DEVICES, uplinks=[S.http_uplink(rx, tok)],
                         sync={"interval_s": 1, "grace_s": 60},
                         plugin_dir_=S.plugin_dir())
    d = h.start_daemon(cfg)

    # the day in four parts of six hours; after each, the alerts that part raised must
    # arrive promptly (within a few sync ticks, not at the end of the day), with the rows
    # of the hours the part closed: the watermark is then the part's last ts, hh:58:00
    # (ap-b1's last heartbeat), so hours up to hh-1 are closed (their end + 60 s passed)
    day = script()
    closing = msg(S.ts(NEXT, 0, 5), "spk-d1", "heartbeat", interval_s=3600)  # closes the day
    parts = [[m for m in day if T(6 * i) <= m[0] < T(6 * i + 6)] for i in range(4)]
    parts[3].append(closing)
    t.eq(sum(map(len, parts)), len(day) + 1, "the script splits into four parts")
    # alerts by the end of each part (ALERTS order); hours closed by then
    alerts_by = [1, 3, 8, 12]
    hours_by = [range(0, 5), range(0, 11), range(0, 17), range(0, 24)]
    n = 0
    for i, part in enumerate(parts):
        n += S.publish_script(port, part, client_id=f"ntm-e2e-pub-{i}")
        want_hours = {S.iso(T(hh)) for hh in hours_by[i]}

        def part_done(r):
            return (len(r.alerts()) >= alerts_by[i] and
                    {x["start"] for x in r.rows() if x["period"] == "hour"} >= want_hours)
        try:
            rx.wait(part_done, 15, f"part {i + 1}'s alerts and rows")
            t.ok(True, f"part {i + 1} ({6 * i:02d}:00-{6 * i + 6:02d}:00): its "
                       f"{alerts_by[i] - (alerts_by[i - 1] if i else 0)} alerts and the rows "
                       f"of hours up to {hours_by[i][-1]:02d}:00 arrived promptly")
        except TimeoutError as e:
            t.ok(False, str(e), f"{len(rx.alerts())} alerts, hours "
                 f"{sorted({x['start'][11:13] for x in rx.rows() if x['period'] == 'hour'})}")
        hours_now = {x["start"] for x in rx.rows() if x["period"] == "hour"}
        if i < 3:
            t.eq(sorted(h_[11:16] for h_ in hours_now - want_hours), [],
                 f"part {i + 1}: no row of an hour still open (grace 60 s)")
    print(f"published {n} messages of {DAY} and one of {NEXT} 00:05")
    d.wait_status(lambda st: (st["accepted"] or 0) >= n, 60, f"accepted {n}")

    want = expected_rows()
    n_day = sum(1 for k in want if k[2] == "day")

    def complete(r):
        rows = r.rows()
        return (sum(1 for x in rows if x["period"] == "day") >= n_day
                and len(r.alerts()) >= len(ALERTS)
                and len(rows) >= len(want))
    try:
        rx.wait(complete, 60, "every hour's and the day's rows and every alert")
    except TimeoutError as e:
        t.ok(False, str(e), f"received {len(rx.rows())} rows of {len(want)}, "
                            f"{len(rx.alerts())} alerts of {len(ALERTS)}")
    # everything formed is delivered (nothing waits), then a few ticks for stragglers
    S.wait_for(lambda: h.query("SELECT count(*) FROM deliveries WHERE state != 'delivered'")
               == [(0,)] and h.query("SELECT count(*) FROM pending_rows") == [(0,)],
               30, "no batch waiting in the daemon", daemon=d)
    time.sleep(2.5)

    t.eq(rx.errors, [], "every request was well-formed and every body valid against the schema")
    reqs = rx.requests
    t.ok(len(reqs) > 0 and all(r["status"] == 202 for r in reqs),
         f"every one of the {len(reqs)} requests was accepted at the first attempt",
         str([(r["batch_id"], r["status"], r["why"]) for r in reqs if r["status"] != 202][:10]))
    t.eq(rx.duplicates, 0, "no batch was sent twice")
    seqs = rx.accepted_seqs
    t.eq(seqs, list(range(1, len(seqs) + 1)), "batch seqs are 1..N without a gap")
    t.eq(sorted(s for (s,) in h.query("SELECT seq FROM batches")), seqs,
         "the receiver has every batch the daemon formed")

    rows = rx.rows()
    got = {}
    dup = []
    for r in rows:
        k = S.row_key(r)
        if k in got:
            dup.append((k, got[k][3], r["_seq"]))
        got[k] = (r["value"], r["unit"], r["devices"], r["_seq"])
    t.eq(dup, [], "no indicator row arrived twice (in one batch or across batches)")
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    t.eq(missing, [], "every expected row arrived (all villages, kinds, 24 hours and the day)")
    t.eq(extra, [], "no unexpected row (recording_pct only where a camera reported; no "
                    "window of another day; only configured villages and kinds)")

    # values, one check per village/kind/period so that a failure shows what differs
    for (v, k) in GROUPS:
        for period, starts in (("hour", [S.iso(T(hh)) for hh in range(24)]),
                               ("day", [S.iso(T(0))])):
            bad = []
            for st in starts:
                for key in sorted(x for x in want if x[:3] == (v, k, period) and x[3] == st):
                    wv, wu, wd = want[key]
                    if key not in got:
                        continue
                    gv, gu, gd, _ = got[key]
                    if abs(gv - wv) > 1e-6 or gu != wu or gd != wd:
                        bad.append(f"{st[11:16]} {key[4]}: got {gv} {gu} devices {gd}, "
                                   f"want {wv} {wu} devices {wd}")
            t.ok(not bad, f"{v} {k} {period} rows equal the hand-computed values",
                 "\n    " + "\n    ".join(bad[:30]) + (f"\n    (+{len(bad) - 30} more)"
                                                       if len(bad) > 30 else ""))

    # the uptime of the lapsed and the explicitly offline device, by itself
    def val(v, k, p, hh, n):
        x = got.get((v, k, p, S.iso(T(hh)), n))
        return x[0] if x else None
    t.eq(val("thon-bac", "wifi", "hour", 10, "uptime_pct"), 51.67,
         "uptime_pct of ap-b1's hour 10 (lapsed 10:01, back 10:30) = 31/60")
    t.eq(val("thon-bac", "wifi", "day", 0, "uptime_pct"), 97.99,
         "uptime_pct of ap-b1's day = (86400 - 1740) / 86400")
    t.eq(val("thon-bac", "camera", "hour", 15, "uptime_pct"), 33.33,
         "uptime_pct of cam-b1's hour 15 (state offline 15:20, back 16:00) = 20/60")
    t.eq(val("thon-bac", "camera", "day", 0, "uptime_pct"), 97.22,
         "uptime_pct of cam-b1's day = (86400 - 2400) / 86400")
    t.eq(val("thon-tay", "speaker", "day", 0, "uptime_pct"), 50.0,
         "uptime_pct of thon-tay's speakers: spk-t2 declared and never seen counts 0")

    # alerts
    alerts = rx.alerts()
    ids = [a["id"] for a in alerts]
    t.eq(sorted(set(ids)) == sorted(ids), True, "no alert arrived twice")
    got_alerts = sorted(((int(a["id"].rsplit(":", 1)[1]), a["id"], a["ts"], a["village"],
                          a["kind"], a["device"], a["type"], a.get("detail"))
                         for a in alerts), key=lambda x: x[0])
    got_alerts = [x[1:] for x in got_alerts]
    want_alerts = [(f"{S.GATEWAY_ID}:a:{i}", S.iso(ts), v, k, dev, typ, det)
                   for i, (ts, v, k, dev, typ, det) in enumerate(ALERTS, 1)]
    # later alerts could only come from wall-clock time passing (ap-b1 lapsing again is
    # impossible: it already did); compare everything
    for i in range(max(len(got_alerts), len(want_alerts))):
        g = got_alerts[i] if i < len(got_alerts) else None
        w = want_alerts[i] if i < len(want_alerts) else None
        t.eq(g, w, f"alert {i + 1}: {w[5] + ' ' + w[4] + ' at ' + w[1][11:19] if w else '-'}")

    last = max(rx.batches, key=lambda b: b["seq"])
    t.eq({k: last["health"][k] for k in ("rejected_total", "late_total", "dropped_total")},
         {"rejected_total": 0, "late_total": 0, "dropped_total": 0},
         "health of the last batch: nothing rejected, late or dropped")
    t.eq({b["commune"]["code"] for b in rx.batches} | {b["gateway"]["id"] for b in rx.batches},
         {"16279", S.GATEWAY_ID}, "every batch names the commune and the gateway")

    # User-Agent: {daemon name}/{version}, the version the bodies carry
    uas = {q["user_agent"] for q in rx.requests}
    vers = {b["gateway"]["version"] for b in rx.batches}
    t.ok(len(uas) == 1 and len(vers) == 1 and
         re.fullmatch(r"ntm-gatewayd?/" + re.escape(next(iter(vers))), next(iter(uas))),
         "User-Agent is ntm-gateway(d)/{the gateway.version of the bodies}", f"{uas} {vers}")

    # a late message: a motion of 08:10 on the closed day changes no row; it is counted
    # in late_total of the next batch (formed for a new alert of the next day)
    n_rows = len(rx.rows())
    S.publish_script(port, [msg(T(8, 10), "cam-d1", "event", type="motion"),
                            msg(S.ts(NEXT, 0, 6), "cam-d1", "event", type="tamper")],
                     client_id="ntm-e2e-late")
    try:
        rx.wait(lambda r: len(r.alerts()) > len(ALERTS), 15, "the alert after the late message")
        b = max(rx.batches, key=lambda x: x["seq"])
        t.eq((b["health"]["late_total"], len(b["indicators"]),
              [(a["id"], a["type"], a["ts"]) for a in b["alerts"]]),
             (1, 0, [(f"{S.GATEWAY_ID}:a:{len(ALERTS) + 1}", "tamper", S.iso(S.ts(NEXT, 0, 6)))]),
             "late message: counted in late_total, no row; the next alert is a:13")
    except TimeoutError as e:
        t.ok(False, str(e))
    t.eq(len(rx.rows()), n_rows, "late message: no indicator row added or re-sent")

    # ntmctl shows the same latest day rows
    p = h.ctl("--config", cfg, "--json", "indicators")
    t.eq(p.returncode, 0, "ntmctl indicators runs")
    try:
        latest = {(r["village"], r["kind"], r["period"], r["name"]): r["value"]
                  for r in json.loads(p.stdout_text)}
        t.eq(latest.get(("thon-bac", "wifi", "day", "uptime_pct")), 97.99,
             "ntmctl indicators shows thon-bac's wifi day uptime_pct")
    except ValueError as e:
        t.ok(False, "ntmctl --json indicators prints JSON", str(e))

    t.eq(d.terminate(), 0, "the daemon stops on SIGTERM with exit code 0")


if __name__ == "__main__":
    harness.run(main)
