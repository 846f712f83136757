/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store_schema.c: the schema in one place: every table, index and meta key,
 * the schema version and forward migrations, and typed access to meta. It
 * must not write anything but the schema and meta rows. */
#include "store_impl.h"

#include <stdio.h>
#include <string.h>

/* The schema (ntmctl and the tests read it, so it is an interface). Times are
 * Unix s on the gateway clock unless named _ms.
 *
 * Version 1:
 *   meta(key TEXT PRIMARY KEY, value)   the keys of enum ntm_meta (below)
 *   devices(id INTEGER PRIMARY KEY, name TEXT UNIQUE, village TEXT, kind TEXT,
 *           declared INTEGER, first_seen INTEGER, last_seen INTEGER,
 *           last_ts INTEGER, messages INTEGER)
 *   messages(id, ts, recv_ms, device -> devices.id, channel, event, flags,
 *           online, interval_s, uptime_s,                  state / heartbeat
 *           start, duration_s, result, priority, source, program,   broadcast
 *           fault,                                          speaker fault
 *           recording, storage_free_pct,                    camera stats
 *           clients, new_sessions, rx_bytes, tx_bytes, mac_hashes)  wifi stats
 *        id is the acceptance order, never reused; enums are stored as the
 *        integers of record.h; mac_hashes is n x 8 bytes (little-endian keyed
 *        hashes), never a raw MAC.
 *   quarantine(id INTEGER PRIMARY KEY, recv_ms, topic, reason, detail, size)
 *        the newest storage.quarantine_max rejected messages; no payload bytes
 *        are kept (they may hold MACs, credentials or images).
 *   counters(name TEXT PRIMARY KEY, value INTEGER)
 *        accepted, buffered, clock_fallback, dropped, late, rejected.<reason>
 *   mac_keys(day INTEGER PRIMARY KEY, key BLOB)  the secret of each local day
 * Version 2 adds (aggregate.c, outbox.c and sync.c keep their rows here):
 *   devices gains online, uptime_today (as of the last aggregation snapshot)
 *   agg_state(id = 1, msg_id, saved_ms, state)  the aggregation snapshot and the
 *        last message folded into it; messages after it are replayed at start
 *   pending_rows(...)      indicator rows of closed windows not yet in a batch
 *   latest_rows(...)       the newest row per village/kind/period/name (ntmctl)
 *   alerts(id AUTOINCREMENT, ts, village, kind, device, type, detail, batch)
 *        id is the alert's stable number
 *   batches(seq, created_ms, body, n_rows, n_alerts, msg_hi, closed_upto)
 *        seq never reused; body NULL once every uplink delivered it
 *   deliveries(seq, uplink, state pending|delivered|quarantined, attempts,
 *        next_ms, last_error, done_ms)  one delivery cursor per uplink
 * Version 3: deliveries gains server_due_ms, the earliest next try the server
 *        asked for (Retry-After, or the slow schedule after refused
 *        credentials); 0 = none. A delivery to the uplink makes its other
 *        waiting deliveries due now, but never before it (sync.c).
 * Version 4: messages(id INTEGER PRIMARY KEY, ...) without AUTOINCREMENT: the
 *        store gives each message its id (above max(id), meta msg_id_floor and
 *        agg_state.msg_id), so ids are still never reused. Alerts rows are
 *        deleted in the transaction that puts them in a batch (the batch body
 *        holds them); the alerts_pending index is gone, the batch column stays
 *        NULL.
 * Version 5 adds history_rows and alert_log (the status page's 7 days).
 * Version 6 adds forget_requests(id, device, requested_ms, done_ms, result):
 *        written by `ntmctl forget`, done by the daemon with result forgotten,
 *        unknown or declared; and meta device_id_floor. */

/* migrations[i] takes a database from user_version i to i + 1, and ends by
 * saying so (PRAGMA user_version). Never edit a released step: add a new one
 * and bump NTM_SCHEMA_VERSION. */
