#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""test_bad_database.py: what is found at the database path at start.

A file that is not SQLite, an SQLite database of another program and a damaged
ntm-gateway database are each moved aside (renamed, never deleted: the bytes
are checked) with a clear error, and the daemon starts on a fresh buffer that
works. A read-only directory and a database from a newer version are clear
start-up errors that touch nothing.
"""
import glob
import os
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402


def publish_one(h, t, d, what):
    topic = "ntm/v1/thon-1/speaker/loa-1/heartbeat"
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(h.port), "-q", "1", "-t", topic,
                    "-m", '{"interval_s": 60}'], check=True, timeout=10)
    d.wait_counts(accepted=1, timeout=20)
    d.terminate()
    t.eq(d.returncode, 0, f"{what}: stops cleanly")
    t.eq(h.query("SELECT count(*) FROM messages")[0][0], 1, f"{what}: the fresh buffer works")


def moved_aside(h, t, cfg, what, original):
    d = h.start_daemon(cfg)
    log = d.stderr_text()
    t.ok("moved it aside" in log, f"{what}: the log says the file was moved aside", log[-800:])
    bad = [p for p in glob.glob(h.db_path + ".bad-*") if not p.endswith(("-wal", "-shm"))]
    t.eq(len(bad), 1, f"{what}: one file moved aside")
    if bad:
        with open(bad[0], "rb") as f:
            t.ok(f.read() == original, f"{what}: the moved file holds the original bytes")
        for p in glob.glob(h.db_path + ".bad-*"):
            os.unlink(p)
    publish_one(h, t, d, what)
    for p in glob.glob(h.db_path + "*"):
        os.unlink(p)


def main(h, t):
    h.start_broker()
    cfg = h.write_config(["thon-1"], [("loa-1", "speaker", "thon-1")])

    # 1. not SQLite at all
    junk = b"this is a text file someone copied here by mistake\n" * 50
    with open(h.db_path, "wb") as f:
        f.write(junk)
    moved_aside(h, t, cfg, "a text file", junk)

    # 2. an SQLite database of another program
    db = sqlite3.connect(h.db_path)
    db.execute("CREATE TABLE invoices(id INTEGER PRIMARY KEY, amount REAL)")
    db.execute("INSERT INTO invoices VALUES(1, 12.5)")
    db.commit()
    db.close()
    with open(h.db_path, "rb") as f:
        foreign = f.read()
    moved_aside(h, t, cfg, "another program's database", foreign)

    # 3. an ntm-gateway database whose schema page is damaged
    d = h.start_daemon(cfg)
    d.terminate()
    with open(h.db_path, "r+b") as f:
        f.seek(100)
        f.write(b"\xde\xad\xbe\xef" * 900)
    with open(h.db_path, "rb") as f:
        damaged = f.read()
    moved_aside(h, t, cfg, "a damaged database", damaged)

    # 4. a database written by a newer ntm-gateway: refused, untouched
    d = h.start_daemon(cfg)
    d.terminate()
    db = sqlite3.connect(h.db_path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    r = h.run([harness.gatewayd_path(), "--config", cfg], timeout=30)
    t.ok(r.returncode != 0, "a newer schema: the daemon does not start")
    t.ok("newer than this daemon" in r.stderr_text, "a newer schema: the error says so",
         r.stderr_text[-400:])
    t.eq(glob.glob(h.db_path + ".bad-*"), [], "a newer schema: nothing is moved aside")
    for p in glob.glob(h.db_path + "*"):
        os.unlink(p)

    # 5. a read-only directory
    ro = os.path.join(h.tmp, "ro")
    os.mkdir(ro)
    r = subprocess.run(["mount", "--bind", ro, ro], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"cannot make a read-only bind mount here ({r.stderr.strip()}); "
              "the read-only directory case needs root")
        sys.exit(77)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", ro], check=True)
        cfg_ro = h.write_config(["thon-1"], name="ro.yaml",
                                storage={"path": os.path.join(ro, "buffer.db")})
        r = h.run([harness.gatewayd_path(), "--config", cfg_ro], timeout=30)
        t.ok(r.returncode != 0, "a read-only directory: the daemon does not start")
        t.ok("cannot use the database directory" in r.stderr_text and ro in r.stderr_text,
             "a read-only directory: the error names the directory", r.stderr_text[-400:])
    finally:
        subprocess.run(["umount", ro], capture_output=True)


harness.run(main)
