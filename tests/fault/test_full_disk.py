#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_full_disk.py: the buffer on a small filesystem (a 16 MiB tmpfs) that
another file fills up while devices keep publishing.

Asserts: the daemon does not crash; it says in its log and in STATUS= what is
happening; ingest pauses while it cannot write (the broker keeps the messages
in the persistent session) instead of acknowledging and dropping them; when
the space returns it recovers by itself and every message published is then
either in the buffer or counted as evicted oldest-first (never a message newer
than one kept); the database passes PRAGMA integrity_check.
"""
import errno
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

FS_MB = 16


def fill(path):
    """Writes `path` until the filesystem is full; returns the bytes written."""
    n = 0
    chunk = b"\0" * (256 * 1024)
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
                n += len(chunk)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
    return n


def main(h, t):
    mnt = os.path.join(h.tmp, "small")
    os.mkdir(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FS_MB}m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"cannot mount a tmpfs here ({r.stderr.strip()}): this test needs root")
        sys.exit(77)
    try:
        run(h, t, mnt)
    finally:
        for d in h.daemons:
            if d.alive():
                d.kill()
        subprocess.run(["umount", "-l", mnt], capture_output=True)


def run(h, t, mnt):
    h.start_broker()
    villages = ["thon-1", "thon-2"]
    devices = h.sim_devices(villages, 30)
    db = os.path.join(mnt, "buffer.db")
    h.db_path = db
    cfg = h.write_config(villages, devices, storage={"path": db, "max_mb": 64})
    d = h.start_daemon(cfg)
    dev = ["--villages", ",".join(villages), "--devices", 30, "--qos", 1, "-q"]
    base = int(time.time()) - 7200

    # A: normal operation
    _, a = h.sim(*dev, "--count", 4000, "--rate", 4000, "--start-ts", base, "--step-ms", 100,
                 "--seed", 1)
    d.wait_counts(accepted=4000, timeout=30)

    # B: another file takes every free block; devices go on publishing
    filler = os.path.join(mnt, "filler")
    written = fill(filler)
    print(f"filled the disk with {written / 1048576:.1f} MiB")
    b_start = base + 3600
    _, b = h.sim(*dev, "--count", 6000, "--rate", 3000, "--start-ts", b_start, "--step-ms", 100,
                 "--seed", 2)
    t.eq(b["acked"], 6000, "the broker acknowledged every message of phase B")
    time.sleep(3)
    t.ok(d.alive(), "the daemon is still running with the disk full")
    log = d.stderr_text()
    t.ok("ingest paused" in log or "nearly full" in log,
         "the log says the disk is full or nearly full", log[-1500:])
    statuses = " | ".join(s.get("text", "") for _, s in d.statuses)
    t.ok("DISK FULL" in statuses or "disk nearly full" in statuses,
         "STATUS= says what is happening", statuses[-600:])

    # C: the space comes back
    os.unlink(filler)
    d.wait_counts(accepted=10000, timeout=60)
    log = d.stderr_text()
    t.ok("writes succeed again" in log or "ingest paused" not in log,
         "the daemon recovered by itself", log[-1500:])
    d.terminate()
    t.eq(d.returncode, 0, "SIGTERM after the recovery exits 0")

    q = h.query("SELECT (SELECT count(*) FROM messages),"
                " (SELECT value FROM counters WHERE name = 'dropped'),"
                " (SELECT value FROM counters WHERE name = 'accepted'),"
                " (SELECT value FROM counters WHERE name = 'buffered')")[0]
    kept, dropped, accepted, buffered = q[0], q[1] or 0, q[2], q[3]
    print(f"kept {kept}, evicted {dropped}, accepted {accepted}")
    t.eq(accepted, 10000, "every published message was accepted once")
    t.eq(kept + dropped, 10000, "each message is kept or counted as evicted")
    t.eq(buffered, kept, "the buffered counter matches the rows")
    lo, hi = h.query("SELECT min(id), max(id) FROM messages")[0]
    t.eq(hi - lo + 1, kept, "what is kept is the newest, without holes (eviction oldest-first)")
    t.eq(hi, 10000, "the newest message is kept")
    newest_b = h.query("SELECT count(*) FROM messages WHERE ts >= ?", (b_start,))[0][0]
    t.eq(newest_b, min(6000, kept), "the messages of phase B (the newest) are kept first")
    t.ok(dropped < 4000, "eviction did not empty the buffer while the disk was held by "
         "another file", f"{dropped} evicted")
    ic = h.query("PRAGMA integrity_check")[0][0]
    t.eq(ic, "ok", "PRAGMA integrity_check")


harness.run(main)