static const char *const migrations[NTM_SCHEMA_VERSION] = {
    /* 0 -> 1: the first release */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
    "CREATE TABLE devices(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " village TEXT NOT NULL, kind TEXT NOT NULL, declared INTEGER NOT NULL DEFAULT 0,"
    " first_seen INTEGER, last_seen INTEGER, last_ts INTEGER,"
    " messages INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL,"
    " recv_ms INTEGER NOT NULL, device INTEGER NOT NULL, channel INTEGER NOT NULL,"
    " event INTEGER NOT NULL, flags INTEGER NOT NULL,"
    " online INTEGER, interval_s INTEGER, uptime_s INTEGER,"
    " start INTEGER, duration_s REAL, result INTEGER, priority INTEGER, source INTEGER,"
    " program TEXT, fault INTEGER, recording INTEGER, storage_free_pct REAL,"
    " clients INTEGER, new_sessions INTEGER, rx_bytes INTEGER, tx_bytes INTEGER,"
    " mac_hashes BLOB);"
    "CREATE TABLE quarantine(id INTEGER PRIMARY KEY, recv_ms INTEGER NOT NULL,"
    " topic TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL, size INTEGER NOT NULL);"
    "CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE mac_keys(day INTEGER PRIMARY KEY, key BLOB NOT NULL);"
    "PRAGMA user_version=1;",
    /* 1 -> 2: aggregation, alerts and the outbox */
    "CREATE TABLE agg_state(id INTEGER PRIMARY KEY CHECK (id = 1), msg_id INTEGER NOT NULL,"
    " saved_ms INTEGER NOT NULL, state BLOB NOT NULL);"
    "CREATE TABLE pending_rows(id INTEGER PRIMARY KEY, village TEXT NOT NULL, kind TEXT NOT NULL,"
    " period TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, name TEXT NOT NULL,"
    " value REAL NOT NULL, unit TEXT NOT NULL, devices INTEGER NOT NULL);"
    "CREATE TABLE latest_rows(village TEXT NOT NULL, kind TEXT NOT NULL, period TEXT NOT NULL,"
    " name TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, value REAL NOT NULL,"
    " unit TEXT NOT NULL, devices INTEGER NOT NULL, PRIMARY KEY(village, kind, period, name))"
    " WITHOUT ROWID;"
    "CREATE TABLE alerts(id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL,"
    " village TEXT NOT NULL, kind TEXT NOT NULL, device TEXT NOT NULL, type TEXT NOT NULL,"
    " detail TEXT, batch INTEGER);"
    "CREATE INDEX alerts_pending ON alerts(batch) WHERE batch IS NULL;"
    "CREATE TABLE batches(seq INTEGER PRIMARY KEY, created_ms INTEGER NOT NULL, body BLOB,"
    " n_rows INTEGER NOT NULL, n_alerts INTEGER NOT NULL, msg_hi INTEGER NOT NULL,"
    " closed_upto INTEGER NOT NULL);"
    "CREATE TABLE deliveries(seq INTEGER NOT NULL, uplink TEXT NOT NULL, state TEXT NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT, done_ms INTEGER, PRIMARY KEY(seq, uplink)) WITHOUT ROWID;"
    "CREATE INDEX deliveries_pending ON deliveries(uplink, seq) WHERE state = 'pending';"
    "ALTER TABLE devices ADD COLUMN online INTEGER;"
    "ALTER TABLE devices ADD COLUMN uptime_today REAL;"
    "PRAGMA user_version=2;",
    /* 2 -> 3 */
    /* sync.c: the earliest next try the server asked for (Retry-After, the slow
     * schedule of refused credentials), 0 = the wait is only our back-off */
    "ALTER TABLE deliveries ADD COLUMN server_due_ms INTEGER NOT NULL DEFAULT 0;"
    "PRAGMA user_version=3;",
    /* 3 -> 4: messages without AUTOINCREMENT: the store numbers them itself
     * (its sqlite_sequence update on every insert cost 4,300 instructions and
     * a page per commit), and meta 'msg_id_floor', written with every delete,
     * keeps ids from ever going back. Alerts leave their table in the
     * transaction that puts them in a batch (its body holds them): they no
     * longer pile up, and the index of waiting ones is not needed. */
    "INSERT OR REPLACE INTO meta(key, value)"
    " SELECT 'msg_id_floor', seq FROM sqlite_sequence WHERE name = 'messages';"
    "CREATE TABLE messages_v4(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
    " recv_ms INTEGER NOT NULL, device INTEGER NOT NULL, channel INTEGER NOT NULL,"
    " event INTEGER NOT NULL, flags INTEGER NOT NULL,"
    " online INTEGER, interval_s INTEGER, uptime_s INTEGER,"
    " start INTEGER, duration_s REAL, result INTEGER, priority INTEGER, source INTEGER,"
    " program TEXT, fault INTEGER, recording INTEGER, storage_free_pct REAL,"
    " clients INTEGER, new_sessions INTEGER, rx_bytes INTEGER, tx_bytes INTEGER,"
    " mac_hashes BLOB);"
    "INSERT INTO messages_v4 SELECT * FROM messages;"
    "DROP TABLE messages;"
    "ALTER TABLE messages_v4 RENAME TO messages;"
    "DELETE FROM sqlite_sequence WHERE name = 'messages';"
    "DELETE FROM alerts WHERE batch IS NOT NULL;"
    "DROP INDEX alerts_pending;"
    "PRAGMA user_version=4;",
    /* 4 -> 5: what the status page (ntm-gateway-web) shows of the last 7 days
     * once batches have left: the closed windows' indicators and the alerts,
     * written next to pending_rows and alerts and pruned past 8 days when a
     * day closes (outbox.c) */
    "CREATE TABLE history_rows(period TEXT NOT NULL, start INTEGER NOT NULL,"
    " village TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,"
    " devices INTEGER NOT NULL, PRIMARY KEY(period, start, village, kind, name)) WITHOUT ROWID;"
    "CREATE TABLE alert_log(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, village TEXT NOT NULL,"
    " kind TEXT NOT NULL, device TEXT NOT NULL, type TEXT NOT NULL, detail TEXT);"
    "CREATE INDEX alert_log_ts ON alert_log(ts);"
    "PRAGMA user_version=5;",
    /* 5 -> 6: `ntmctl forget` asks the daemon to forget undeclared devices
     * (store_devices.c applies them, daemon_forget.c says when); a device row's
     * id is never given again once forgotten (meta device_id_floor), so that
     * the messages it leaves behind never join a newcomer */
    "CREATE TABLE forget_requests(id INTEGER PRIMARY KEY, device TEXT NOT NULL,"
    " requested_ms INTEGER NOT NULL, done_ms INTEGER, result TEXT);"
    "CREATE INDEX forget_requests_pending ON forget_requests(id) WHERE done_ms IS NULL;"
    "PRAGMA user_version=6;",
};

