#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_crash_cycles: the daemon killed with SIGKILL at random moments under a
steady load, 50 times (NTM_CRASH_KILLS); then stopped with SIGTERM 10 times
(NTM_CRASH_TERMS); then indicators of a run killed many times compared with
those of a run that never stopped. CI runs 10 kills and 5 stops.

Every message has its own ts (ntm-sim --step-ms 1000: message i has ts BASE + i),
so the database says exactly which messages arrived, and how often.

  1. kill -9: ntm-sim publishes 500 msg/s (QoS 1) throughout; the daemon is
     started, killed 0.3..2 s after READY=1, started again, 50 times. After each
     kill a copy of the database (with its WAL) opens and passes
     PRAGMA integrity_check. At the end a last run drains the broker's queue for
     the persistent session and stops with SIGTERM. The messages the broker
     acknowledged but the database lacks are the messages in hand at a kill
     (libmosquitto acknowledges before it hands a message over: README, "what a
     crash can lose"; every message handed over is in the tail journal, a mapped
     file, at once): each contiguous run of missing messages is matched to the
     kill that ended the run that received the message before it. At most 1 per
     kill; none stored twice (a message the broker sends again is skipped).
  2. SIGTERM: the same, stopped with SIGTERM 10 times: nothing lost, nothing
     stored twice.
  3. indicators: one ntm-sim sequence (fixed seed, event time 22:00 to 03:30 local,
     so hours and a day close) feeds two daemons at once through the same broker,
     each with its own database, session and `file` uplink: (b) runs on, (a) is
     killed with SIGKILL about every 3 s and started again. Each kill of (a) comes
     when its database holds every message (b) has, with the publisher paused
     (SIGSTOP), so no acknowledged tail is lost; the kill still falls at random
     against the daemon's own timers (aggregation state saves, sync ticks,
     batches being written). Messages per device must then be equal in (a) and
     (b), and the indicator rows (village, kind, period, start, name -> value,
     devices) of every window closed in both runs equal; each row formed once.
     Were messages missing in (a), the rows of their village/kind are set aside
     and counted, the rest compared.
