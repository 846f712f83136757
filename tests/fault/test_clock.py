#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_clock.py: the gateway's wall clock jumps forward and back under a running
daemon, as on a board without a battery before and after NTP (issue 5, "Clock
trouble").

The daemon runs under tests/fault/clockshim.c (LD_PRELOAD), which shifts its
CLOCK_REALTIME (clock_gettime, gettimeofday, time) and makes adjtimex report the
clock synchronized or not, from a control file the test rewrites while it runs.
CLOCK_MONOTONIC is never touched. Only the daemon is preloaded: the broker, the
receiver, ntmctl and this script see the machine's clock.

The world: "true" time W is the machine's clock plus a fixed offset that puts the
test in the last minute of 2026-11-19 (local, +07:00), so that the hour 23:00 and
the day close at midnight while the test runs (sync.grace_s 5, interval_s 1).
The devices' clocks are right: their messages carry ts = W. Two kinds of devices:

    cam-a1, cam-b1 (motion, tamper) and ap-a1 (stats, new_sessions 1): ts = W
    spk-a1 (a played broadcast of 60 s): no ts, so the gateway's clock is used

so that every message counts exactly 1 in one indicator (motion_events,
tamper_events, sessions, broadcasts) and the rows can be added up against what
was sent. The gateway's clock G goes through four phases:

    A  G = W - 3 days, unsynchronized   (boot without a battery)
    B  G = W, synchronized              (NTP steps it forward 3 days)
    C  G = W - 2 hours, synchronized    (a step back, "for a while")
    D  G = W, synchronized              (forward again), past midnight

Just before C the receiver answers 503 with Retry-After: 3 to a batch (an alert),
so that a retry is waiting, with a wall-clock due time, when the clock steps back.

Checked:
- the shim acts on the daemon: in phase A a message without ts gets G (3 days
  back) as ts and receive time; the batch formed in A has created_at 3 days back;
- clock_synced: false in every batch formed while the kernel said unsynchronized
  (phase A), true in every other (the phase of a batch is told by its created_at
  minus W at its arrival: about -3 d, -2 h or 0);
- no indicator row is negative, no percentage over 100, every window is one hour
  or one local day on its boundaries; health.uptime_s and late_total never go back;
- no (village, kind, period, start, name) arrives twice (no window counted twice);
- alerts: the two tampers at their devices' ts, and no offline/online alert (every
  device sends at least once a second all along, so none ever lapses);
- every day row equals its hours: counts and minutes summed, peak the max, unique
  clients between the max and the sum, uptime the mean over 24 hours;
- conservation: messages counted in the rows + late_total + messages in the windows
  still open (read from the buffer after the daemon stopped) = messages sent;
- placement: every message that carries a correct ts is counted in the hour that
  holds its ts, whatever the gateway's clock did meanwhile (devices.md: windows are
  in event time; a ts is replaced only when it cannot be right). Messages WITHOUT ts
  may land in the gateway's wrong hour or be late: only the conservation holds them;
- delivery: the batch waiting for its retry when the clock stepped back 2 h is
  delivered within a few seconds of the step (not 2 h later);
- every request is valid for the receiver, no batch is sent twice, seqs 1..N;
- a batch's created_at (and batches.created_ms) never goes back from one seq to the
  next: the step back of phase C does not reach the times the daemon writes;
- the daemon stays up and exits 0 on SIGTERM.

