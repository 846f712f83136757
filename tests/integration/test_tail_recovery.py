# SPDX-License-Identifier: GPL-3.0-or-later
"""test_tail_recovery: what a kill -9 finds not yet committed comes back from the
tail journal. Here the transaction is committed only when a burst is over (no
message for one storage.commit_ms, 300 ms; storage.sync_ms 60000 and
commit_max 100000 keep the other reasons away), and each message is in the tail
journal (a mapped file) as soon as it is accepted. The test reads the journal
file as the burst ends: once it holds all N entries, the daemon is killed at once, inside the
300 ms before that commit, so the database holds none or few of them. After
the restart all N must be stored exactly once, per device as published, with
the counters and the log saying what happened. Without the tail journal this
test loses what was not committed (nearly all of N).
The daemon runs as under systemd with RuntimeDirectory=: $RUNTIME_DIRECTORY
names a directory, and the journal must be there (on a tmpfs in production),
not beside the database."""
import os
import re
import time

from harness import run, tail_journal_entries

N = 3000
VILLAGES = ["a", "b", "c"]


def main(h, t):
    run_dir = os.path.join(h.tmp, "run")
    os.mkdir(run_dir, 0o750)
    os.environ["RUNTIME_DIRECTORY"] = run_dir
    h.start_broker()
    cfg = h.write_config(VILLAGES, storage={"commit_ms": 300, "commit_max": 100000,
                                             "sync_ms": 60000})
    d = h.start_daemon(cfg)
    tail = os.path.join(run_dir, os.path.basename(h.db_path) + "-tail")
    p, exp = h.sim("--villages", ",".join(VILLAGES), "--devices", 30, "--count", N,
                   "--qos", 1, "--inflight", 500)
    t.eq(exp["acked"], N, "every message acknowledged by the broker")
    # (a new day's MAC key is committed at once, with the messages before it:
    # the journal then holds the rest)
    deadline = time.monotonic() + 30
    in_journal = committed = 0
    while time.monotonic() < deadline:
        in_journal = tail_journal_entries(tail)
        committed = h.query("SELECT COUNT(*) FROM messages")[0][0]
        if in_journal > 0 and in_journal + committed >= N:
            break
        time.sleep(0.005)
    d.kill()
    t.eq(in_journal + committed, N, "before the kill every accepted message was in the tail "
         "journal or the database")
    t.ok(committed < N, f"at the kill the database held {committed} of {N} (the rest was "
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
    t.ok(not os.path.exists(h.db_path + "-tail"), "no tail journal beside the database")
    t.ok(os.path.exists(tail) and tail_journal_entries(tail) == 0,
         "after a clean stop the tail journal holds no entry",
         f"{tail}: {tail_journal_entries(tail) if os.path.exists(tail) else 'missing'}")


run(main)
