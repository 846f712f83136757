#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_hostile_files: the daemon's files (issue 12, finding 13). Run by hand
under umask 022, the database, its WAL and shm are not readable by others (they
hold the day's MAC keys), and one left 0644 by an older run is tightened; a 0644
mqtt.password_file draws a warning; a storage.path that is a symbolic link is
refused with a clear error; ntmctl reads a buffer whose path holds '#' and '?',
and an operator in the daemon's group (another user, not root) reads it while
the daemon is stopped without "attempt to write a readonly database"."""
import os
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import sync_support as S  # noqa: E402

NOBODY = 65534


def mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def main(h, t):
    os.umask(0o022)
    port = h.start_broker()
    pw = h.write_file("mqtt.pw", "hunter2\n")
    os.chmod(pw, 0o644)
    sdir = os.path.join(h.tmp, "buf #1?x")
    os.mkdir(sdir, 0o755)
    db = os.path.join(sdir, "buffer.db")
    cfg = h.write_config(["xom-a"], [("loa-1", "speaker", "xom-a")],
                         mqtt={"username": "ntm-gateway", "password_file": pw},
                         storage={"path": db})
    d = h.start_daemon(cfg)
    S.publish_script(port, [(int(time.time()), S.topic("xom-a", "speaker", "loa-1", "heartbeat"),
                             {"interval_s": 60})], client_id="hostile-files-pub")
    d.wait_counts(1)
    for f in (db, db + "-wal", db + "-shm"):
        t.ok(os.path.exists(f), f"{os.path.basename(f)} exists while the daemon runs")
        if os.path.exists(f):
            t.eq(oct(mode(f) & 0o007), oct(0), f"{os.path.basename(f)}: no rights for others")
    p = h.ctl("--config", cfg, "status")
    t.eq(p.returncode, 0, "ntmctl status on a path with '#' and '?'" + p.stderr_text)
    d.terminate()
    log = d.stderr_text()
    t.ok("password_file" in log and "can be read by other users" in log,
         "a 0644 mqtt.password_file is warned about", log[-1500:])

    # an operator in the daemon's group, the daemon stopped, the directory not
    # writable by the group: read-only, without creating a -shm
    os.chmod(h.tmp, 0o711)
    os.chmod(cfg, 0o644)
    os.chmod(pw, 0o600)
    os.chown(sdir, 0, NOBODY)
    os.chmod(sdir, 0o750)
    os.chown(db, 0, NOBODY)
    os.chmod(db, 0o640)
    t.ok(not os.path.exists(db + "-wal"), "a clean stop leaves no WAL")
    p = h.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
               harness.ctl_path(), "--config", cfg, "status"])
    t.eq(p.returncode, 0, "ntmctl status as another user of the group, daemon stopped: "
         + p.stderr_text)
    t.ok("readonly" not in p.stderr_text, "no 'readonly database' error", p.stderr_text)

    # a database left 0644 by an older run: tightened at start
    os.chmod(db, 0o644)
    d2 = h.start_daemon(cfg)
    t.eq(oct(mode(db) & 0o007), oct(0), "a 0644 database is made 0640 at start")
    d2.terminate()

    # storage.path as a symbolic link: refused
    link = os.path.join(h.tmp, "link.db")
    os.symlink(db, link)
    cfg2 = h.write_config(["xom-a"], [], name="link.yaml", storage={"path": link})
    d3 = h.start_daemon(cfg2, ready=False)
    try:
        d3.proc.wait(30)
    except Exception:
        pass
    t.ok(d3.proc.returncode not in (None, 0), "the daemon refuses a symlinked storage.path")
    t.ok("symbolic link" in d3.stderr_text(), "and says so", d3.stderr_text()[-800:])


harness.run(main)