Figures (messages per phase, fallbacks, late, batches per phase, the stall) are
printed. Run by hand: NTM_GATEWAYD=... NTM_CLOCKSHIM_SO=... python3 test_clock.py,
or `meson test -C BUILD test_clock`.
"""

import datetime
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

TOKEN = "clock-Token_0123456789"
DAY = "2026-11-19"
MIDNIGHT = S.ts("2026-11-20")  # the world crosses it in phase D
THREE_DAYS = 3 * 86400
STEP_BACK = 7200
GRACE_S = 5
TICK = 0.25  # s between rounds of messages

# world times (relative to MIDNIGHT) at which the phases start; C starts as soon as
# the receiver has refused the batch of the alert sent at STALL_AT
A_AT, B_AT, STALL_AT, C_LEN, END_AT = -62, -48, -37, 14, 12
C_SYNCED = True  # what the kernel says during the step back (the brief: synchronized)
STALL_MAX_S = 8.0  # Retry-After 3 s, a 1 s tick and slack (a stalled retry waits until D)

VILLAGES = ["thon-a", "thon-b"]
DEVICES = [
    ("spk-a1", "speaker", "thon-a"),   # broadcasts without ts
    ("cam-a1", "camera", "thon-a"),    # motion with ts
    ("ap-a1", "wifi", "thon-a"),       # stats with ts
    ("cam-b1", "camera", "thon-b"),    # motion and tamper with ts
    ("spk-b1", "speaker", "thon-b"),   # declared, never seen
]
WHERE = {d: (v, k) for d, k, v in DEVICES}
MACS = ["a4:5e:60:00:00:%02x" % i for i in range(1, 6)]
# the indicator each message counts 1 in, by (kind, what)
COUNTS_IN = {"motion": "motion_events", "tamper": "tamper_events", "stats": "sessions",
             "broadcast": "broadcasts"}
COUNT_NAMES = ["broadcasts", "broadcasts_played", "broadcasts_failed", "broadcast_minutes",
               "emergency_broadcasts", "faults", "motion_events", "tamper_events",
               "video_loss_events", "sessions", "traffic_mb"]


def shim_path():
    p = os.environ.get("NTM_CLOCKSHIM_SO")
    if p:
        return p
    return os.path.join(S.build_dir(), "tests", "fault", "ntm-clockshim.so")


def preload_for(binary, shim):
    """LD_PRELOAD for the daemon: the shim, after libasan when the daemon is built
    with ASan (its runtime must come first in the library list)."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    m = re.search(r"^\s*libasan\.so\S*\s+=>\s+(\S+)", out, re.M)
    return f"{m.group(1)}:{shim}" if m else shim


class Clock:
    """The shim's control file: the daemon's wall clock = machine + offset."""

    def __init__(self, h, world_offset):
        self.path = os.path.join(h.tmp, "clockshim.ctl")
        self.world = world_offset
        self.log = []  # (monotonic, phase, offset vs world, synced)

    def set(self, phase, behind_s, synced):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{self.world - behind_s} {1 if synced else 0}\n")
        os.replace(tmp, self.path)
        time.sleep(0.2)  # the shim looks at the file at most every 50 ms
        self.log.append((time.monotonic(), phase, -behind_s, synced))
        print(f"-- phase {phase}: gateway clock {'W' if not behind_s else f'W - {behind_s} s'}, "
              f"{'synchronized' if synced else 'unsynchronized'} (world {S.iso(int(W(self)))})",
              flush=True)


def W(clock):
    """World time now (Unix s, float)."""
    return time.time() + clock.world


