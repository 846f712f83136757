# SPDX-License-Identifier: GPL-3.0-or-later
"""test_sigterm_flush: publish N messages as fast as possible and SIGTERM the
daemon the moment STATUS first reports all N accepted. Commits are made rare
(storage.commit_ms 10000, commit_max 100000), so what SIGTERM finds is still
an open transaction: all N must be in the database after exit 0."""
import signal
import time

from harness import run

N = 5000
VILLAGES = ["a", "b"]


def main(h, t):
    h.start_broker()
    cfg = h.write_config(VILLAGES, storage={"commit_ms": 10000, "commit_max": 100000,
                                             "sync_ms": 60000})
    d = h.start_daemon(cfg)
    t0 = time.monotonic()
    p, exp = h.sim("--villages", ",".join(VILLAGES), "--devices", 12, "--count", N,
                   "--qos", 1, "--inflight", 1000)
    t.eq(exp["acked"], N, "every message acknowledged by the broker")

    st = d.wait_counts(N, timeout=60)
    before = h.query("SELECT COUNT(*) FROM messages")[0][0]
    d.signal(signal.SIGTERM)
    since = time.monotonic() - t0
    t.ok(True, f"SIGTERM {since:.2f} s after the first publish, at STATUS '{st['text']}'")
    print(f"(rows committed before SIGTERM: {before} of {N}"
          f"{'; the flush at SIGTERM is what is tested' if before < N else ''})")
    rc = d.terminate()
    t.eq(rc, 0, "exit code after SIGTERM")

    n = h.query("SELECT COUNT(*) FROM messages")[0][0]
    t.eq(n, N, "all messages are in the database")
    per_dev = dict(h.query("SELECT d.name, COUNT(*) FROM messages m JOIN devices d "
                           "ON d.id = m.device GROUP BY d.name"))
    t.eq(per_dev, exp["valid"], "messages per device")
    acc = h.query("SELECT value FROM counters WHERE name = 'accepted'")
    t.eq(acc[0][0] if acc else None, N, "counter accepted")


run(main)
