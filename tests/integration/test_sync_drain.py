#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_sync_drain: once the uplink delivers again, the backlog is sent at once,
not each batch when its own retry back-off ends; a wait the server asked for is
still honoured.

A commune replays 2026-11-21 one hour per step (each step forms one batch, as in
test_sync_faults). The receiver (tests/tools/receiver.py):

  1. refuses one batch's credentials (401: the 5-minute slow schedule), answers
     another 503 five times and then 429 with Retry-After: 3, while the other
     batches are accepted   -> the 429 one is tried again no sooner than 3 s
     later although other batches are delivered meanwhile
  2. answers one batch 429 with Retry-After: 600      -> it waits 10 minutes
  3. goes away (connection refused) until the batches formed meanwhile wait
     several seconds each, then comes back              -> every one of them is
     delivered before the due time it had when the receiver came back
  4. goes away again; the daemon is stopped while the batches wait and started
     once the receiver is back (no failure in this run yet) -> the same
Through 3 and 4 the batches of 1 (401) and 2 (429 + Retry-After) are not tried
again: their due times in the database are unchanged and the receiver never
saw them again.

The checks compare the daemon's own wall-clock times in its database (done_ms of
each delivery against the next_ms it had when the receiver came back), and the
order of the receiver's requests, not the speed of the machine.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

DAY = "2026-11-21"
TOKEN = "drain-Token.7"
GW = S.GATEWAY_ID
VILLAGES = ["thon-a", "thon-b"]
DEVICES = [("spk-a", "speaker", "thon-a"), ("cam-a", "camera", "thon-a"),
           ("ap-b", "wifi", "thon-b")]
WHERE = {d: (v, k) for d, k, v in DEVICES}
STEP_GAP = 1.3  # s between steps: more than one sync tick (1 s), so a batch per step
RA_SHORT = 3    # s: Retry-After of the 429 in phase 1
RA_LONG = 600   # s: Retry-After of the 429 in phase 2 (longer than the whole test)


def T(hh, mm=0, ss=0):
    return S.ts(DAY, hh, mm, ss)


def msg(t, dev, channel, **payload):
    v, k = WHERE[dev]
    return (t, S.topic(v, k, dev, channel), payload)


def hour_step(hh):
    """Heartbeats, a wifi report and a tamper at hh:30: hour hh-1 closes, one batch."""
    return [msg(T(hh), d, "heartbeat", interval_s=3600) for d, _, _ in DEVICES] + [
        msg(T(hh, 20), "ap-b", "stats", clients=2, new_sessions=1, rx_bytes=1000 * (hh + 1),
            tx_bytes=500, client_macs=["02:00:00:00:00:01"]),
        msg(T(hh, 30), "cam-a", "event", type="tamper"),
    ]


def now_ms():
    return int(time.time() * 1000)


class Run(S.HourlyRun):
    def __init__(self, h, port, rx, cfg):
        super().__init__(h, port, rx, cfg, hour_step, "ntm-drain-pub", gap=STEP_GAP)

    def rows(self):
        """seq -> (state, attempts, next_ms, done_ms, server_due_ms)"""
        return {r[0]: r[1:] for r in self.h.query(
            "SELECT seq, state, attempts, next_ms, done_ms, server_due_ms FROM deliveries")}

    def wait_row(self, seq, pred, timeout, what):
        """Until pred(the row of seq, or None) holds; returns that row."""
        return S.wait_for(lambda: (lambda w: w if pred(w) else None)(self.rows().get(seq)),
                          timeout, what, poll=0.05, daemon=self.d)

    def wait_delivered(self, seqs, timeout, what):
        acc = lambda: set(self.rx.accepted_seqs)  # noqa: E731
        try:
            S.wait_for(lambda: all(self.rows().get(s, ("",))[0] == "delivered" and s in acc()
                                   for s in seqs), timeout, what, poll=0.1, daemon=self.d)
        except harness.TestFailure as e:
            now = now_ms()
            rows = self.rows()
            left = [f"seq {s}: {rows[s][0]}, {rows[s][1]} attempts, due in "
                    f"{(rows[s][2] - now) / 1000:.1f} s" for s in seqs
                    if s in rows and rows[s][0] != "delivered"]
            raise harness.TestFailure(f"{e}; undelivered: " + "; ".join(left))

    def requests_of(self, seq):
        return [q for q in self.rx.requests if q["batch_id"] == f"{GW}:{seq}"]