/* The meta keys, by enum ntm_meta (store.h says what each holds and who writes it). */
static const char *const meta_names[NTM_META_COUNT] = {
    [NTM_META_SCHEMA_VERSION] = "schema_version",   [NTM_META_CREATED_AT] = "created_at",
    [NTM_META_MSG_ID_FLOOR] = "msg_id_floor",       [NTM_META_LAST_SEQ] = "last_seq",
    [NTM_META_CLOSED_DAY_UPTO] = "closed_day_upto", [NTM_META_RELEASED_UPTO] = "released_upto",
    [NTM_META_DEVICE_ID_FLOOR] = "device_id_floor",
};

const char *ntm_st_migration(int version)
{
    return version >= 0 && version < NTM_SCHEMA_VERSION ? migrations[version] : NULL;
}

#define META_GET_SQL "SELECT value FROM meta WHERE key = ?"
#define META_SET_SQL "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)"

const char *ntm_store_meta_name(enum ntm_meta k)
{
    return (unsigned)k < NTM_META_COUNT ? meta_names[k] : NULL;
}

/* 1 found (*v set), 0 absent, -1 error. The prepared statement once there is
 * one; during a migration (before statements are prepared) a one-off. */
static int meta_read(struct ntm_store *st, enum ntm_meta k, int64_t *v)
{
    sqlite3_stmt *s = st->stmt[ST_META_GET], *own = NULL;
    if (!s && sqlite3_prepare_v2(st->db, META_GET_SQL, -1, &own, NULL) != SQLITE_OK)
        return -1;
    if (own)
        s = own;
    sqlite3_bind_text(s, 1, meta_names[k], -1, SQLITE_STATIC);
    int rc = sqlite3_step(s), found = 0;
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
        *v = sqlite3_column_int64(s, 0);
        found = 1;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    sqlite3_finalize(own);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : -1;
}

