# SPDX-License-Identifier: GPL-3.0-or-later
"""test_restart_session: the daemon's persistent session (fixed client id,
clean session off). Messages published with QoS 1 while the daemon is stopped
are queued by the broker and arrive when it starts again."""
from harness import run

VILLAGES = ["a", "b", "c"]
K = 300   # while the daemon runs
M = 3000  # while it is stopped


def main(h, t):
    h.start_broker()
    cfg = h.write_config(VILLAGES)
    d1 = h.start_daemon(cfg)
    _, e1 = h.sim("--villages", ",".join(VILLAGES), "--devices", 9, "--count", K, "--seed", 1)
    d1.wait_counts(K, timeout=60)
    t.eq(d1.terminate(), 0, "first run: exit code after SIGTERM")

    _, e2 = h.sim("--villages", ",".join(VILLAGES), "--devices", 9, "--count", M, "--seed", 2,
                  "--qos", 1)
    t.eq(e2["acked"], M, "the broker acknowledged every message while the daemon was down")

    d2 = h.start_daemon(cfg)
    t.ok(True, "second run is READY")
    # STATUS counts what was ever accepted into this database (counters)
    st = d2.wait_counts(K + M, timeout=60)
    t.ok(True, f"second run STATUS: {st['text']}")
    t.eq(d2.terminate(), 0, "second run: exit code after SIGTERM")

    n = h.query("SELECT COUNT(*) FROM messages")[0][0]
    t.eq(n, K + M, "every message is in the database (before, during and after the stop)")
    per_dev = dict(h.query("SELECT d.name, COUNT(*) FROM messages m JOIN devices d "
                           "ON d.id = m.device GROUP BY d.name"))
    want = dict(e1["valid"])
    for k, v in e2["valid"].items():
        want[k] = want.get(k, 0) + v
    t.eq(per_dev, want, "messages per device over both runs")
    acc = h.query("SELECT value FROM counters WHERE name = 'accepted'")
    t.eq(acc[0][0] if acc else None, K + M, "counter accepted")


run(main)