def main(h, t):
    port = h.start_broker()
    rx = S.start_receiver(TOKEN)
    try:
        scenario(h, t, port, rx)
    finally:
        rx.stop()


def away_until_waiting(t, r, what, n_long, timeout=120):
    """The receiver is away: steps until batches wait on back-off, then until at
    least n_long of those formed while away wait 4 s or more and one waits 8 s or
    more. Returns the seqs formed while away."""
    first = max(r.formed()) + 1
    r.step(4)

    def long_enough():
        now = now_ms()
        waits = [nx - now for s, (st, _, nx, _, _) in r.rows().items()
                 if s >= first and st == "pending"]
        return len([w for w in waits if w >= 4000]) >= n_long and max(waits) >= 8000
    S.wait_for(long_enough, timeout, f"{what}: back-offs of several seconds", poll=0.2,
               daemon=r.d)
    return [s for s in r.formed() if s >= first]


def check_drain(t, r, what, backlog, snap):
    """Every batch of the backlog was delivered before the due time it had when the
    receiver came back (snap: seq -> next_ms then), at least those due more than
    1 s after the first delivery since."""
    rows = r.rows()
    done = {s: rows[s][3] for s in backlog}
    first = min(d for d in done.values())
    late = {s: nx for s, nx in snap.items() if nx > first + 1000}
    t.require(len(late) >= 2, f"{what}: at least 2 batches waited more than 1 s past the "
              "first delivery (the check below means something)",
              f"first delivery at +{first - min(snap.values())} ms; due times {snap}")
    early = [s for s in late if done[s] < late[s]]
    t.eq(sorted(early), sorted(late), f"{what}: each of the {len(late)} batches due more than "
         "1 s after the first delivery was delivered before its due time (the drain did not "
         "wait for their back-offs)")
    detail = ", ".join(f"{s}: due {(snap[s] - first) / 1000:+.1f} s, done "
                       f"{(done[s] - first) / 1000:+.1f} s" for s in sorted(snap))
    t.ok(max(done.values()) < max(snap.values()), f"{what}: the whole backlog delivered before "
         "the latest of its due times", detail)
    print(f"({what}: relative to the first delivery: {detail})")


def check_held(t, r, what, held):
    """held: seq -> (next_ms, requests) recorded when its wait began: not tried since."""
    rows = r.rows()
    for s, (nx, nreq) in held.items():
        st, att, nx_now, _, _ = rows[s]
        t.ok(st == "pending" and nx_now == nx and len(r.requests_of(s)) == nreq,
             f"{what}: batch {s}, waiting as the server asked, was not tried again (due time "
             "unchanged in the database, no new request)",
             f"state {st}, {att} attempts, due {nx_now} (was {nx}), "
             f"{len(r.requests_of(s))} requests (was {nreq})")


