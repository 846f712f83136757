# SPDX-License-Identifier: GPL-3.0-or-later
"""test_migration: a buffer left by the previous schema (version 3) is migrated
in place at start, and nothing in it is lost or renumbered.

The version-3 database is built here from the daemon's own migration steps
(read out of daemon/store_schema.c, steps 0 to 2), then filled as a running gateway
leaves it: messages whose oldest and newest were already released (so
sqlite_sequence is above max(id)), alerts already in a batch and one still
waiting. After the daemon starts: schema version 5; the remaining messages
are there with their ids and values; a new message gets an id above every id
ever used (never reused); the alerts already in a batch are gone, the waiting
one is kept; the waiting-alerts index is dropped."""
import os
import re
import sqlite3
import subprocess

from harness import run

SRC = os.path.join(os.environ.get("NTM_SOURCE_ROOT", "."), "daemon", "store_schema.c")


def migration_steps():
    """The C string literals of `migrations[]` in store_schema.c, one SQL text per step."""
    with open(SRC, encoding="utf-8") as f:
        text = f.read()
    body = text[text.index("migrations[NTM_SCHEMA_VERSION] = {"):]
    body = body[body.index("{") + 1:body.index("\n};")]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    steps, cur = [], []
    for tok in re.finditer(r'"((?:[^"\\]|\\.)*)"|,', body):
        if tok.group(0) == ",":
            steps.append("".join(cur))
            cur = []
        else:
            cur.append(tok.group(1).encode().decode("unicode_escape"))
    if cur:
        steps.append("".join(cur))
    return steps


def main(h, t):
    steps = migration_steps()
    t.ok(len(steps) >= 4, f"store_schema.c has the migration steps ({len(steps)})")
    db = sqlite3.connect(h.db_path)
    for sql in steps[:3]:
        db.executescript(sql)
    db.execute("PRAGMA user_version=3")
    db.execute("INSERT INTO meta VALUES('schema_version', 3)")
    db.execute("INSERT INTO devices(id, name, village, kind, declared, messages)"
               " VALUES(1, 'loa-1', 'thon-1', 'speaker', 1, 300)")
    for i in range(1, 301):
        db.execute("INSERT INTO messages(ts, recv_ms, device, channel, event, flags, interval_s,"
                   " uptime_s) VALUES(?, ?, 1, 1, 0, 0, 60, ?)",
                   (1760000000 + i, (1760000000 + i) * 1000, 1000 + i))
    db.execute("DELETE FROM messages WHERE id <= 200 OR id > 250")
    db.executemany("INSERT INTO alerts(ts, village, kind, device, type, detail, batch)"
                   " VALUES(?, 'thon-1', 'speaker', 'loa-1', ?, NULL, ?)",
                   [(1760000100, "offline", 1), (1760000200, "online", 1),
                    (1760000300, "offline", None)])
    db.commit()
    before = db.execute("SELECT * FROM messages ORDER BY id").fetchall()
    db.close()
    t.eq(len(before), 50, "the version-3 buffer holds messages 201 to 250")

    h.start_broker()
    cfg = h.write_config(["thon-1"], [("loa-1", "speaker", "thon-1")])
    d = h.start_daemon(cfg)
    log = d.stderr_text()
    t.ok("schema migrated to version 6" in log, "the log says the schema was migrated",
         log[-800:])
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(h.port), "-q", "1",
                    "-t", "ntm/v1/thon-1/speaker/loa-1/heartbeat", "-m",
                    '{"interval_s": 60, "uptime_s": 5}'], check=True, timeout=10)
    d.wait_counts(accepted=1, timeout=20)
    t.eq(d.terminate(), 0, "SIGTERM exits 0")

    t.eq(h.query("PRAGMA user_version")[0][0], 6, "schema version 6")
    after = h.query("SELECT * FROM messages WHERE id <= 300 ORDER BY id")
    t.eq(after, before, "messages 201 to 250 kept with their ids and values")
    new = h.query("SELECT id, uptime_s FROM messages WHERE id > 300")
    t.eq(new, [(301, 5)], "the new message gets id 301: above every id ever used")
    t.eq(h.query("SELECT count(*) FROM sqlite_sequence WHERE name = 'messages'")[0][0], 0,
         "no AUTOINCREMENT sequence left for messages")
    t.eq(h.query("SELECT ts, type FROM alerts WHERE ts <= 1760000300 ORDER BY id"),
         [(1760000300, "offline")],
         "alerts already in a batch are gone, the waiting one is kept")
    t.eq(h.query("SELECT count(*) FROM sqlite_master WHERE name = 'alerts_pending'")[0][0], 0,
         "the index of waiting alerts is dropped")
    t.eq(h.query("PRAGMA integrity_check")[0][0], "ok", "PRAGMA integrity_check")


run(main)