class Feed:
    """Publishes rounds of messages every TICK s of the world and remembers them."""

    def __init__(self, port, clock):
        self.pub = S.Publisher(port, client_id="ntm-clock-pub")
        self.clock = clock
        self.sent = []  # dicts: dev, what, ts (None: no ts), phase, w (world at send)
        self.n = 0
        self.phase = "?"
        self.next_tick = time.monotonic()

    def send(self, dev, channel, what, payload, with_ts=True):
        v, k = WHERE[dev]
        w = W(self.clock)
        pl = dict(payload)
        ts = int(w) if with_ts else None
        if with_ts:
            pl["ts"] = ts
        self.pub.publish(S.topic(v, k, dev, channel), pl)
        self.sent.append({"dev": dev, "what": what, "ts": ts, "phase": self.phase, "w": w})

    def round(self):
        i = self.n
        self.n += 1
        # the first message of all carries a ts (the first window is the one holding it)
        self.send("cam-a1", "event", "motion", {"type": "motion"})
        k = 1 + i % 3
        self.send("ap-a1", "stats", "stats", {"clients": k, "new_sessions": 1, "rx_bytes": 1000000,
                                              "tx_bytes": 0, "client_macs": MACS[i % 3:i % 3 + k]})
        if i % 2 == 0:
            self.send("spk-a1", "event", "broadcast",
                      {"type": "broadcast", "start": int(W(self.clock)) - 60, "duration_s": 60,
                       "result": "played"}, with_ts=False)
        if i % 4 == 0:
            self.send("cam-b1", "event", "motion", {"type": "motion"})
        self.pub.flush()

    def pump(self, until, timeout, what, daemon, every=None):
        """Rounds every TICK s until until() is true (or timeout: TestFailure)."""
        deadline = time.monotonic() + timeout
        while True:
            r = until()
            if r:
                return r
            if not daemon.alive():
                raise harness.TestFailure(f"ntm-gatewayd exited ({daemon.proc.returncode}) "
                                          f"in phase {self.phase}")
            if time.monotonic() > deadline:
                raise harness.TestFailure(f"timed out after {timeout:.0f} s waiting for {what}")
            now = time.monotonic()
            if now >= self.next_tick:
                self.round()
                self.next_tick = max(self.next_tick + TICK, now)
            if every:
                every()
            time.sleep(min(0.05, max(0.0, self.next_tick - time.monotonic())))

    def until_world(self, at, daemon, every=None):
        self.pump(lambda: W(self.clock) >= MIDNIGHT + at, (MIDNIGHT + at - W(self.clock)) + 10,
                  f"world {S.iso(MIDNIGHT + at)}", daemon, every)


def unix(iso):
    return int(datetime.datetime.fromisoformat(iso).timestamp())


def phase_of(offset):
    """The gateway clock's phase from created_at - world: about -3 d, -2 h or 0."""
    for name, centre in (("A", -THREE_DAYS), ("C", -STEP_BACK), ("B/D", 0)):
        if abs(offset - centre) < 1800:
            return name
    return None


def main(h, t):
    shim = shim_path()
    t.require(os.path.exists(shim), f"the clock shim is built ({shim})")
    port = h.start_broker()
    rx = S.start_receiver(TOKEN)
    try:
        scenario(h, t, port, rx, shim)
    finally:
        rx.stop()


