"""test_tail_recovery: what a kill -9 finds not yet committed comes back from the
tail journal. The transaction is committed rarely here (storage.sync_ms 60000,
commit_max 100000) while the tail journal is written every 50 ms
(storage.commit_ms), so once the daemon has accepted all N messages and 0.5 s
have passed, the database holds few or none of them and the tail journal all of
them. After kill -9 and a restart, all N must be stored exactly once, per device
as published, with the counters and the log saying what happened. Without the
tail journal this test loses what was not committed (nearly all of N).
The daemon runs as under systemd with RuntimeDirectory=: $RUNTIME_DIRECTORY
names a directory, and the journal must be there (on a tmpfs in production),
not beside the database."""
import os
import re
import signal
import time

from harness import run

N = 3000
VILLAGES = ["a", "b", "c"]


def main(h, t):
    run_dir = os.path.join(h.tmp, "run")
    os.mkdir(run_dir, 0o750)
    os.environ["RUNTIME_DIRECTORY"] = run_dir
    h.start_broker()
    cfg = h.write_config(VILLAGES, storage={"commit_ms": 50, "commit_max": 100000,
                                             "sync_ms": 60000})
    d = h.start_daemon(cfg)
    p, exp = h.sim("--villages", ",".join(VILLAGES), "--devices", 30, "--count", N,
                   "--qos", 1, "--inflight", 500)
    t.eq(exp["acked"], N, "every message acknowledged by the broker")
    d.wait_counts(N, timeout=60)
    time.sleep(0.5)  # ten journal intervals: everything accepted is in the tail journal
    committed = h.query("SELECT COUNT(*) FROM messages")[0][0]
    d.kill()
    t.ok(committed < N, f"before the kill the database holds {committed} of {N} (the rest is "
         "only in the tail journal)")

    d2 = h.start_daemon(cfg)
    d2.wait_counts(N, timeout=60)
    rc = d2.terminate()
    t.eq(rc, 0, "exit code after SIGTERM")
    n = h.query("SELECT COUNT(*) FROM messages")[0][0]
    t.eq(n, N, "every acknowledged message is in the database after the restart")
    per_dev = dict(h.query("SELECT d.name, COUNT(*) FROM messages m JOIN devices d "
                           "ON d.id = m.device GROUP BY d.name"))
    t.eq(per_dev, exp["valid"], "messages per device (none lost, none stored twice)")
    acc = h.query("SELECT value FROM counters WHERE name = 'accepted'")
    t.eq(acc[0][0] if acc else None, N, "counter accepted")
    err = d2.stderr_text()
    m = re.search(r"tail journal \S+: (\d+) accepted messages of a run that did not stop "
                  r"cleanly", err)
    t.ok(m is not None and int(m.group(1)) == N - committed,
         f"the restart logs the {N - committed} messages read back from the tail journal",
         err[-2000:])
    tail = os.path.join(run_dir, os.path.basename(h.db_path) + "-tail")
    t.ok(not os.path.exists(h.db_path + "-tail"), "no tail journal beside the database")
    t.ok(os.path.exists(tail) and os.path.getsize(tail) == 0,
         "after a clean stop the tail journal is empty",
         f"{tail}: {os.path.getsize(tail) if os.path.exists(tail) else 'missing'}")


run(main)