/* SQLITE_OK or the error. */
static int meta_write(struct ntm_store *st, enum ntm_meta k, int64_t v)
{
    sqlite3_stmt *s = st->stmt[ST_META_SET], *own = NULL;
    if (!s && sqlite3_prepare_v2(st->db, META_SET_SQL, -1, &own, NULL) != SQLITE_OK)
        return sqlite3_errcode(st->db);
    if (own)
        s = own;
    sqlite3_bind_text(s, 1, meta_names[k], -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, v);
    int rc = ntm_st_step_done(s);
    sqlite3_finalize(own);
    return rc;
}

int64_t ntm_store_meta_get(struct ntm_store *st, enum ntm_meta k, int64_t dflt)
{
    int64_t v = dflt;
    if ((unsigned)k >= NTM_META_COUNT || meta_read(st, k, &v) != 1)
        return dflt;
    return v;
}

int ntm_store_meta_set(struct ntm_store *st, enum ntm_meta k, int64_t value)
{
    if ((unsigned)k >= NTM_META_COUNT)
        return -1;
    int rc = ntm_st_begin(st);
    if (rc == SQLITE_OK)
        rc = meta_write(st, k, value);
    if (rc != SQLITE_OK) {
        ntm_logf(st->log, LOG_ERR, "database %s: writing meta %s = %lld: %s", st->cfg->storage.path,
                 meta_names[k], (long long)value, sqlite3_errstr(rc));
        return -1;
    }
    st->pending++;
    return 0;
}

int ntm_st_schema_check(struct ntm_store *st, int *version, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        *version = sqlite3_column_int(s, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    st->last_rc = rc;
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: reading the schema version: %s", st->cfg->storage.path,
                 sqlite3_errstr(rc));
        return -1;
    }
    if (*version > NTM_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "%s: database schema version %d is newer than this daemon's (%d); "
                 "install the newer ntm-gateway or move the file aside",
                 st->cfg->storage.path, *version, NTM_SCHEMA_VERSION);
        return -1;
    }
    return 0;
}

/* One step of a migration, inside its transaction: the step's SQL, then the
 * meta rows, then a check that the step said which version it made. */
static int migrate_step(struct ntm_store *st, int version, char *err, size_t errlen)
{
    if (ntm_st_exec(st, migrations[version], err, errlen) != 0)
        return -1;
    int64_t created = 0;
    int rc = meta_write(st, NTM_META_SCHEMA_VERSION, version + 1);
    if (rc == SQLITE_OK) {
        int found = meta_read(st, NTM_META_CREATED_AT, &created);
        if (found < 0)
            rc = sqlite3_errcode(st->db);
        else if (found == 0)
            rc = meta_write(st, NTM_META_CREATED_AT, ntm_clock_wall_ms(st->clock) / 1000);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: migrating to schema version %d: %s", st->cfg->storage.path,
                 version + 1, sqlite3_errstr(rc));
        return -1;
    }
    int now = -1;
    if (ntm_st_schema_check(st, &now, err, errlen) != 0)
        return -1;
    if (now != version + 1) {
        snprintf(err, errlen, "%s: migration step %d left schema version %d, not %d",
                 st->cfg->storage.path, version, now, version + 1);
        return -1;
    }
    return 0;
}

int ntm_st_migrate(struct ntm_store *st, int version, char *err, size_t errlen)
{
    for (; version < NTM_SCHEMA_VERSION; version++) {
        if (ntm_st_exec(st, "BEGIN IMMEDIATE", err, errlen) != 0)
            return -1;
        if (migrate_step(st, version, err, errlen) != 0 ||
            ntm_st_exec(st, "COMMIT", err, errlen) != 0) {
            ntm_st_exec(st, "ROLLBACK", NULL, 0);
            return -1;
        }
        ntm_logf(st->log, LOG_INFO, "database %s: schema migrated to version %d",
                 st->cfg->storage.path, version + 1);
    }
    return 0;
}

int ntm_st_schema_prepare(struct ntm_store *st, char *err, size_t errlen)
{
    static const struct ntm_st_sql sql[] = {
        {ST_META_GET, META_GET_SQL},
        {ST_META_SET, META_SET_SQL},
    };
    return ntm_st_prepare(st, sql, sizeof sql / sizeof sql[0], err, errlen);
}