def scenario(h, t, port, rx, shim):
    tok = S.token_file(h, TOKEN)
    cfg = S.write_config(h, VILLAGES, DEVICES, uplinks=[S.http_uplink(rx, tok)],
                         sync={"interval_s": 1, "grace_s": GRACE_S}, plugin_dir_=S.plugin_dir())
    # the world starts 2 s before phase A, the time the daemon needs to start
    clock = Clock(h, round(MIDNIGHT + A_AT - 2 - time.time()))
    clock.set("A", THREE_DAYS, False)

    preload = preload_for(harness.gatewayd_path(), shim)
    saved = {k: os.environ.get(k) for k in ("LD_PRELOAD", "NTM_CLOCKSHIM")}
    os.environ["LD_PRELOAD"] = preload
    os.environ["NTM_CLOCKSHIM"] = clock.path
    try:
        d = h.start_daemon(cfg)  # the harness copies os.environ for the daemon only now
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    print(f"daemon under LD_PRELOAD={preload}")
    t.ok("ntm-clockshim: wall clock" in d.stderr_text(),
         "the shim is loaded in the daemon (its first line is in the daemon's stderr)")

    feed = Feed(port, clock)
    stall = {"id": None, "jump": None, "got": None}

    def watch_stall():
        if stall["id"] and stall["got"] is None and stall["id"] in rx.accepted_ids:
            stall["got"] = time.monotonic()

    # ---- A: 3 days behind, unsynchronized
    feed.phase = "A"
    feed.until_world(A_AT, d)
    feed.send("cam-b1", "event", "tamper", {"type": "tamper"})  # an alert: a batch formed in A
    feed.pump(lambda: len(rx.accepted_ids) >= 1, 10, "the batch of phase A's alert", d)
    feed.until_world(B_AT - 1, d)
    a_check = shim_acts(h, t, feed)
    a_stats = phase_stats(h, 0)

    # ---- B: stepped forward 3 days, synchronized
    clock.set("B", 0, True)
    feed.phase = "B"
    first_b = last_msg_id(h)
    feed.until_world(STALL_AT, d)
    feed.pump(lambda: pending(h) == 0, 15, "every batch delivered before the stall set-up", d)
    rule = rx.answer(503, n=None, retry_after=3)
    n_req = len(rx.requests)
    feed.send("cam-b1", "event", "tamper", {"type": "tamper"})

    def refused():
        for q in rx.requests[n_req:]:
            if q["status"] == 503 and q["batch_id"]:
                return q["batch_id"]
        return None
    stall["id"] = feed.pump(refused, 10, "the receiver's 503 to the alert's batch", d)
    b_stats = phase_stats(h, first_b)

    # ---- C: 2 hours back
    first_c = last_msg_id(h)
    clock.set("C", STEP_BACK, C_SYNCED)
    feed.phase = "C"
    rx.remove(rule)
    stall["jump"] = time.monotonic()
    print(f"   batch {stall['id']} refused (503, Retry-After: 3) just before the step back; "
          f"the receiver accepts everything from now on")
    # an alert: a batch formed while the clock is 2 h back, whose created_at must not
    # go back (the daemon's one clock carries on from where it was)
    feed.send("cam-b1", "event", "tamper", {"type": "tamper"})
    c_end = W(clock) - MIDNIGHT + C_LEN
    feed.until_world(c_end, d, every=watch_stall)
    c_stats = phase_stats(h, first_c)

    # ---- D: forward again, through midnight
    first_d = last_msg_id(h)
    clock.set("D", 0, True)
    feed.phase = "D"
    feed.until_world(END_AT, d, every=watch_stall)
    d_stats = phase_stats(h, first_d)
    feed.pub.close()
    n_sent = len(feed.sent)
    print(f"published {n_sent} messages; waiting for the rows of 23:00 and of {DAY}")
    d.wait_status(lambda st: (st["accepted"] or 0) >= n_sent, 30, f"accepted {n_sent}")
    day_start = S.iso(S.ts(DAY))
    try:
        rx.wait(lambda r: any(x["period"] == "day" and x["start"] == day_start for x in r.rows()),
                30, f"the day rows of {DAY}")
    except TimeoutError as e:
        t.ok(False, str(e))
    S.wait_for(lambda: pending(h) == 0 and h.query("SELECT count(*) FROM pending_rows") == [(0,)],
               30, "no batch waiting in the daemon", daemon=d)
    watch_stall()
    if stall["got"] is None:  # still stalled: how long, up to a limit
        try:
            rx.wait(lambda r: stall["id"] in r.accepted_ids, 20, "the stalled batch")
        except TimeoutError:
            pass
        watch_stall()
    time.sleep(1.5)
    t.ok(d.alive(), "the daemon stayed up through every clock step")
    rc = d.terminate()
    t.eq(rc, 0, "the daemon exits 0 on SIGTERM")

    check_all(h, t, rx, clock, feed, stall, a_check, {"A": a_stats, "B": b_stats, "C": c_stats,
                                                       "D": d_stats})


# ---------------------------------------------------------------------- database

def last_msg_id(h):
    return h.query("SELECT coalesce(max(id), 0) FROM messages")[0][0]


def pending(h):
    return h.query("SELECT count(*) FROM deliveries WHERE state != 'delivered'")[0][0]


def phase_stats(h, after_id):
    """(messages, clock_fallback, late, min ts, max ts) of the messages after an id."""
    return h.query("SELECT count(*), sum(flags & 1 != 0), sum(flags & 2 != 0), min(ts), max(ts)"
                   " FROM messages WHERE id > ?", (after_id,))[0]