"""

import os
import random
import shutil
import signal
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import wbc_support as F  # noqa: E402  (puts tests/integration on sys.path)
import harness  # noqa: E402
import sync_support as S  # noqa: E402

VILLAGES = ["a", "b", "c"]
NDEV = 9
RATE = 500
COMMIT_MS = 50
KILLS = int(os.environ.get("NTM_CRASH_KILLS", "50"))
TERMS = int(os.environ.get("NTM_CRASH_TERMS", "10"))
LOSS_BOUND = 1  # the message in hand
NOW = int(time.time())
BASE1 = NOW - 10 * 86400
BASE2 = NOW - 8 * 86400
rng = random.Random(int(os.environ.get("NTM_CRASH_SEED", str(NOW))))


def integrity(h, tag):
    """A copy of the database and its WAL (as a crash left them) opens, recovers
    and passes PRAGMA integrity_check. Returns (ok, detail, messages)."""
    d = os.path.join(h.tmp, "check")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for suf in ("", "-wal"):
        if os.path.exists(h.db_path + suf):
            shutil.copyfile(h.db_path + suf, os.path.join(d, "buffer.db" + suf))
    try:
        con = sqlite3.connect(os.path.join(d, "buffer.db"), timeout=5)
        try:
            res = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
            n = con.execute("SELECT count(*) FROM messages").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error as e:
        return False, f"{tag}: {e}", None
    return res == ["ok"], f"{tag}: {res[:5]}", n


def sim_proc(h, port, name, *args):
    exp = os.path.join(h.tmp, f"expect-{name}.json")
    p = F.Proc(h, [harness.sim_path(), "--port", port, "--qos", 1, "--expect", exp,
                   "--villages", ",".join(VILLAGES), "--devices", NDEV, *args], name,
               stdin=False)
    p.expect = exp
    return p


def stop_sim(p):
    p.stop(signal.SIGINT, timeout=60)
    return F.load_json(p.expect)


def drain_and_stop(h, t, cfg, want, what, db=None):
    """A last clean run: start, wait until the database stops growing, SIGTERM."""
    d = h.start_daemon(cfg)
    last, deadline = -1, time.monotonic() + 60
    while time.monotonic() < deadline:
        n = h.query("SELECT count(*) FROM messages", path=db)[0][0]
        if n == last and n >= want * 0.9:
            break
        last = n
        time.sleep(0.7)
    t.eq(d.terminate(), 0, f"{what}: the last run exits 0 on SIGTERM")


def present_by_idx(h, base, n):
    """{i: times stored} for messages with ts base + i, 0 <= i < n; and recv_ms by i."""
    seen, recv = {}, {}
    for ts, r in h.query("SELECT ts, recv_ms FROM messages WHERE ts >= ? AND ts < ?",
                         (base, base + n)):
        i = ts - base
        seen[i] = seen.get(i, 0) + 1
        recv.setdefault(i, r)
    return seen, recv


def gaps(missing):
    """Contiguous runs of missing indexes: [(first, length)]."""
    out = []
    for i in sorted(missing):
        if out and out[-1][0] + out[-1][1] == i:
            out[-1][1] += 1
        else:
            out.append([i, 1])
    return [tuple(g) for g in out]


# ---------------------------------------------------------------------- 1. kill -9

def part_kill9(h, t, port, cfg):
    # the daemon's persistent session exists before the first message is published
    h.start_daemon(cfg).terminate()
    sim = sim_proc(h, port, "load-kill9", "--rate", RATE, "--count", RATE * 400, "--seed", 3,
                   "--start-ts", BASE1, "--step-ms", 1000)
    kills = []  # (run start wall ms, kill wall ms, delay)
    bad = []
    ready_s = []
    t0 = time.monotonic()
    for c in range(KILLS):
        d = h.start_daemon(cfg)
        ready_s.append(time.monotonic() - d.started_at)
        start_ms = int(time.time() * 1000)
        wait = rng.uniform(0.3, 2.0)
        time.sleep(wait)
        kill_ms = int(time.time() * 1000)
        d.kill()
        kills.append((start_ms, kill_ms, wait))
        ok, detail, _ = integrity(h, f"after kill {c + 1}")
        if not ok:
            bad.append(detail)
    t.eq(bad, [], f"after each of the {KILLS} kills the database opens and passes "
         "PRAGMA integrity_check")
    print(f"kill -9 x {KILLS} in {time.monotonic() - t0:.0f} s; READY=1 after "
          f"{min(ready_s):.2f}..{max(ready_s):.2f} s")
    exp = stop_sim(sim)
    P = exp["published"]
    t.eq(exp["acked"], P, f"the broker acknowledged all {P} messages published")
    drain_and_stop(h, t, cfg, P, "kill -9 cycles")
    ok, detail, _ = integrity(h, "after the cycles")
    t.ok(ok, "the database passes PRAGMA integrity_check after the cycles", detail)

    seen, recv = present_by_idx(h, BASE1, P)
    missing = [i for i in range(P) if i not in seen]
    dups = sum(n - 1 for n in seen.values())
    g = gaps(missing)
    # each gap to the kill that ended the run that stored the message before it
    per_kill = [0] * len(kills)
    unmatched = []
    for first, n in g:
        prev = recv.get(first - 1)
        j = next((j for j, (s, k, _) in enumerate(kills)
                  if prev is not None and s - 1000 <= prev <= k + 50), None)
        if j is None:
            unmatched.append((first, n))
        else:
            per_kill[j] += n
    largest = max(per_kill) if per_kill else 0
    lossy = sorted((n for n in per_kill if n), reverse=True)
    print(f"kill -9: {P} messages acknowledged, {P - len(missing)} stored, {len(missing)} lost "
          f"in {len(g)} runs, {dups} stored twice; loss per kill: largest {largest}, "
          f"mean {sum(per_kill) / max(1, len(per_kill)):.1f}, kills with a loss "
          f"{len(lossy)}/{len(kills)}: {lossy}")
    t.eq(unmatched, [], "every run of lost messages follows a kill")
    t.ok(largest <= LOSS_BOUND, f"the largest loss per kill ({largest}) is at most "
         f"{LOSS_BOUND} (the message in hand)", f"per kill {per_kill}")
    t.ok(len(g) <= len(kills), f"at most one lost run per kill ({len(g)} runs, {len(kills)} "
         "kills)")
    t.eq(dups, 0, "kill -9 cycles: no message stored twice (mosquitto sends again what was "
         "in flight: the table of deliveries skips it)")
    return {"published": P, "lost": len(missing), "largest": largest, "per_kill": per_kill,
            "dups": dups, "runs": len(g)}


# ---------------------------------------------------------------------- 2. SIGTERM

def part_sigterm(h, t, port, cfg):
    sim = sim_proc(h, port, "load-term", "--rate", RATE, "--count", RATE * 200, "--seed", 4,
                   "--start-ts", BASE2, "--step-ms", 1000)
    codes = []
    for c in range(TERMS):
        d = h.start_daemon(cfg)
        time.sleep(rng.uniform(0.3, 2.0))
        codes.append(d.terminate())
    t.eq(codes, [0] * TERMS, f"{TERMS} SIGTERM stops under load, each exit code 0")
    exp = stop_sim(sim)
    P = exp["published"]
    t.eq(exp["acked"], P, f"the broker acknowledged all {P} messages published")
    drain_and_stop(h, t, cfg, P, "SIGTERM cycles")
    seen, _ = present_by_idx(h, BASE2, P)
    missing = [i for i in range(P) if i not in seen]
    dups = sum(n - 1 for n in seen.values())
    print(f"SIGTERM x {TERMS}: {P} messages acknowledged, {len(missing)} lost, {dups} stored "
          "twice")
    t.eq(len(missing), 0, f"SIGTERM cycles: no message lost ({len(gaps(missing))} runs)")
    t.eq(dups, 0, "SIGTERM cycles: no message stored twice")
    return {"published": P, "lost": len(missing), "dups": dups}


# ---------------------------------------------------------------------- 3. indicators

def rows_of(out_dir):
    """{row key: (value, devices)} over every batch file; and the keys seen twice."""
    rows, twice, alerts, files = {}, [], [], 0
    for fn in sorted(os.listdir(out_dir)):
        if not fn.endswith(".json"):
            continue
        files += 1
        body = F.load_json(os.path.join(out_dir, fn))
        for r in body["indicators"]:
            k = S.row_key(r)
            if k in rows:
                twice.append(k)
            rows[k] = (r["value"], r["devices"])
        for a in body["alerts"]:
            alerts.append((a["ts"], a["village"], a["kind"], a["device"], a["type"]))
    return rows, twice, alerts, files


def part_indicators(h, t, port, devices):
    day0 = time.strftime("%Y-%m-%d", time.gmtime(NOW - 5 * 86400 + 7 * 3600))
    start = S.ts(day0, 22)          # 22:00 local
    step_s = 3
    count = (5 * 3600 + 1800) // step_s + 1  # to 03:30 local: far from any hour's end + grace
    cfgs, dirs, dbs = {}, {}, {}
    for run in ("a", "b"):
        dirs[run] = os.path.join(h.tmp, f"out-{run}")
        os.makedirs(dirs[run])
        dbs[run] = os.path.join(h.tmp, f"ind-{run}.db")
        cfgs[run] = S.write_config(
            h, VILLAGES, devices, name=f"ind-{run}.yaml",
            mqtt={"client_id": f"ntm-gateway-ind-{run}"}, storage={"path": dbs[run]},
            uplinks=[{"plugin": "file", "dir": dirs[run]}],
            sync={"interval_s": 1, "grace_s": 60}, plugin_dir_=S.plugin_dir("file"))

    def n_msgs(run):
        return h.query("SELECT coalesce(sum(messages), 0) FROM devices", path=dbs[run])[0][0]

    db_ = h.start_daemon(cfgs["b"])
    da = h.start_daemon(cfgs["a"])
    sim = sim_proc(h, port, "load-ind", "--rate", 200, "--count", count, "--seed", 42,
                   "--start-ts", start, "--step-ms", step_s * 1000)
    kills, waits = 0, []
    t0 = time.monotonic()
    while sim.proc.poll() is None:
        time.sleep(rng.uniform(1.5, 4.0))
        if sim.proc.poll() is not None:
            break
        # pause the publisher; kill (a) once it holds what (b) holds and is still
        os.kill(sim.proc.pid, signal.SIGSTOP)
        try:
            w0 = time.monotonic()
            last = None
            while time.monotonic() - w0 < 10:
                na, nb = n_msgs("a"), n_msgs("b")
                if na == nb and (na, nb) == last:
                    break
                last = (na, nb)
                time.sleep(0.12)
            waits.append(time.monotonic() - w0)
            time.sleep(rng.uniform(0, 0.3))  # a random moment against the daemon's timers
            da.kill()
            kills += 1
        finally:
            os.kill(sim.proc.pid, signal.SIGCONT)
        time.sleep(rng.uniform(0.2, 1.0))
        da = h.start_daemon(cfgs["a"])
    sim.proc.wait(120)
    exp = F.load_json(sim.expect)
    t.eq(exp["acked"], count, f"the broker acknowledged the whole sequence ({count} messages)")
    print(f"indicators: (a) killed {kills} times in {time.monotonic() - t0:.0f} s "
          f"(quiescing took {min(waits or [0]):.2f}..{max(waits or [0]):.2f} s)")
    S.wait_for(lambda: n_msgs("a") == count and n_msgs("b") == count, 60,
               "both runs hold the whole sequence", poll=0.3)
    time.sleep(3)  # sync ticks: every closed window formed and written
    t.eq(da.terminate(), 0, "(a): exit 0 on SIGTERM")
    t.eq(db_.terminate(), 0, "(b): exit 0 on SIGTERM")

    per = {}
    for run in ("a", "b"):
        per[run] = dict(h.query("SELECT name, messages FROM devices WHERE messages > 0",
                                path=dbs[run]))
    t.eq(per["b"], exp["valid"], "(b): messages per device equal ntm-sim's expect")
    t.eq(per["a"], exp["valid"], "(a), killed many times: messages per device equal "
         "ntm-sim's expect (no acknowledged message lost)")
    # devices with messages lost (or stored twice) in (a): their village/kind set aside
    off = {d for d in exp["valid"] if per["a"].get(d) != exp["valid"][d]}
    where = {d: (v, k) for d, k, v in devices}
    aside_vk = {where[d] for d in off if d in where}

    ra, twice_a, alerts_a, fa = rows_of(dirs["a"])
    rb, twice_b, alerts_b, fb = rows_of(dirs["b"])
    t.eq(twice_b, [], "(b): every indicator row formed once")
    t.eq(twice_a, [], "(a): every indicator row formed once, across the kills")
    hours_b = sorted({k[3] for k in rb if k[2] == "hour"})
    days_b = sorted({k[3] for k in rb if k[2] == "day"})
    print(f"(b): {fb} batches, {len(rb)} rows, hours {hours_b[0] if hours_b else None} .. "
          f"{hours_b[-1] if hours_b else None} ({len(hours_b)}), days {days_b}; "
          f"(a): {fa} batches, {len(ra)} rows")
    t.ok(len(hours_b) >= 5 and len(days_b) >= 1, "(b) closed 5 hours and a day at least")
    t.eq(sorted(ra), sorted(rb), "the same windows closed in both runs")
    cmp_a = {k: v for k, v in ra.items() if (k[0], k[1]) not in aside_vk}
    cmp_b = {k: v for k, v in rb.items() if (k[0], k[1]) not in aside_vk}
    diff = {k: (cmp_a.get(k), cmp_b.get(k)) for k in set(cmp_a) | set(cmp_b)
            if cmp_a.get(k) != cmp_b.get(k)}
    t.eq(sorted(diff.items())[:10], [], f"indicator rows equal in (a) and (b) "
         f"({len(cmp_b)} rows compared, {len(rb) - len(cmp_b)} set aside for messages "
         f"missing in (a))")
    t.eq(sorted(set(alerts_a)), sorted(set(alerts_b)), "the same alerts in (a) and (b) "
         "(ts, village, kind, device, type), none missing")
    extra = len(alerts_a) - len(set(alerts_a))
    t.ok(extra == 0 and len(alerts_b) == len(set(alerts_b)),
         "each alert sent once, in (a) across its kills as in (b)",
         f"(a) sent {len(alerts_a)} alerts for {len(set(alerts_a))} distinct ones: {extra} "
         f"sent again under new ids after restarts; (b) sent {len(alerts_b)}; e.g. "
         + repr(sorted(a for a in set(alerts_a) if alerts_a.count(a) > 1)[:3]))
    return {"kills": kills, "rows": len(rb), "set_aside": len(rb) - len(cmp_b),
            "alerts": len(alerts_b), "alerts_a": len(alerts_a)}


def main(h, t):
    port = h.start_broker()
    devices = h.sim_devices(VILLAGES, NDEV)
    cfg = h.write_config(VILLAGES, devices, storage={"commit_ms": COMMIT_MS})
    t0 = time.monotonic()
    k9 = part_kill9(h, t, port, cfg)
    t1 = time.monotonic()
    st = part_sigterm(h, t, port, cfg)
    t2 = time.monotonic()
    ind = part_indicators(h, t, port, devices)
    t3 = time.monotonic()
    print(f"SUMMARY crash_cycles: kill -9 x {KILLS} at {RATE} msg/s: {k9['lost']} of "
          f"{k9['published']} acknowledged messages lost in {k9['runs']} runs, largest loss "
          f"per kill {k9['largest']} (bound {LOSS_BOUND}), {k9['dups']} stored twice ({t1 - t0:.0f} s); "
          f"SIGTERM x {TERMS}: {st['lost']} lost, {st['dups']} twice ({t2 - t1:.0f} s); "
          f"indicators: (a) killed {ind['kills']} times, {ind['rows']} rows and "
          f"{ind['alerts']} alerts compared ((a) sent {ind['alerts_a']}), {ind['set_aside']} rows "
          f"set aside ({t3 - t2:.0f} s)")


if __name__ == "__main__":
    harness.run(main)
