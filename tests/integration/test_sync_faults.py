#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_sync_faults: delivery through a misbehaving provincial receiver.

A commune replays 2026-11-20 one hour per step (a step closes the previous hour
and raises one tamper alert, so each step forms one batch). Meanwhile the
receiver (tests/tools/receiver.py) answers:

  1. 503 to the next 6 requests             -> retried with backoff, delivered
  2. 429 with Retry-After: 1, twice          -> the next try waits >= 1 s
  3. goes away (connection refused) ~4 s     -> batches wait, delivered when it is back
  4. 422 to one chosen batch                 -> that batch is quarantined with the
     server's reason (ntmctl batches, the daemon log), the next ones go on;
     `ntmctl requeue SEQ` sends it again and it is accepted
  5. 503 while batches pile up, then a request held in flight while the daemon
     gets SIGTERM, then a new start    -> no seq reused, nothing lost, the
     in-flight one answered 409 (already accepted) or delivered again

At the end every batch the daemon formed (its batches table) was accepted
exactly once after deduplication (the receiver's accepted set is seqs 1..N),
every closed hour's rows and every alert arrived exactly once, and every body
passed the schema.
"""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

DAY = "2026-11-20"
TOKEN = "faults-Token.42"
GW = S.GATEWAY_ID
VILLAGES = ["thon-a", "thon-b"]
DEVICES = [("spk-a", "speaker", "thon-a"), ("cam-a", "camera", "thon-a"),
           ("ap-b", "wifi", "thon-b")]
WHERE = {d: (v, k) for d, k, v in DEVICES}
# rows of one closed hour: speaker 7, camera 4 (no stats report), wifi 5
ROWS_PER_HOUR = 16
STEP_GAP = 1.3  # s between steps: more than one sync tick (1 s), so a batch per step


def T(hh, mm=0, ss=0):
    return S.ts(DAY, hh, mm, ss)


def msg(t, dev, channel, **payload):
    v, k = WHERE[dev]
    return (t, S.topic(v, k, dev, channel), payload)


def hour_step(hh):
    """Hour hh: heartbeats (interval 3600: online for 3 h), a wifi report, a tamper at
    hh:30, which moves the watermark past (hh-1):00 + 1 h + 60 s grace: hour hh-1 closes."""
    return [msg(T(hh), d, "heartbeat", interval_s=3600) for d, _, _ in DEVICES] + [
        msg(T(hh, 20), "ap-b", "stats", clients=2, new_sessions=1, rx_bytes=1000 * (hh + 1),
            tx_bytes=500, client_macs=["02:00:00:00:00:01", "02:00:00:00:00:02"]),
        msg(T(hh, 30), "cam-a", "event", type="tamper"),
    ]


class Run(S.HourlyRun):
    def __init__(self, h, t, port, rx, cfg):
        super().__init__(h, port, rx, cfg, hour_step, "ntm-faults-pub", gap=STEP_GAP)
        self.t = t

    def states(self):
        return dict(self.h.query("SELECT seq, state FROM deliveries"))

    def wait_delivered(self, timeout, what):
        """Until every formed batch is delivered (or quarantined) and the receiver has it."""
        def done():
            st = self.states()
            acc = set(self.rx.accepted_seqs)
            return st and all(v == "quarantined" or (v == "delivered" and s in acc)
                              for s, v in st.items())
        try:
            S.wait_for(done, timeout, what, poll=0.2, daemon=self.d)
        except harness.TestFailure as e:
            now = time.time() * 1000
            acc = set(self.rx.accepted_seqs)
            left = [f"seq {s}: {st}, {a} attempts, next try in {(nx - now) / 1000:.0f} s, "
                    f"last error {le!r}, receiver {'has' if s in acc else 'lacks'} it"
                    for s, st, a, nx, le in self.h.query(
                        "SELECT seq, state, attempts, next_ms, last_error FROM deliveries"
                        " WHERE state != 'delivered' OR seq NOT IN (%s)"
                        % ",".join(map(str, acc or [0])))]
            raise harness.TestFailure(f"{e}; undelivered: " + "; ".join(left))


def main(h, t):
    port = h.start_broker()
    rx = S.start_receiver(TOKEN)
    try:
        scenario(h, t, port, rx)
    finally:
        rx.stop()


def scenario(h, t, port, rx):
    tok = S.token_file(h, TOKEN)
    cfg = S.write_config(h, VILLAGES, DEVICES, uplinks=[S.http_uplink(rx, tok)],
                         sync={"interval_s": 1, "grace_s": 60}, plugin_dir_=S.plugin_dir())
    r = Run(h, t, port, rx, cfg)
    r.start()
    t0 = time.monotonic()

    # ---- 1. 503 for the next 6 requests
    r503 = rx.answer(503, n=6, body={"error": "service unavailable (test)"})
    r.step(4)
    r.wait_delivered(60, "the batches of phase 1 (503 x 6) delivered")
    t.eq(r503.hits, 6, "phase 1: the receiver answered 503 six times")
    seqs1 = r.formed()
    t.ok(len(seqs1) >= 4, f"phase 1: a batch per step ({len(seqs1)} formed)")
    t.eq(rx.accepted_seqs, seqs1, "phase 1: every batch delivered despite the 503s")
    print(f"(phase 1 done at {time.monotonic() - t0:.1f} s)")

    # ---- 2. 429 with Retry-After: 1, twice
    r429 = rx.answer(429, n=2, retry_after=1, body={"error": "slow down (test)"})
    r.step(2)
    r.wait_delivered(60, "the batches of phase 2 (429 x 2) delivered")
    t.eq(r429.hits, 2, "phase 2: the receiver answered 429 twice")
    reqs = rx.requests
    gaps = []
    for i, q in enumerate(reqs):
        if q["status"] == 429:
            nxt = next((x for x in reqs[i + 1:] if x["batch_id"] == q["batch_id"]), None)
            gaps.append(round(nxt["t"] - q["t"], 2) if nxt else None)
    t.ok(len(gaps) == 2 and all(g is not None and g >= 0.95 for g in gaps),
         "phase 2: after a 429 with Retry-After: 1 the same batch is tried again no "
         "sooner than 1 s later", f"gaps {gaps}")
    print(f"(phase 2 done at {time.monotonic() - t0:.1f} s; gaps after 429: {gaps})")

    # ---- 3. the receiver goes away: connection refused
    before = len(r.formed())
    rx.go_away()
    away_at = time.monotonic()
    r.step(3)
    pending = [s for s, v in r.states().items() if v == "pending"]
    t.ok(len(r.formed()) > before and pending,
         "phase 3: batches formed while the receiver is away stay pending",
         f"formed {r.formed()}, states {r.states()}")
    time.sleep(max(0.0, 4.0 - (time.monotonic() - away_at)))
    rx.come_back()
    r.wait_delivered(90, "the batches formed while the receiver was away delivered")
    t.eq(rx.accepted_seqs, r.formed(), "phase 3: every batch arrived once the receiver was back")
    err = r.d.stderr_text()
    t.ok("not delivered" in err and "delivers again" in err,
         "phase 3: the daemon logs the failing uplink and its recovery",
         "no 'not delivered' / 'delivers again' line")
    print(f"(phase 3 done at {time.monotonic() - t0:.1f} s)")

    # ---- 4. 422 for one chosen batch: quarantine, the rest go on, requeue
    q = max(r.formed()) + 1
    qid = f"{GW}:{q}"
    reason = "indicator set refused by the test receiver (422)"
    r422 = rx.reject(qid, reason=reason)
    r.step(3)
    S.wait_for(lambda: r.states().get(q) == "quarantined", 30,
               f"batch {qid} quarantined", daemon=r.d)
    r.wait_delivered(60, "the batches after the quarantined one delivered")
    later = [s for s in r.formed() if s > q]
    t.ok(len(later) >= 2 and set(later) <= set(rx.accepted_seqs),
         f"phase 4: the batches after {qid} went on ({later})")
    t.ok(qid not in rx.accepted_ids, f"phase 4: {qid} was not accepted")
    p = h.ctl("--config", cfg, "batches", "--wide")  # --wide: the reason on the batch's line
    line = next((ln for ln in p.stdout_text.splitlines() if ln.split()[:1] == [str(q)]), "")
    t.ok(p.returncode == 0 and "quarantined" in line and reason in line,
         f"phase 4: `ntmctl batches` shows {q} quarantined with the server's reason",
         f"exit {p.returncode}, line {line!r}\n{p.stdout_text}{p.stderr_text}")
    p = h.ctl("--config", cfg, "--json", "batches")
    try:
        js = json.loads(p.stdout_text)
        ent = [b for b in js["batches"] if b["seq"] == q]
        t.ok(js["quarantined"] == 1 and ent and ent[0]["state"] == "quarantined"
             and reason in (ent[0]["last_error"] or "") and "422" in ent[0]["last_error"],
             "phase 4: `ntmctl --json batches` has the quarantined delivery and HTTP 422 "
             "with the reason", repr(js)[:800])
    except (ValueError, KeyError) as e:
        t.ok(False, "phase 4: `ntmctl --json batches` prints JSON", f"{e}: {p.stdout_text!r}")
    logl = [ln for ln in r.d.stderr_text().splitlines() if qid in ln and "quarantine" in ln]
    t.ok(logl and reason in logl[0], f"phase 4: the daemon log names {qid} as quarantined, "
         "with the reason", repr(logl[:2]))
    # the operator requeues it; the receiver now accepts it
    rx.remove(r422)
    p = h.ctl("--config", cfg, "requeue", q)
    t.ok(p.returncode == 0, f"phase 4: `ntmctl requeue {q}` succeeds",
         p.stdout_text + p.stderr_text)
    requeued_at = time.monotonic()
    try:
        rx.wait(lambda x: qid in x.accepted_ids, 70, f"{qid} accepted after the requeue")
        took = time.monotonic() - requeued_at
        t.ok(True, f"phase 4: {qid} arrived {took:.1f} s after the requeue")
    except TimeoutError as e:
        t.ok(False, str(e), f"states {r.states()}")
    S.wait_for(lambda: r.states().get(q) == "delivered", 15, f"{qid} delivered", daemon=r.d)
    t.eq(r422.hits, 1, f"phase 4: {qid} was refused once and not retried until requeued")
    print(f"(phase 4 done at {time.monotonic() - t0:.1f} s)")

    # ---- 5. a restart in the middle: batches waiting, one request in flight
    r503b = rx.answer(503, n=None, body={"error": "down for maintenance (test)"})
    before_max = max(r.formed())
    r.step(2)
    waiting = [s for s in r.formed() if s > before_max]
    t.ok(len(waiting) >= 2 and all(r.states()[s] == "pending" for s in waiting),
         f"phase 5: batches {waiting} wait while the receiver answers 503")
    rx.remove(r503b)
    held = rx.slow(3.0, n=1)  # the next request is held 3 s, then accepted
    S.wait_for(lambda: held.hits >= 1, 60, "a request in flight to the receiver", daemon=r.d)
    rc = r.d.terminate()
    t.eq(rc, 0, "phase 5: SIGTERM with a request in flight: exit code 0")
    max_before_restart = max(r.formed())
    time.sleep(3.2)  # the held request is answered (accepted) after the daemon left
    r.start()
    r.step(2)
    after = [s for s in r.formed() if s > max_before_restart]
    t.ok(len(after) >= 2, f"phase 5: new batches after the restart ({after})")
    r.wait_delivered(90, "every batch delivered after the restart")
    print(f"(phase 5 done at {time.monotonic() - t0:.1f} s; duplicates answered 409: "
          f"{rx.duplicates} {rx.duplicate_ids})")

    # ---- the whole run
    formed = r.formed()
    t.eq(formed, list(range(1, len(formed) + 1)), "the daemon's seqs are 1..N, none reused "
         "or skipped across the restart")
    t.eq(rx.accepted_seqs, formed, f"every one of the {len(formed)} formed batches was "
         "accepted exactly once after deduplication")
    t.eq(set(r.states().values()), {"delivered"}, "every delivery is recorded as delivered")
    t.eq(rx.errors, [], "every request well-formed, every body valid against the schema, "
         "a retried batch_id always with the same content")
    # duplicates are allowed (at least once) only for batches that were in flight at
    # SIGTERM: the server may have accepted them while the daemon stopped waiting;
    # the uplink keeps at most 4 in flight
    t.ok(len(set(rx.duplicate_ids)) <= 4,
         "at most the batches in flight at SIGTERM (4) were sent again after being accepted",
         repr(rx.duplicate_ids))

    t.ok(1 <= rx.max_in_flight <= 4, f"at most 4 batches in flight at once (the receiver "
         f"saw up to {rx.max_in_flight})")

    rows = rx.rows()
    keys = [S.row_key(x) for x in rows]
    t.eq(len(keys), len(set(keys)), "no indicator row arrived twice")
    hours = sorted({x["start"] for x in rows if x["period"] == "hour"})
    closed = r.next_hour - 1  # the last step closed the hour before it
    t.eq(hours, [S.iso(T(hh)) for hh in range(closed)],
         f"rows of every closed hour 00:00..{closed - 1:02d}:00 arrived, none missing")
    t.eq(len(rows), ROWS_PER_HOUR * closed, f"{ROWS_PER_HOUR} rows per closed hour")
    tam = sorted((x for x in rows if x["name"] == "tamper_events"), key=lambda x: x["start"])
    t.eq([x["value"] for x in tam], [1] * closed, "one tamper event counted in every hour")
    alerts = rx.alerts()
    ids = sorted(int(a["id"].rsplit(":", 1)[1]) for a in alerts)
    t.eq(ids, list(range(1, r.next_hour + 1)), "alerts gw-test-01:a:1..N (one tamper per "
         "hour), each exactly once")
    t.eq(sorted(a["ts"] for a in alerts), [S.iso(T(hh, 30)) for hh in range(r.next_hour)],
         "every tamper alert with its ts")
    t.eq(r.d.terminate(), 0, "the daemon stops on SIGTERM with exit code 0")
    print(f"published {r.published} messages in {r.next_hour} hour steps; "
          f"{len(formed)} batches; {len(rx.requests)} requests")


if __name__ == "__main__":
    harness.run(main)