def shim_acts(h, t, feed):
    """Phase A: the daemon's receive time and the fallback ts are the shifted clock."""
    rows = h.query("SELECT m.ts, m.recv_ms, m.flags, d.name FROM messages m"
                   " JOIN devices d ON d.id = m.device ORDER BY m.id DESC LIMIT 20")
    world = W(feed.clock)
    want = world - THREE_DAYS
    nots = [r for r in rows if r[3] == "spk-a1"]
    ok = bool(nots) and all(r[2] & 1 and abs(r[0] - want) <= 30 for r in nots)
    t.ok(ok, "phase A: a message without ts gets the daemon's (shifted) clock as ts, 3 days "
             "back, flagged clock_fallback", f"want ts ~{int(want)}, got {nots[:3]}")
    t.ok(rows and all(abs(r[1] / 1000 - want) <= 30 for r in rows),
         "phase A: receive times (recv_ms) are the shifted clock",
         f"want ~{int(want)}, got {[r[1] // 1000 for r in rows[:3]]}")
    return rows


# ---------------------------------------------------------------------- checks

def check_all(h, t, rx, clock, feed, stall, a_rows, stats):
    sent = feed.sent
    t.eq(rx.errors, [], "every request was well-formed and every body valid against the schema")
    t.eq(rx.duplicates, 0, "no batch was sent twice")
    seqs = rx.accepted_seqs
    t.eq(seqs, list(range(1, len(seqs) + 1)), "batch seqs are 1..N without a gap")
    t.eq(sorted(s for (s,) in h.query("SELECT seq FROM batches")), seqs,
         "the receiver has every batch the daemon formed")

    # ---- clock_synced, by the phase each batch was formed in
    mono0, real0 = time.monotonic(), time.time()
    arrived = {}
    for q in rx.requests:
        if q["status"] == 202 and q["batch_id"] not in arrived:
            arrived[q["batch_id"]] = q["t"]
    by_phase, bad_sync, unclassified = {}, [], []
    for b in sorted(rx.batches, key=lambda x: x["seq"]):
        w_arr = real0 + (arrived.get(b["batch_id"], mono0) - mono0) + clock.world
        off = unix(b["created_at"]) - w_arr
        ph = phase_of(off)
        if ph is None:
            unclassified.append((b["seq"], b["created_at"], round(off)))
            continue
        by_phase.setdefault(ph, []).append(b["seq"])
        want = {"A": False, "C": C_SYNCED, "B/D": True}[ph]
        if b["gateway"]["clock_synced"] is not want:
            bad_sync.append((b["seq"], ph, b["created_at"], b["gateway"]["clock_synced"]))
    print(f"batches by the phase they were formed in (created_at - world at arrival): "
          f"{ {k: len(v) for k, v in by_phase.items()} }")
    t.eq(unclassified, [], "every batch's created_at is the gateway clock of a phase "
                           "(W - 3 d, W - 2 h or W)")
    t.ok(by_phase.get("A") and by_phase.get("B/D"),
         "batches were formed both before the clock was synchronized and after",
         str(by_phase))
    t.eq(bad_sync, [], "clock_synced is false in every batch formed before the clock was "
                       "synchronized (phase A), true in every one after"
         + ("" if C_SYNCED else " (except during the step back, unsynchronized)"))

    # ---- the daemon's times never go back: every time it writes comes from its one
    # clock (clock.c), which carries on by the monotonic time after a step back
    created = [(b["seq"], unix(b["created_at"])) for b in sorted(rx.batches, key=lambda x: x["seq"])]
    back = [(a, b) for a, b in zip(created, created[1:]) if b[1] < a[1]]
    t.eq(back, [], "a batch's created_at is never earlier than the one before it, also after "
                   "the gateway clock stepped back 2 h")
    stored = h.query("SELECT seq, created_ms FROM batches ORDER BY seq")
    back = [(a, b) for a, b in zip(stored, stored[1:]) if b[1] < a[1]]
    t.eq(back, [], "batches.created_ms never goes back from one seq to the next")

    # ---- rows: sane values and windows; health never goes back
    rows = rx.rows()
    bad = []
    for r in rows:
        s, e = unix(r["start"]), unix(r["end"])
        if r["value"] < 0:
            bad.append(("negative", S.row_key(r), r["value"]))
        if r["unit"] == "%" and r["value"] > 100:
            bad.append(("over 100 %", S.row_key(r), r["value"]))
        if r["period"] == "hour" and (e - s != 3600 or s % 3600):
            bad.append(("not a clock hour", S.row_key(r), r["end"]))
        if r["period"] == "day" and (e - s != 86400 or (s + 7 * 3600) % 86400):
            bad.append(("not a local day", S.row_key(r), r["end"]))
    t.eq(bad[:20], [], f"all {len(rows)} rows: no negative value, no percentage over 100, every "
                       "window a clock hour or a local day")
    health = [(b["seq"], b["health"]) for b in sorted(rx.batches, key=lambda x: x["seq"])]
    back = [(s1, k, h1[k], s2, h2[k]) for (s1, h1), (s2, h2) in zip(health, health[1:])
            for k in ("uptime_s", "late_total", "rejected_total") if h2[k] < h1[k]]
    t.eq(back, [], "health uptime_s, late_total and rejected_total never go back from batch "
                   "to batch (no negative durations)")
    t.ok(all(x["uptime_s"] >= 0 for _, x in health), "health uptime_s is never negative")

    # ---- no window counted twice
    seen, dup = {}, []
    for r in rows:
        k = S.row_key(r)
        if k in seen:
            dup.append((k, seen[k], r["_seq"]))
        seen[k] = r["_seq"]
    t.eq(dup[:10], [], "no (village, kind, period, start, name) arrived twice")
    alerts = [a["id"] for a in rx.alerts()]
    t.eq(len(alerts), len(set(alerts)), "no alert arrived twice")
    # every device sent at least once a second throughout (online for 180 s after each
    # message): the only alerts are the two tampers, at the ts their devices gave
    got_alerts = sorted((a["type"], a["device"], a["ts"]) for a in rx.alerts())
    want_alerts = sorted(("tamper", m["dev"], S.iso(m["ts"])) for m in sent
                         if m["what"] == "tamper")
    t.eq(got_alerts, want_alerts, "alerts: the tampers at their devices' ts, and no offline or "
                                  "online alert (no device ever stopped sending)")

    # ---- days are the sums of their hours
    hours = {}
    for r in rows:
        if r["period"] == "hour":
            hours.setdefault((r["village"], r["kind"], r["name"]), []).append(
                (unix(r["start"]), r["value"]))
    day_bad, n_days = [], 0
    for r in rows:
        if r["period"] != "day":
            continue
        n_days += 1
        s = unix(r["start"])
        hv = [v for st, v in hours.get((r["village"], r["kind"], r["name"]), ())
              if s <= st < s + 86400]
        n, v = r["name"], r["value"]
        if n in COUNT_NAMES:
            ok = abs(sum(hv) - v) < 1e-6
        elif n == "peak_clients":
            ok = v == max(hv, default=0)
        elif n == "unique_clients":
            ok = max(hv, default=0) <= v <= sum(hv)
        elif n == "uptime_pct":
            ok = abs(sum(hv) / 24 - v) <= 0.011
        else:
            ok = True
        if not ok:
            day_bad.append((r["village"], r["kind"], r["start"][:10], n, v, sum(hv), len(hv)))
    t.ok(n_days > 0 and not day_bad,
         f"each of the {n_days} day rows equals its hours (counts summed, peak the max, unique "
         "clients between max and sum, uptime the mean)", str(day_bad[:10]))

    # ---- conservation: rows + late + still open = sent
    counted = sum(r["value"] for r in rows if r["period"] == "hour"
                  and r["name"] in ("motion_events", "tamper_events", "sessions", "broadcasts"))
    counters = dict(h.query("SELECT name, value FROM counters"))
    late = counters.get("late", 0)
    fallback = counters.get("clock_fallback", 0)
    hour_starts = sorted({unix(r["start"]) for r in rows if r["period"] == "hour"})
    open_from = hour_starts[-1] + 3600 if hour_starts else 0
    open_n = h.query("SELECT count(*) FROM messages WHERE ts >= ? AND flags & 2 = 0",
                     (open_from,))[0][0]
    print(f"figures: sent {len(sent)} ({sum(1 for m in sent if m['ts'] is None)} without ts); "
          f"accepted {counters.get('accepted')}; clock_fallback {fallback}; late {late}; "
          f"counted in {len(hour_starts)} closed hours {counted:.0f}; in the open hour "
          f"{S.iso(open_from) if open_from else '-'}: {open_n}")
    t.eq(counters.get("accepted"), len(sent), "every message sent was accepted")
    t.eq(counted + late + open_n, len(sent),
         "conservation: messages counted in the rows + late_total + messages in open windows "
         "= messages sent")

    # ---- placement of the messages that carry a correct ts
    want, got = {}, {}
    for m in sent:
        if m["ts"] is None:
            continue
        v, k = WHERE[m["dev"]]
        key = (v, k, m["ts"] // 3600 * 3600)
        want[key] = want.get(key, 0) + 1
    for r in rows:
        if r["period"] == "hour" and r["name"] in ("motion_events", "tamper_events", "sessions") \
                and r["value"]:
            key = (r["village"], r["kind"], unix(r["start"]))
            got[key] = got.get(key, 0) + r["value"]
    for dev_name, (v, k) in WHERE.items():
        for hs, n in h.query("SELECT ts / 3600 * 3600, count(*) FROM messages m JOIN devices d"
                             " ON d.id = m.device WHERE d.name = ? AND ts >= ? AND flags & 2 = 0"
                             " GROUP BY 1", (dev_name, open_from)):
            if k != "speaker":
                got[(v, k, hs)] = got.get((v, k, hs), 0) + n
    diff = sorted(f"{v} {k} {S.iso(hs)}: counted {got.get((v, k, hs), 0):.0f}, "
                  f"sent with a ts in that hour {want.get((v, k, hs), 0)}"
                  for (v, k, hs) in set(want) | set(got)
                  if got.get((v, k, hs), 0) != want.get((v, k, hs), 0))
    t.ok(not diff, "every message with a correct ts is counted in the hour holding its ts, "
                   "whatever the gateway's clock did (none displaced to the gateway's hour, "
                   "none late)", "\n    " + "\n    ".join(diff[:12]))

    # ---- figures per phase
    for ph in "ABCD":
        ms = [m for m in sent if m["phase"] == ph]
        n, fb, lt, lo, hi = stats[ph]
        print(f"phase {ph}: sent {len(ms)} ({sum(1 for m in ms if m['ts'] is None)} without ts); "
              f"in the buffer at its end {n}, of which clock_fallback {fb or 0}, late {lt or 0}; "
              f"ts {S.iso(lo) if lo else '-'} .. {S.iso(hi) if hi else '-'}"
              + (" (messages of the closed day already released)" if ph == "D" else ""))

    # ---- the delivery waiting for its retry when the clock stepped back
    if stall["got"] is not None:
        delay = stall["got"] - stall["jump"]
        print(f"batch {stall['id']}, refused just before the step back, delivered "
              f"{delay:.1f} s after it")
        t.ok(delay <= STALL_MAX_S, f"the batch waiting for a retry when the clock stepped back "
                                   f"2 h was delivered within {STALL_MAX_S:.0f} s of the step",
             f"{delay:.1f} s")
    else:
        t.ok(False, f"the batch waiting for a retry when the clock stepped back 2 h was "
                    f"delivered within {STALL_MAX_S:.0f} s of the step",
             f"batch {stall['id']} not delivered at all "
             f"({time.monotonic() - stall['jump']:.0f} s after the step)")


if __name__ == "__main__":
    harness.run(main)