def scenario(h, t, port, rx):
    tok = S.token_file(h, TOKEN)
    cfg = S.write_config(h, VILLAGES, DEVICES, uplinks=[S.http_uplink(rx, tok)],
                         sync={"interval_s": 1, "grace_s": 60}, plugin_dir_=S.plugin_dir())
    r = Run(h, port, rx, cfg)
    r.start()
    t0 = time.monotonic()
    r.step(1)
    r.wait_delivered(r.formed(), 30, "the first batch delivered")

    # ---- 1. a 401 and a 429 with Retry-After among deliveries that succeed
    z = max(r.formed()) + 1
    rx.answer(401, n=1, batch_id=f"{GW}:{z}", body={"error": "token refused (test)"})
    x = z + 1
    rx.answer(503, n=5, batch_id=f"{GW}:{x}", body={"error": "busy (test)"})
    r429 = rx.answer(429, n=1, batch_id=f"{GW}:{x}", retry_after=RA_SHORT,
                     body={"error": "slow down (test)"})
    r.step(1)
    zrow = r.wait_row(z, lambda v: v and v[1] == 1, 30, f"batch {z} refused (401)")
    t.ok(zrow[0] == "pending" and zrow[4] == zrow[2] and zrow[2] - now_ms() > 250_000,
         f"phase 1: batch {z}, refused with 401, waits the slow schedule (5 min), as the server "
         "asked (server_due_ms = next_ms)", repr(zrow))
    # steps (one delivered batch each) until x is through its 503s and its 429
    deadline = time.monotonic() + 120
    after429 = None  # x's row as first seen after its 429 (6th attempt)
    while r429.hits < 1 or r.rows().get(x, ("",))[0] != "delivered":
        if time.monotonic() > deadline:
            raise harness.TestFailure(f"batch {x} not delivered: {r.rows().get(x)}, "
                                      f"requests {r.requests_of(x)}")
        r.step(1)
        if after429 is None and r429.hits:
            after429 = r.rows().get(x)
    r.wait_delivered([s for s in r.formed() if s != z], 30, "phase 1: the batches delivered")
    reqs = rx.requests
    i429 = next(i for i, q in enumerate(reqs) if q["batch_id"] == f"{GW}:{x}"
                and q["status"] == 429)
    nxt = next(q for q in reqs[i429 + 1:] if q["batch_id"] == f"{GW}:{x}")
    between = [q["seq"] for q in reqs[i429 + 1:] if q["t"] < nxt["t"] and q["status"] == 202]
    gap = nxt["t"] - reqs[i429]["t"]
    t.ok(between, f"phase 1: other batches were delivered while batch {x} waited after its 429 "
         "(each delivery could have made it due)", f"requests {reqs[i429:]}")
    t.ok(gap >= RA_SHORT - 0.05, f"phase 1: after 429 with Retry-After: {RA_SHORT}, batch {x} "
         f"was tried again no sooner ({gap:.2f} s later, batches {between} delivered meanwhile)")
    if after429 and after429[1] == 6 and after429[2] > after429[4]:
        # informative: our back-off was the longer wait, so a delivery of another
        # batch could have made x due before the Retry-After had it not been kept
        print(f"(phase 1: after the 429 our back-off for batch {x} ran "
              f"{(after429[2] - after429[4]) / 1000:.1f} s past the Retry-After)")
    print(f"(phase 1 done at {time.monotonic() - t0:.1f} s)")
    held = {z: (zrow[2], len(r.requests_of(z)))}

    # ---- 2. a 429 with a long Retry-After
    w = max(r.formed()) + 1
    rx.answer(429, n=1, batch_id=f"{GW}:{w}", retry_after=RA_LONG,
              body={"error": "come back in 10 minutes (test)"})
    r.step(1)
    wrow = r.wait_row(w, lambda v: v and v[1] == 1, 30, f"batch {w} answered 429")
    t.ok(wrow[0] == "pending" and wrow[4] == wrow[2] and wrow[2] - now_ms() > (RA_LONG - 30) * 1000,
         f"phase 2: batch {w} waits the {RA_LONG} s the server asked for", repr(wrow))
    held[w] = (wrow[2], len(r.requests_of(w)))
    print(f"(phase 2 done at {time.monotonic() - t0:.1f} s)")

    # ---- 3. the receiver goes away; batches wait on back-off; it comes back
    rx.go_away()
    backlog = away_until_waiting(t, r, "phase 3", 3)
    snap = {s: r.rows()[s][2] for s in backlog}
    rx.come_back()
    r.step(1)  # data keeps coming: a new batch, delivered at once
    backlog += [s for s in r.formed() if s > max(backlog)]
    r.wait_delivered(backlog, 90, "phase 3: the backlog delivered once the receiver is back")
    check_drain(t, r, "phase 3", backlog, snap)
    check_held(t, r, "phase 3", held)
    print(f"(phase 3 done at {time.monotonic() - t0:.1f} s)")

    # ---- 4. away again; a restart while batches wait; the first delivery of the new run
    rx.go_away()
    backlog = away_until_waiting(t, r, "phase 4", 2)
    t.eq(r.d.terminate(), 0, "phase 4: the daemon stops on SIGTERM while batches wait")
    snap = {s: r.rows()[s][2] for s in backlog}
    rx.come_back()
    r.start()
    r.step(1)
    backlog += [s for s in r.formed() if s > max(backlog)]
    r.wait_delivered(backlog, 90, "phase 4: the backlog delivered after the restart")
    check_drain(t, r, "phase 4", backlog, snap)
    check_held(t, r, "phase 4 (after the restart)", held)
    print(f"(phase 4 done at {time.monotonic() - t0:.1f} s)")

    # ---- the whole run
    t.eq(rx.errors, [], "every request well-formed, every body valid against the schema")
    want = [s for s in r.formed() if s not in held]
    t.eq(rx.accepted_seqs, want, "every batch but the two held by the server was accepted "
         "once")
    t.eq(r.d.terminate(), 0, "the daemon stops on SIGTERM with exit code 0")


if __name__ == "__main__":
    harness.run(main)
