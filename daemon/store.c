/* store.c: the durable buffer. Owns the daemon's one SQLite write connection,
 * its prepared statements, the open transaction (many records per commit: one
 * a second, at the sync, or every storage.commit_max records), the tail
 * journal of the records not yet committed (written every storage.commit_ms,
 * read back after a crash; tail.c), the periodic sync done off the loop, the
 * size cap with oldest-first eviction, the quarantine, the persisted counters
 * and the per-day MAC keys.
 * It must not parse messages, know MQTT, or block the loop on fsync. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "tail.h"

/* ---- schema and migrations ------------------------------------------------ */

/* migrations[i] takes a database from user_version i to i + 1. Never edit a
 * released step: add a new one and bump NTM_SCHEMA_VERSION. */
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
    "CREATE TABLE mac_keys(day INTEGER PRIMARY KEY, key BLOB NOT NULL);",
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
    "ALTER TABLE devices ADD COLUMN uptime_today REAL;",
    /* 2 -> 3 */
    /* sync.c: the earliest next try the server asked for (Retry-After, the slow
     * schedule of refused credentials), 0 = the wait is only our back-off */
    "ALTER TABLE deliveries ADD COLUMN server_due_ms INTEGER NOT NULL DEFAULT 0;",
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
    "DROP INDEX alerts_pending;",
};

/* ---- in-memory state ------------------------------------------------------ */

enum counter {
    C_ACCEPTED,
    C_CLOCK_FALLBACK,
    C_DROPPED,
    C_BUFFERED,
    C_LATE,
    C_REJECTED0, /* + enum ntm_reject */
    C_COUNT = C_REJECTED0 + NTM_REJ_COUNT
};

struct device {
    char name[NTM_DEVICE_ID_MAX + 1];
    char village[NTM_VILLAGE_ID_MAX + 1];
    int64_t rowid;
    uint8_t kind;
    bool dirty;
    int64_t last_seen, last_ts, first_seen;
    uint64_t new_messages; /* accepted since the last commit */
};

struct mac_key {
    int64_t day; /* INT64_MIN when empty */
    uint8_t key[16];
};

struct ntm_store {
    uv_loop_t *loop;
    const struct ntm_config *cfg;
    struct ntm_log *log;
    struct ntm_clock *clock; /* the daemon's one clock: the times the store writes */
    sqlite3 *db;
    char *wal_path;
    int wal_fd; /* for fdatasync off the loop; -1 until the WAL exists */

    sqlite3_stmt *s_begin, *s_commit, *s_rollback;
    sqlite3_stmt *s_msg, *s_quarantine, *s_quarantine_trim;
    sqlite3_stmt *s_counter, *s_dev_insert, *s_dev_update;
    sqlite3_stmt *s_key_get, *s_key_put, *s_evict, *s_floor;
    sqlite3_stmt *s_dev_state; /* prepared on first use */

    bool in_tx;
    uint32_t pending; /* statements in the open transaction */
    bool quarantine_added;
    uv_timer_t tail_timer; /* writes the tail journal storage.commit_ms after an append */
    uv_timer_t sync_timer;
    uv_work_t sync_work;
    bool sync_busy;       /* a sync is running on the worker */
    bool sync_checkpoint; /* the running sync is a checkpoint */
    int sync_result;
    uint64_t commits_since_sync;
    sqlite3 *ckpt_db; /* used only on the worker thread */
    bool closing;

    uint64_t counters[C_COUNT];
    bool counter_dirty[C_COUNT];

    struct device *devs; /* open addressing, power-of-two capacity */
    size_t devs_cap, devs_len;

    struct mac_key keys[3];

    int64_t last_msg_id;      /* id of the last message inserted */
    int64_t committed_msg_id; /* ... and of the last one committed */
    int64_t next_id;          /* the id the next record gets in the tail journal */

    /* The records since the last commit, in memory and in the tail journal
     * file: read back after a crash, and handed back to the owner after a
     * failed write. Records read back at start wait in `recovered`. */
    struct ntm_tail *tail;
    char *tail_path;
    struct ntm_record **recovered;
    size_t n_recovered;
    struct ntm_complaint tail_complaint;
    /* While the worker checkpoints, new records wait in the tail journal
     * instead of opening a transaction: if nothing reads or writes the
     * database meanwhile, the WAL is found fully copied and starts over at the
     * next commit, with no checkpoint step (and no fsync) on the loop. */
    size_t held_mark; /* where the held records start in the tail's memory */
    uint32_t held;
    bool hold;        /* records are being held */
    bool hold_broken; /* something began a transaction meanwhile */
    bool releasing;   /* the held records are being inserted: no commit */
    bool failed;
    bool keys_dirty; /* cached MAC keys may be missing from the database */
    unsigned commits_since_space_check;
    uint64_t frozen_cap; /* the size at which the disk ran low; 0 when it has room */
    int last_rc;         /* of the last exec/prepare, to tell a bad file from other errors */
    int ckpt_rc, ckpt_frames, ckpt_done; /* the last checkpoint, from the worker */
    bool ckpt_ready;                     /* ckpt_db has read the database */
    int wal_frames;                      /* frames in the WAL after the last commit */
    uv_timer_t recover_timer;
    struct ntm_store_hooks hooks;
    char *reserve_path; /* a small file freed to make room when the disk fills */
    uint64_t fs_size;
    struct ntm_store_stats stats;
    struct ntm_complaint full_complaint, cap_complaint;
};

static const char *counter_name(enum counter c, char *buf, size_t len)
{
    switch (c) {
    case C_ACCEPTED:
        return "accepted";
    case C_CLOCK_FALLBACK:
        return "clock_fallback";
    case C_DROPPED:
        return "dropped";
    case C_BUFFERED:
        return "buffered";
    case C_LATE:
        return "late";
    default:
        snprintf(buf, len, "rejected.%s", ntm_reject_name((enum ntm_reject)(c - C_REJECTED0)));
        return buf;
    }
}

static void bump(struct ntm_store *st, enum counter c, int64_t by)
{
    st->counters[c] = (uint64_t)((int64_t)st->counters[c] + by);
    st->counter_dirty[c] = true;
}

/* ---- small SQLite helpers -------------------------------------------------- */

static int exec(struct ntm_store *st, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    st->last_rc = rc;
    if (rc != SQLITE_OK) {
        if (err)
            snprintf(err, errlen, "%s: %s", st->cfg->storage.path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int prepare(struct ntm_store *st, sqlite3_stmt **s, const char *sql, char *err,
                   size_t errlen)
{
    int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, s, NULL);
    st->last_rc = rc;
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: preparing statement: %s", st->cfg->storage.path,
                 sqlite3_errmsg(st->db));
        return -1;
    }
    return 0;
}

/* Runs a prepared statement that returns no rows, and resets it. */
static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- devices ---------------------------------------------------------------- */

static struct device *dev_slot(struct ntm_store *st, const char *name)
{
    size_t mask = st->devs_cap - 1;
    for (size_t i = ntm_hash_str(name) & mask;; i = (i + 1) & mask) {
        struct device *d = &st->devs[i];
        if (d->name[0] == '\0' || strcmp(d->name, name) == 0)
            return d;
    }
}

static int dev_grow(struct ntm_store *st)
{
    size_t cap = st->devs_cap ? st->devs_cap * 2 : 64;
    struct device *old = st->devs;
    size_t old_cap = st->devs_cap;
    st->devs = calloc(cap, sizeof *st->devs);
    if (!st->devs) {
        st->devs = old;
        return -1;
    }
    st->devs_cap = cap;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].name[0])
            *dev_slot(st, old[i].name) = old[i];
    free(old);
    return 0;
}

/* Finds or adds (in memory only) a device; NULL on allocation failure. */
static struct device *dev_get(struct ntm_store *st, const char *name, bool *is_new)
{
    if ((st->devs_len + 1) * 4 >= st->devs_cap * 3 && dev_grow(st) != 0)
        return NULL;
    struct device *d = dev_slot(st, name);
    *is_new = d->name[0] == '\0';
    if (*is_new) {
        snprintf(d->name, sizeof d->name, "%s", name);
        st->devs_len++;
    }
    return d;
}

static int dev_insert_row(struct ntm_store *st, struct device *d, bool declared)
{
    sqlite3_bind_text(st->s_dev_insert, 1, d->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->s_dev_insert, 2, d->village, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->s_dev_insert, 3, ntm_kind_name(d->kind), -1, SQLITE_STATIC);
    sqlite3_bind_int(st->s_dev_insert, 4, declared);
    int rc = step_done(st->s_dev_insert);
    if (rc != SQLITE_OK)
        return rc;
    d->rowid = sqlite3_last_insert_rowid(st->db);
    return SQLITE_OK;
}

static int load_devices(struct ntm_store *st, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT id, name, village, kind, first_seen, last_seen, last_ts"
                           " FROM devices",
                           -1, &s, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: reading devices: %s", st->cfg->storage.path,
                 sqlite3_errmsg(st->db));
        return -1;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        bool is_new;
        struct device *d = dev_get(st, (const char *)sqlite3_column_text(s, 1), &is_new);
        if (!d)
            break;
        d->rowid = sqlite3_column_int64(s, 0);
        snprintf(d->village, sizeof d->village, "%s", (const char *)sqlite3_column_text(s, 2));
        int kind = ntm_kind_parse((const char *)sqlite3_column_text(s, 3));
        d->kind = (uint8_t)(kind < 0 ? 0 : kind);
        d->first_seen = sqlite3_column_int64(s, 4);
        d->last_seen = sqlite3_column_int64(s, 5);
        d->last_ts = sqlite3_column_int64(s, 6);
    }
    sqlite3_finalize(s);

    /* Declared devices get a row at start, so that a silent one counts (as 0). */
    for (size_t i = 0; i < st->cfg->n_devices; i++) {
        const struct ntm_device_decl *dd = &st->cfg->devices[i];
        bool is_new;
        struct device *d = dev_get(st, dd->id, &is_new);
        if (!d)
            return -1;
        if (!is_new)
            continue;
        snprintf(d->village, sizeof d->village, "%s", st->cfg->villages[dd->village].id);
        d->kind = dd->kind;
        int rc = dev_insert_row(st, d, true);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "%s: adding device %s: %s", st->cfg->storage.path, dd->id,
                     sqlite3_errstr(rc));
            return -1;
        }
    }
    return 0;
}

/* ---- counters ------------------------------------------------------------- */

static int load_counters(struct ntm_store *st)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT name, value FROM counters", -1, &s, NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        char buf[64];
        for (int c = 0; c < C_COUNT; c++)
            if (strcmp(name, counter_name((enum counter)c, buf, sizeof buf)) == 0)
                st->counters[c] = (uint64_t)sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    return 0;
}

static int write_counters(struct ntm_store *st)
{
    char buf[64];
    for (int c = 0; c < C_COUNT; c++) {
        if (!st->counter_dirty[c])
            continue;
        sqlite3_bind_text(st->s_counter, 1, counter_name((enum counter)c, buf, sizeof buf), -1,
                          SQLITE_TRANSIENT);
        sqlite3_bind_int64(st->s_counter, 2, (int64_t)st->counters[c]);
        int rc = step_done(st->s_counter);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static int write_devices(struct ntm_store *st)
{
    for (size_t i = 0; i < st->devs_cap; i++) {
        struct device *d = &st->devs[i];
        if (!d->name[0] || !d->dirty)
            continue;
        sqlite3_bind_int64(st->s_dev_update, 1, d->last_seen);
        sqlite3_bind_int64(st->s_dev_update, 2, d->last_ts);
        sqlite3_bind_int64(st->s_dev_update, 3, (int64_t)d->new_messages);
        sqlite3_bind_int64(st->s_dev_update, 4, d->rowid);
        int rc = step_done(st->s_dev_update);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static void devices_committed(struct ntm_store *st)
{
    for (size_t i = 0; i < st->devs_cap; i++) {
        st->devs[i].dirty = false;
        st->devs[i].new_messages = 0;
    }
    memset(st->counter_dirty, 0, sizeof st->counter_dirty);
}

/* ---- records of the open transaction ------------------------------------------- */

struct take_ctx {
    struct ntm_store *st;
    struct ntm_record **v;
    size_t n, cap;
    size_t skipped; /* of villages no longer configured */
};

/* Appends a copy of a record (village resolved against the configuration). */
static void take_one(void *arg, int64_t id, const char *village, const struct ntm_record *rec)
{
    struct take_ctx *c = arg;
    (void)id;
    int v = ntm_config_village(c->st->cfg, village);
    if (v < 0) {
        c->skipped++;
        return;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        struct ntm_record **k = realloc(c->v, cap * sizeof *k);
        if (!k)
            return;
        c->v = k;
        c->cap = cap;
    }
    /* only the bytes that hold data: a record's MAC slots alone are 8 KiB */
    size_t size = offsetof(struct ntm_record, u) + sizeof rec->u.broadcast;
    if (rec->channel == NTM_CH_STATS && rec->kind == NTM_KIND_WIFI) {
        size_t wifi = offsetof(struct ntm_record, u.wifi.mac_hash) + rec->u.wifi.n_macs * 8;
        if (wifi > size)
            size = wifi;
    }
    struct ntm_record *copy = malloc(size);
    if (!copy)
        return;
    memcpy(copy, rec, size);
    copy->village = (uint16_t)v;
    c->v[c->n++] = copy;
}

struct ntm_record **ntm_store_take_kept(struct ntm_store *st, size_t *n)
{
    struct take_ctx c = {
        .st = st, .v = st->recovered, .n = st->n_recovered, .cap = st->n_recovered};
    st->recovered = NULL;
    st->n_recovered = 0;
    ntm_tail_take(st->tail, take_one, &c);
    st->held = 0;
    st->held_mark = 0;
    /* fed again in the same order, they get the same ids as in the journal,
     * which therefore never holds one record twice under two ids */
    st->next_id = st->last_msg_id + 1;
    *n = c.n;
    return c.v;
}

void ntm_store_set_hooks(struct ntm_store *st, const struct ntm_store_hooks *h)
{
    st->hooks = *h;
}

/* ---- transactions ----------------------------------------------------------- */

/* Every storage.commit_ms while records come in: those of the last interval go
 * to the tail journal. An interval with none means the burst is over: it is
 * committed now rather than at the next sync tick (readers see it at once, and
 * a steady stream still commits once a second). */
static void on_tail_timer(uv_timer_t *t)
{
    struct ntm_store *st = t->data;
    if (ntm_tail_unwritten(st->tail) == 0) {
        if (!st->failed && (st->in_tx || st->held > 0))
            ntm_store_commit(st);
        return;
    }
    uv_timer_start(&st->tail_timer, on_tail_timer, (uint64_t)st->cfg->storage.commit_ms, 0);
    if (ntm_tail_write(st->tail) == 0)
        return;
    uint64_t held = 0;
    if (ntm_complain(&st->tail_complaint, 60000, &held))
        ntm_log(st->log, LOG_WARNING,
                "tail journal %s: cannot write: %s; until it can, a crash loses up to the "
                "last %d ms of accepted messages (the commit interval) instead of %d ms",
                st->tail_path, strerror(errno), st->cfg->storage.sync_ms,
                st->cfg->storage.commit_ms);
}

static int begin(struct ntm_store *st)
{
    if (st->in_tx)
        return 0;
    if (st->hold && !st->releasing)
        st->hold_broken = true;
    int rc = step_done(st->s_begin);
    if (rc != SQLITE_OK) {
        ntm_log(st->log, LOG_ERR, "database %s: cannot begin a transaction: %s",
                st->cfg->storage.path, sqlite3_errstr(rc));
        return -1;
    }
    st->in_tx = true;
    st->pending = 0;
    if (st->keys_dirty) {
        /* a rolled-back transaction may have held a new day key still in use */
        for (int i = 0; i < 3; i++) {
            if (st->keys[i].day == INT64_MIN)
                continue;
            sqlite3_bind_int64(st->s_key_put, 1, st->keys[i].day);
            sqlite3_bind_blob(st->s_key_put, 2, st->keys[i].key, 16, SQLITE_STATIC);
            step_done(st->s_key_put);
        }
        st->keys_dirty = false;
    }
    return 0;
}

/* After a failed commit the database is as it was at the last commit: make the
 * in-memory counters, devices and key cache say the same. */
static void reload_after_rollback(struct ntm_store *st)
{
    char err[256];
    memset(st->counters, 0, sizeof st->counters);
    memset(st->counter_dirty, 0, sizeof st->counter_dirty);
    load_counters(st);
    if (st->devs)
        memset(st->devs, 0, st->devs_cap * sizeof *st->devs);
    st->devs_len = 0;
    if (load_devices(st, err, sizeof err) != 0)
        ntm_log(st->log, LOG_ERR, "%s", err);
    st->keys_dirty = true;
    st->quarantine_added = false;
    st->last_msg_id = st->committed_msg_id;
}

static void on_recover_timer(uv_timer_t *t);
static void on_sync_timer(uv_timer_t *t);
static void check_space(struct ntm_store *st);
static uint64_t low_water(const struct ntm_store *st);

/* A write failed: the transaction is gone (SQLite rolls it back on a full
 * disk), its records are kept in memory, the owner stops taking messages in,
 * and a timer tries to make room and write again. */
static void fail(struct ntm_store *st, int rc, const char *what)
{
    if (sqlite3_get_autocommit(st->db) == 0)
        step_done(st->s_rollback);
    st->in_tx = false;
    reload_after_rollback(st);
    st->hold = false; /* the held records are in the tail, handed back on recovery */
    st->held = 0;
    if (st->failed)
        return;
    st->failed = true;
    st->stats.disk_full = 1;
    ntm_log_emit(st->log, LOG_ERR, NTM_MSGID_DISK_FULL, NULL, 0,
                 "database %s: %s failed: %s; ingest paused (the broker keeps new messages), "
                 "%zu received messages kept in memory; freeing the reserve, evicting the oldest "
                 "messages and retrying every second",
                 st->cfg->storage.path, what, sqlite3_errstr(rc), ntm_tail_count(st->tail));
    if (st->hooks.failed)
        st->hooks.failed(st->hooks.arg);
    uv_timer_start(&st->recover_timer, on_recover_timer, 1000, 1000);
}

static void release_hold(struct ntm_store *st);

int ntm_store_commit(struct ntm_store *st)
{
    if (st->releasing)
        return 0; /* after the held records, not amid them */
    if (st->hold) {
        st->hold_broken = true; /* the tail is emptied at the commit: insert them first */
        release_hold(st);
    }
    if (!st->in_tx)
        return 0;
    int rc = write_devices(st);
    if (rc == SQLITE_OK)
        rc = write_counters(st);
    if (rc == SQLITE_OK && st->quarantine_added) {
        sqlite3_bind_int64(st->s_quarantine_trim, 1, st->cfg->storage.quarantine_max);
        rc = step_done(st->s_quarantine_trim);
    }
    if (rc == SQLITE_OK) {
        uint64_t t0 = uv_hrtime();
        rc = step_done(st->s_commit);
        uint64_t ns = uv_hrtime() - t0;
        st->stats.commit_ns_total += ns;
        if (ns > st->stats.commit_ns_max)
            st->stats.commit_ns_max = ns;
    }
    if (rc != SQLITE_OK) {
        fail(st, rc, "commit");
        return -1;
    }
    ntm_tail_committed(st->tail);
    uv_timer_stop(&st->tail_timer);
    st->committed_msg_id = st->last_msg_id;
    st->in_tx = false;
    /* a fast flood can fill a small disk between two sync ticks: look at the
     * free space every few commits, and act at once when it runs low */
    if (++st->commits_since_space_check >= 8) {
        st->commits_since_space_check = 0;
        check_space(st);
        if (st->fs_size > 0 && st->stats.fs_free < low_water(st))
            uv_timer_start(&st->sync_timer, on_sync_timer, 0, (uint64_t)st->cfg->storage.sync_ms);
    }
    st->quarantine_added = false;
    st->stats.commits++;
    st->commits_since_sync++;
    devices_committed(st);
    return 0;
}

/* ---- sync (off the loop) and the size cap ----------------------------------- */

#define CHECKPOINT_BYTES (4u << 20)      /* checkpoint once the WAL holds this much... */
#define CHECKPOINT_MIN_BYTES (64u << 10) /* ...or less when the disk is nearly full */

/* Free space on the database's filesystem; the low-water mark below which the
 * oldest messages are evicted as if the cap were reached (1/16 of the
 * filesystem, between 1 and 64 MiB), and the reserve file's size. */
static void check_space(struct ntm_store *st)
{
    struct statvfs v;
    char *dir = strdup(st->cfg->storage.path);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    if (statvfs(slash ? dir : ".", &v) == 0) {
        st->stats.fs_free = (uint64_t)v.f_bavail * v.f_frsize;
        st->fs_size = (uint64_t)v.f_blocks * v.f_frsize;
    }
    free(dir);
}

static uint64_t low_water(const struct ntm_store *st)
{
    uint64_t lw = st->fs_size / 16;
    return lw < (1u << 20) ? (1u << 20) : lw > (64u << 20) ? (64u << 20) : lw;
}

static uint64_t reserve_bytes(const struct ntm_store *st)
{
    uint64_t r = st->fs_size / 32;
    return r < (256u << 10) ? (256u << 10) : r > (4u << 20) ? (4u << 20) : r;
}

/* The reserve: a file freed when the disk is full so that a checkpoint and an
 * eviction can still be written; made again once there is room. */
static void make_reserve(struct ntm_store *st)
{
    if (access(st->reserve_path, F_OK) == 0 || st->stats.fs_free < 4 * reserve_bytes(st))
        return;
    int fd = open(st->reserve_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (posix_fallocate(fd, 0, (off_t)reserve_bytes(st)) != 0) {
        close(fd);
        unlink(st->reserve_path);
        return;
    }
    close(fd);
}

static uint64_t checkpoint_threshold(const struct ntm_store *st)
{
    uint64_t t = st->stats.fs_free / 4;
    return t < CHECKPOINT_MIN_BYTES ? CHECKPOINT_MIN_BYTES
           : t > CHECKPOINT_BYTES   ? CHECKPOINT_BYTES
                                    : t;
}

static void sync_work(uv_work_t *w)
{
    struct ntm_store *st = w->data;
    st->sync_result = 0;
    if (st->sync_checkpoint) {
        if (!st->ckpt_db &&
            sqlite3_open_v2(st->cfg->storage.path, &st->ckpt_db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
            st->sync_result = -1;
            return;
        }
        sqlite3_busy_timeout(st->ckpt_db, 100);
        /* A connection that has not read the database yet does not know it is
         * in WAL mode, and its checkpoint is a no-op ("-1 frames"): read once. */
        if (!st->ckpt_ready) {
            if (sqlite3_exec(st->ckpt_db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
                SQLITE_OK) {
                st->sync_result = -1;
                st->ckpt_rc = sqlite3_errcode(st->ckpt_db);
                return;
            }
            st->ckpt_ready = true;
        }
        /* PASSIVE never blocks the writer: the bulk of the copy and both
         * fsyncs happen here, off the loop; sync_done finishes the job. */
        int frames = 0, done = 0;
        int rc =
            sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &done);
        st->sync_result = rc == SQLITE_OK ? 0 : -1;
        st->ckpt_rc = rc;
        st->ckpt_frames = frames;
        st->ckpt_done = done;
    } else if (st->wal_fd >= 0) {
        st->sync_result = fdatasync(st->wal_fd);
    }
}

static void sync_done(uv_work_t *w, int status)
{
    struct ntm_store *st = w->data;
    (void)status;
    st->sync_busy = false;
    if (st->sync_result == 0)
        st->stats.syncs++;
    /* Nothing touched the database while the worker copied the WAL (the new
     * records were held): all of it is in the database file, and the next
     * commit starts the WAL over. */
    bool clean = st->hold && !st->hold_broken && !st->in_tx && st->commits_since_sync == 0 &&
                 st->ckpt_done == st->ckpt_frames;
    if (st->sync_checkpoint && st->ckpt_rc == SQLITE_OK && !st->closing && !clean) {
        /* Otherwise (a transaction was open, or some part wrote meanwhile) the
         * WAL is never found fully copied when the next one begins, and it would
         * grow for ever. So, on the loop: commit, and copy the few frames
         * committed since the worker's pass; the next transaction then starts
         * the WAL over. */
        ntm_store_commit(st);
        uint64_t t0 = uv_hrtime();
        sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        uint64_t ns = uv_hrtime() - t0;
        if (ns > st->stats.ckpt_tail_ns_max)
            st->stats.ckpt_tail_ns_max = ns;
    }
    if (st->sync_checkpoint) {
        st->stats.ckpt_clean += clean;
        ntm_log(st->log, st->ckpt_rc == SQLITE_OK ? LOG_DEBUG : LOG_WARNING,
                "database %s: checkpoint: %s, %d of %d WAL frames copied into the database%s",
                st->cfg->storage.path, sqlite3_errstr(st->ckpt_rc), st->ckpt_done, st->ckpt_frames,
                clean ? " (nothing written meanwhile: no step on the loop)" : "");
    }
    release_hold(st);
}

/* Bytes in used pages; *file_bytes gets all pages (free ones included). */
static uint64_t used_bytes(struct ntm_store *st, uint64_t *file_bytes)
{
    sqlite3_stmt *s = NULL;
    uint64_t pages = 0, free_pages = 0, page_size = 4096;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT (SELECT page_count FROM pragma_page_count),"
                           " (SELECT freelist_count FROM pragma_freelist_count),"
                           " (SELECT page_size FROM pragma_page_size)",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        pages = (uint64_t)sqlite3_column_int64(s, 0);
        free_pages = (uint64_t)sqlite3_column_int64(s, 1);
        page_size = (uint64_t)sqlite3_column_int64(s, 2);
    }
    sqlite3_finalize(s);
    *file_bytes = pages * page_size;
    return (pages - free_pages) * page_size;
}

/* Messages are about to be deleted: the highest id so far is kept, so that ids
 * never go back even when every message is gone (in the same transaction). */
static void write_floor(struct ntm_store *st)
{
    sqlite3_bind_int64(st->s_floor, 1, st->last_msg_id);
    step_done(st->s_floor);
}

/* Evicts the oldest messages while the buffer is over its cap, or while the
 * disk is below its low-water mark (freed pages are reused, so the file stops
 * growing). */
static void enforce_cap(struct ntm_store *st)
{
    uint64_t cap = (uint64_t)st->cfg->storage.max_mb << 20;
    uint64_t file_bytes = 0;
    uint64_t used = used_bytes(st, &file_bytes);
    st->stats.db_bytes = used;
    check_space(st);
    bool low = st->fs_size > 0 && st->stats.fs_free < low_water(st);
    if (low != (bool)st->stats.disk_low) {
        st->stats.disk_low = low;
        ntm_log_emit(st->log, low ? LOG_WARNING : LOG_NOTICE, NTM_MSGID_DISK_FULL, NULL, 0,
                     low ? "database %s: the disk is nearly full (%.1f MiB free): evicting the "
                           "oldest messages to keep room"
                         : "database %s: the disk has room again (%.1f MiB free)",
                     st->cfg->storage.path, (double)st->stats.fs_free / 1048576.0);
    }
    /* Low on disk: the buffer may not grow any more. Its footprint when the
     * disk went low (the file, free pages included, and the WAL, which the
     * checkpoints and recovery shrink) becomes the cap: free pages are filled
     * first, then evicting frees pages inside the file, which new rows reuse;
     * it gives nothing back to the filesystem, so shrinking further would only
     * throw data away while someone else holds the space. */
    if (low && st->frozen_cap == 0) {
        /* our footprint: the database's pages and the WAL beside them */
        struct stat wal;
        uint64_t wal_bytes = stat(st->wal_path, &wal) == 0 ? (uint64_t)wal.st_size : 0;
        st->frozen_cap = (file_bytes > used ? file_bytes : used) + wal_bytes;
    }
    if (!low)
        st->frozen_cap = 0;
    if (st->frozen_cap && st->frozen_cap < cap)
        cap = st->frozen_cap;
    if (used <= cap || st->counters[C_BUFFERED] == 0)
        return;
    /* Free about 1% of the cap beyond what is over, assuming the average row size. */
    uint64_t per_row = used / (st->counters[C_BUFFERED] + 1) + 1;
    uint64_t n = (used - cap + cap / 100) / per_row + 1;
    if (begin(st) != 0)
        return;
    write_floor(st);
    sqlite3_bind_int64(st->s_evict, 1, (int64_t)n);
    int rc = step_done(st->s_evict);
    uint64_t gone = rc == SQLITE_OK ? (uint64_t)sqlite3_changes(st->db) : 0;
    bump(st, C_DROPPED, (int64_t)gone);
    bump(st, C_BUFFERED, -(int64_t)gone);
    if (ntm_store_commit(st) != 0)
        return;
    uint64_t held = 0;
    if (ntm_complain(&st->cap_complaint, 60000, &held))
        ntm_log_emit(st->log, LOG_WARNING, NTM_MSGID_BUFFER_CAP, NULL, 0,
                     "buffer %s is %s: evicted the %" PRIu64 " oldest messages (%" PRIu64
                     " dropped in all); the uplink is behind",
                     st->cfg->storage.path, low ? "on a nearly full disk" : "over its size cap",
                     gone, st->counters[C_DROPPED]);
}

static void open_wal_fd(struct ntm_store *st)
{
    if (st->wal_fd < 0)
        st->wal_fd = open(st->wal_path, O_RDONLY | O_CLOEXEC);
}

static void on_sync_timer(uv_timer_t *t)
{
    struct ntm_store *st = t->data;
    if (st->failed)
        return; /* the recover timer has the database */
    enforce_cap(st);
    make_reserve(st);
    /* the commit of the records since the last tick: SQLite writes their pages
     * to the WAL once a second instead of every few tens of ms (the tail
     * journal covers a crash in between) */
    ntm_store_commit(st);
    if (st->sync_busy || (st->commits_since_sync == 0 && !st->stats.disk_low))
        return;
    open_wal_fd(st);
    /* the frames in the WAL since it was last reset (the file keeps its size) */
    uint64_t wal_bytes = (uint64_t)st->wal_frames * 4096;
    st->sync_checkpoint = wal_bytes >= checkpoint_threshold(st);
    st->commits_since_sync = 0;
    st->sync_busy = true;
    st->sync_work.data = st;
    if (uv_queue_work(st->loop, &st->sync_work, sync_work, sync_done) != 0) {
        st->sync_busy = false;
        return;
    }
    if (st->sync_checkpoint && !st->in_tx) {
        st->hold = true;
        st->hold_broken = false;
        st->held = 0;
        st->held_mark = ntm_tail_mark(st->tail);
    }
}

/* Tries to write again after a failure: frees the reserve, checkpoints the
 * WAL away, writes a small transaction (evicting the oldest messages when
 * space is still short); on success the owner gets its kept records back. */
static void on_recover_timer(uv_timer_t *t)
{
    struct ntm_store *st = t->data;
    if (st->sync_busy)
        return;
    unlink(st->reserve_path);
    sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    check_space(st);
    st->failed = false; /* let begin/commit run; fail() sets it again */
    bool short_of_space = st->stats.fs_free < low_water(st);
    uint64_t gone = 0;
    if (begin(st) == 0) {
        if (short_of_space && st->counters[C_BUFFERED] > 0) {
            uint64_t n = st->counters[C_BUFFERED] / 20 + 100;
            write_floor(st);
            sqlite3_bind_int64(st->s_evict, 1, (int64_t)n);
            if (step_done(st->s_evict) == SQLITE_OK)
                gone = (uint64_t)sqlite3_changes(st->db);
            bump(st, C_DROPPED, (int64_t)gone);
            bump(st, C_BUFFERED, -(int64_t)gone);
        }
        bump(st, C_ACCEPTED, 0);
        /* the kept records are not in this transaction: a plain COMMIT, which
         * leaves them in the tail journal */
        int rc = write_counters(st);
        if (rc == SQLITE_OK)
            rc = step_done(st->s_commit);
        st->in_tx = false;
        if (rc != SQLITE_OK) {
            if (sqlite3_get_autocommit(st->db) == 0)
                step_done(st->s_rollback);
            reload_after_rollback(st);
            st->failed = true;
            return;
        }
        memset(st->counter_dirty, 0, sizeof st->counter_dirty);
    } else {
        st->failed = true;
        return;
    }
    uv_timer_stop(&st->recover_timer);
    st->stats.disk_full = 0;
    ntm_log_emit(st->log, LOG_NOTICE, NTM_MSGID_DISK_FULL, NULL, 0,
                 "database %s: writes succeed again (%.1f MiB free%s%" PRIu64
                 " oldest messages evicted); ingest resumes with the %zu kept messages",
                 st->cfg->storage.path, (double)st->stats.fs_free / 1048576.0, gone ? ", " : ", ",
                 gone, ntm_tail_count(st->tail));
    if (st->hooks.recovered)
        st->hooks.recovered(st->hooks.arg);
}

/* ---- MAC keys --------------------------------------------------------------- */

int ntm_store_mac_key(void *arg, int64_t day, uint8_t key[16])
{
    struct ntm_store *st = arg;
    struct mac_key *slot = &st->keys[(uint64_t)day % 3];
    if (slot->day == day) {
        memcpy(key, slot->key, 16);
        return 0;
    }
    int found = 0;
    sqlite3_bind_int64(st->s_key_get, 1, day);
    if (sqlite3_step(st->s_key_get) == SQLITE_ROW && sqlite3_column_bytes(st->s_key_get, 0) == 16) {
        memcpy(slot->key, sqlite3_column_blob(st->s_key_get, 0), 16);
        found = 1;
    }
    sqlite3_reset(st->s_key_get);
    if (!found) {
        if (getrandom(slot->key, 16, 0) != 16 || begin(st) != 0)
            return -1;
        sqlite3_bind_int64(st->s_key_put, 1, day);
        sqlite3_bind_blob(st->s_key_put, 2, slot->key, 16, SQLITE_STATIC);
        if (step_done(st->s_key_put) != SQLITE_OK)
            return -1;
        st->pending++;
        /* committed at once: records in the tail journal hashed with this key
         * would be worthless after a crash without it */
        ntm_store_commit(st);
    }
    slot->day = day;
    memcpy(key, slot->key, 16);
    return 0;
}

/* ---- append ----------------------------------------------------------------- */

static void bind_nonneg_double(sqlite3_stmt *s, int i, double v)
{
    if (v >= 0)
        sqlite3_bind_double(s, i, v);
}

bool ntm_store_device_conflict(struct ntm_store *st, const struct ntm_record *rec)
{
    if (st->devs_cap == 0)
        return false;
    const struct device *d = dev_slot(st, rec->device);
    return d->name[0] != '\0' &&
           (d->kind != rec->kind || strcmp(d->village, st->cfg->villages[rec->village].id) != 0);
}

static int insert_record(struct ntm_store *st, struct device *d, int64_t id,
                         const struct ntm_record *rec);

/* A held record goes to the database (its device is known in memory). */
static void insert_held(void *arg, int64_t id, const char *village, const struct ntm_record *rec)
{
    struct ntm_store *st = arg;
    if (st->failed)
        return; /* kept in the tail, handed back on recovery */
    bool is_new;
    struct device *d = dev_get(st, rec->device, &is_new);
    if (!d)
        return;
    if (is_new) {
        snprintf(d->village, sizeof d->village, "%s", village);
        d->kind = rec->kind;
    }
    insert_record(st, d, id, rec);
}

/* The checkpoint is done (or something must write now): the held records are
 * inserted, in order, under the ids they have in the tail journal. */
static void release_hold(struct ntm_store *st)
{
    if (!st->hold)
        return;
    st->hold = false;
    if (st->held == 0)
        return;
    st->releasing = true;
    ntm_tail_each_from(st->tail, st->held_mark, insert_held, st);
    st->releasing = false;
    st->held = 0;
    if (st->pending >= (uint32_t)st->cfg->storage.commit_max)
        ntm_store_commit(st);
}

/* Puts a record in the tail journal under the next id. */
static int add_to_tail(struct ntm_store *st, const char *village, const struct ntm_record *rec)
{
    if (ntm_tail_add(st->tail, st->next_id, village, rec) != 0)
        return -1;
    st->next_id++;
    if (!uv_is_active((uv_handle_t *)&st->tail_timer))
        uv_timer_start(&st->tail_timer, on_tail_timer, (uint64_t)st->cfg->storage.commit_ms, 0);
    return 0;
}

int ntm_store_append(struct ntm_store *st, const struct ntm_record *rec)
{
    const char *village = st->cfg->villages[rec->village].id;
    if (st->failed)
        return add_to_tail(st, village, rec); /* kept: written once the store recovers */
    bool is_new;
    struct device *d = dev_get(st, rec->device, &is_new);
    if (!d)
        return -1;
    if (is_new) {
        snprintf(d->village, sizeof d->village, "%s", village);
        d->kind = rec->kind;
        ntm_log_emit(st->log, LOG_INFO, NULL,
                     (struct ntm_log_field[]){{"VILLAGE", village},
                                              {"DEVICE", rec->device},
                                              {"KIND", ntm_kind_name(rec->kind)}},
                     3, "new device %s (%s) in village %s, not in the configured inventory",
                     rec->device, ntm_kind_name(rec->kind), village);
    } else if (d->kind != rec->kind || strcmp(d->village, village) != 0) {
        return 1; /* device_conflict: the caller rejects */
    }
    int64_t id = st->next_id;
    if (add_to_tail(st, village, rec) != 0)
        return -1;
    if (st->hold) {
        if (++st->held < (uint32_t)st->cfg->storage.commit_max)
            return 0; /* inserted when the checkpoint is done */
        st->hold_broken = true;
        release_hold(st);
        return 0;
    }
    return insert_record(st, d, id, rec);
}

/* Writes one record (already in the tail journal) to the open transaction. */
static int insert_record(struct ntm_store *st, struct device *d, int64_t id,
                         const struct ntm_record *rec)
{
    if (begin(st) != 0)
        return -1;
    if (d->rowid == 0) { /* new, or its row not written yet */
        int drc = dev_insert_row(st, d, false);
        if (drc != SQLITE_OK) {
            fail(st, drc, "adding a device"); /* reloads the devices from the database */
            return 0;                         /* kept */
        }
        st->pending++;
    }
    int64_t now_s = rec->recv_ms / 1000;
    if (d->first_seen == 0) {
        d->first_seen = now_s;
    }

    sqlite3_stmt *s = st->s_msg;
    sqlite3_bind_int64(s, 24, id);
    sqlite3_bind_int64(s, 1, rec->ts);
    sqlite3_bind_int64(s, 2, rec->recv_ms);
    sqlite3_bind_int64(s, 3, d->rowid);
    sqlite3_bind_int(s, 4, rec->channel);
    sqlite3_bind_int(s, 5, rec->event);
    sqlite3_bind_int(s, 6, rec->flags);
    switch (rec->channel) {
    case NTM_CH_STATE:
        sqlite3_bind_int(s, 7, rec->u.state.online);
        break;
    case NTM_CH_HEARTBEAT:
        sqlite3_bind_int(s, 8, rec->u.heartbeat.interval_s);
        if (rec->u.heartbeat.uptime_s >= 0)
            sqlite3_bind_int64(s, 9, rec->u.heartbeat.uptime_s);
        break;
    case NTM_CH_EVENT:
        if (rec->event == NTM_EV_BROADCAST) {
            sqlite3_bind_int64(s, 10, rec->u.broadcast.start);
            sqlite3_bind_double(s, 11, rec->u.broadcast.duration_s);
            sqlite3_bind_int(s, 12, rec->u.broadcast.result);
            sqlite3_bind_int(s, 13, rec->u.broadcast.priority);
            sqlite3_bind_int(s, 14, rec->u.broadcast.source);
            if (rec->u.broadcast.program[0])
                sqlite3_bind_text(s, 15, rec->u.broadcast.program, -1, SQLITE_STATIC);
        } else if (rec->event == NTM_EV_FAULT) {
            sqlite3_bind_int(s, 16, rec->u.fault.fault);
        } else {
            bind_nonneg_double(s, 11, rec->u.camera_event.duration_s);
        }
        break;
    case NTM_CH_STATS:
        if (rec->kind == NTM_KIND_CAMERA) {
            sqlite3_bind_int(s, 17, rec->u.camera_stats.recording);
            bind_nonneg_double(s, 18, rec->u.camera_stats.storage_free_pct);
        } else {
            sqlite3_bind_int64(s, 19, rec->u.wifi.clients);
            sqlite3_bind_int64(s, 20, rec->u.wifi.new_sessions);
            sqlite3_bind_int64(s, 21, rec->u.wifi.rx_bytes);
            sqlite3_bind_int64(s, 22, rec->u.wifi.tx_bytes);
            if (rec->u.wifi.n_macs > 0)
                sqlite3_bind_blob(s, 23, rec->u.wifi.mac_hash, (int)(rec->u.wifi.n_macs * 8),
                                  SQLITE_STATIC);
        }
        break;
    default:
        break;
    }
    int rc = step_done(s);
    if (rc != SQLITE_OK) {
        fail(st, rc, "storing a message");
        return 0; /* kept */
    }
    d->last_seen = now_s;
    if (rec->ts > d->last_ts)
        d->last_ts = rec->ts;
    d->new_messages++;
    d->dirty = true;
    bump(st, C_ACCEPTED, 1);
    bump(st, C_BUFFERED, 1);
    if (rec->flags & NTM_REC_CLOCK_FALLBACK)
        bump(st, C_CLOCK_FALLBACK, 1);
    if (rec->flags & NTM_REC_LATE)
        bump(st, C_LATE, 1);
    st->last_msg_id = id;
    if (++st->pending >= (uint32_t)st->cfg->storage.commit_max)
        ntm_store_commit(st);
    return 0;
}

int ntm_store_reject(struct ntm_store *st, int64_t recv_ms, const char *topic, size_t topic_len,
                     enum ntm_reject reason, const char *detail, size_t payload_len)
{
    bump(st, (enum counter)(C_REJECTED0 + reason), 1);
    if (st->cfg->storage.quarantine_max == 0)
        return 0;
    if (begin(st) != 0)
        return -1;
    if (topic_len > 256)
        topic_len = 256;
    sqlite3_bind_int64(st->s_quarantine, 1, recv_ms);
    sqlite3_bind_text(st->s_quarantine, 2, topic, (int)topic_len, SQLITE_STATIC);
    sqlite3_bind_text(st->s_quarantine, 3, ntm_reject_name(reason), -1, SQLITE_STATIC);
    sqlite3_bind_text(st->s_quarantine, 4, detail, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st->s_quarantine, 5, (int64_t)payload_len);
    int rc = step_done(st->s_quarantine);
    st->quarantine_added = true;
    if (++st->pending >= (uint32_t)st->cfg->storage.commit_max)
        ntm_store_commit(st);
    return rc == SQLITE_OK ? 0 : -1;
}

/* ---- open / close ----------------------------------------------------------- */

static int migrate(struct ntm_store *st, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        version = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (version > NTM_SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "%s: database schema version %d is newer than this daemon's (%d); "
                 "install the newer ntm-gateway or move the file aside",
                 st->cfg->storage.path, version, NTM_SCHEMA_VERSION);
        return -1;
    }
    for (; version < NTM_SCHEMA_VERSION; version++) {
        char sql[64];
        if (exec(st, "BEGIN IMMEDIATE", err, errlen) != 0)
            return -1;
        snprintf(sql, sizeof sql, "PRAGMA user_version=%d", version + 1);
        if (exec(st, migrations[version], err, errlen) != 0 || exec(st, sql, err, errlen) != 0) {
            exec(st, "ROLLBACK", NULL, 0);
            return -1;
        }
        char meta[256];
        snprintf(meta, sizeof meta,
                 "INSERT OR REPLACE INTO meta VALUES('schema_version', %d);"
                 "INSERT OR IGNORE INTO meta VALUES('created_at', %" PRId64 ");",
                 version + 1, ntm_clock_wall_ms(st->clock) / 1000);
        if (exec(st, meta, err, errlen) != 0 || exec(st, "COMMIT", err, errlen) != 0) {
            exec(st, "ROLLBACK", NULL, 0);
            return -1;
        }
        ntm_log(st->log, LOG_INFO, "database %s: schema migrated to version %d",
                st->cfg->storage.path, version + 1);
    }
    return 0;
}

/* ---- opening, and a bad file at the path ---------------------------------------- */

static bool is_bad(int rc)
{
    return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT;
}

/* The directory must exist and be writable: SQLite writes the WAL beside the file. */
static int check_dir(const char *path, char *err, size_t errlen)
{
    char *dir = strdup(path);
    if (!dir)
        return -1;
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash) {
        *(slash == dir ? slash + 1 : slash) = '\0';
        d = dir;
    }
    int rc = 0;
    if (access(d, W_OK | X_OK) != 0) {
        snprintf(err, errlen,
                 "%s: cannot use the database directory %s: %s (the daemon runs as uid %d; "
                 "the directory must exist and be writable by it, e.g. owned by the "
                 "ntm-gateway user)",
                 path, d, strerror(errno), (int)geteuid());
        rc = -1;
    }
    free(dir);
    return rc;
}

/* 1 when the file at the path is an SQLite database of another program (tables
 * but no ntm-gateway schema), with err saying so. */
static bool foreign(struct ntm_store *st, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int tables = 0, has_meta = 0;
    int rc = sqlite3_prepare_v2(st->db,
                                "SELECT count(*), sum(name = 'meta') FROM sqlite_master"
                                " WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                                -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        tables = sqlite3_column_int(s, 0);
        has_meta = sqlite3_column_int(s, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (is_bad(rc)) {
        snprintf(err, errlen, "%s is damaged: %s", st->cfg->storage.path, sqlite3_errstr(rc));
        return true;
    }
    if (tables > 0 && !has_meta) {
        snprintf(err, errlen,
                 "%s is an SQLite database of another program (%d tables, none of "
                 "ntm-gateway's)",
                 st->cfg->storage.path, tables);
        return true;
    }
    return false;
}

/* 0 opened; 1 the file is not a usable ntm-gateway database (err says why);
 * -1 another error (err says which). */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((struct ntm_store *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

static int open_db(struct ntm_store *st, char *err, size_t errlen)
{
    /* a file that does not even start as SQLite is not opened at all */
    FILE *f = fopen(st->cfg->storage.path, "rbe");
    if (f) {
        char head[16] = {0};
        size_t n = fread(head, 1, sizeof head, f);
        fclose(f);
        if (n > 0 && (n < sizeof head || memcmp(head, "SQLite format 3", 16) != 0)) {
            snprintf(err, errlen, "%s is not an SQLite database", st->cfg->storage.path);
            return 1;
        }
    }
    int rc =
        sqlite3_open_v2(st->cfg->storage.path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open the database: %s", st->cfg->storage.path,
                 st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        return -1;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, 1000);
    /* before anything writes to it (switching to WAL rewrites its header) */
    if (foreign(st, err, errlen))
        return 1;
    /* WAL: readers (ntmctl) never block the writer. synchronous=NORMAL: a commit
     * is a write(), made durable by the sync timer; a power cut can lose at most
     * storage.sync_ms of commits and never corrupts the file. Checkpoints are ours.
     * A 512 KiB page cache holds a second's transaction at 1,000 msg/s (about 30
     * dirty pages) with room to spare; 1 MiB cost 1.2 MiB more RSS for nothing. */
    if (exec(st,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;"
             "PRAGMA cache_size=-512; PRAGMA temp_store=MEMORY; PRAGMA foreign_keys=OFF;"
             "PRAGMA journal_size_limit=8388608;",
             err, errlen) != 0)
        return is_bad(st->last_rc) ? 1 : -1;
    /* after each commit: how big the WAL is, for the checkpoint decision. It
     * takes the place of SQLite's autocheckpoint (same hook), which would run
     * on the loop; so it is set after the PRAGMAs, which would reset it. */
    sqlite3_wal_hook(st->db, on_wal_commit, st);
    if (migrate(st, err, errlen) != 0)
        return -1;

    struct {
        sqlite3_stmt **s;
        const char *sql;
    } stmts[] = {
        {&st->s_begin, "BEGIN"},
        {&st->s_commit, "COMMIT"},
        {&st->s_rollback, "ROLLBACK"},
        {&st->s_msg,
         "INSERT INTO messages(ts, recv_ms, device, channel, event, flags, online, interval_s,"
         " uptime_s, start, duration_s, result, priority, source, program, fault, recording,"
         " storage_free_pct, clients, new_sessions, rx_bytes, tx_bytes, mac_hashes, id)"
         " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,"
         "?22,?23,?24)"},
        {&st->s_quarantine,
         "INSERT INTO quarantine(recv_ms, topic, reason, detail, size) VALUES(?,?,?,?,?)"},
        {&st->s_quarantine_trim,
         "DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?"},
        {&st->s_counter, "INSERT OR REPLACE INTO counters(name, value) VALUES(?,?)"},
        {&st->s_dev_insert, "INSERT INTO devices(name, village, kind, declared) VALUES(?,?,?,?)"},
        {&st->s_dev_update,
         "UPDATE devices SET first_seen = coalesce(first_seen, ?1), last_seen = ?1,"
         " last_ts = max(coalesce(last_ts, 0), ?2), messages = messages + ?3 WHERE id = ?4"},
        {&st->s_key_get, "SELECT key FROM mac_keys WHERE day = ?"},
        {&st->s_key_put, "INSERT OR IGNORE INTO mac_keys(day, key) VALUES(?,?)"},
        {&st->s_evict,
         "DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT ?)"},
        {&st->s_floor, "INSERT OR REPLACE INTO meta(key, value) VALUES('msg_id_floor', ?)"},
    };
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        if (prepare(st, stmts[i].s, stmts[i].sql, err, errlen) != 0)
            return is_bad(st->last_rc) ? 1 : -1;
    if (load_counters(st) != 0 || load_devices(st, err, errlen) != 0)
        return -1;
    return 0;
}

static void close_db(struct ntm_store *st)
{
    sqlite3_stmt **all[] = {&st->s_begin,   &st->s_commit,     &st->s_rollback,
                            &st->s_msg,     &st->s_quarantine, &st->s_quarantine_trim,
                            &st->s_counter, &st->s_dev_insert, &st->s_dev_update,
                            &st->s_key_get, &st->s_key_put,    &st->s_evict,
                            &st->s_floor,   &st->s_dev_state};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        sqlite3_finalize(*all[i]);
        *all[i] = NULL;
    }
    sqlite3_close(st->db);
    st->db = NULL;
    if (st->devs)
        memset(st->devs, 0, st->devs_cap * sizeof *st->devs);
    st->devs_len = 0;
    memset(st->counters, 0, sizeof st->counters);
}

/* Renames the file (and its -wal and -shm) to PATH.bad-YYYYMMDDTHHMMSS: never
 * deleted, so that nothing is lost that a person could still recover. */
static int move_aside(struct ntm_store *st, const char *why, char *err, size_t errlen)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    const char *suffixes[] = {"", "-wal", "-shm"};
    char dest[4200] = "";
    for (size_t i = 0; i < 3; i++) {
        char from[4096], to[4200];
        snprintf(from, sizeof from, "%s%s", st->cfg->storage.path, suffixes[i]);
        snprintf(to, sizeof to, "%s.bad-%s%s", st->cfg->storage.path, stamp, suffixes[i]);
        if (access(from, F_OK) != 0)
            continue;
        if (rename(from, to) != 0) {
            snprintf(err, errlen, "%s; moving it aside to %s failed: %s", why, to, strerror(errno));
            return -1;
        }
        if (i == 0)
            snprintf(dest, sizeof dest, "%s", to);
    }
    ntm_log_emit(st->log, LOG_ERR, NTM_MSGID_DB_MOVED_ASIDE, NULL, 0,
                 "%s: moved it aside to %s (kept, not deleted) and starting a fresh buffer", why,
                 dest);
    return 0;
}

/* Where the tail journal lives: under systemd, in the service's runtime
 * directory ($RUNTIME_DIRECTORY, a tmpfs: RuntimeDirectory= with
 * RuntimeDirectoryPreserve=yes in the unit), where it survives a crash or a
 * kill -9 of the daemon and costs the SD card nothing; it need not survive a
 * reboot (a clean stop commits everything; a power cut is the database's
 * storage.sync_ms window). Elsewhere, beside the database: PATH-tail. */
static char *tail_path_for(const char *db_path)
{
    const char *run = getenv("RUNTIME_DIRECTORY");
    char *p = NULL;
    if (run && run[0] == '/') {
        size_t dir_len = strcspn(run, ":"); /* the first of several */
        const char *base = strrchr(db_path, '/');
        base = base ? base + 1 : db_path;
        if (asprintf(&p, "%.*s/%s-tail", (int)dir_len, run, base) < 0)
            p = NULL;
    } else if (asprintf(&p, "%s-tail", db_path) < 0) {
        p = NULL;
    }
    return p;
}

/* Reads back the records a crash left in the tail journal (newer than the
 * database's last message); the owner takes them with ntm_store_take_kept(). */
static void recover_tail(struct ntm_store *st)
{
    struct take_ctx c = {.st = st};
    long bad_at = -1;
    long n = ntm_tail_recover(st->tail, st->last_msg_id, take_one, &c, &bad_at);
    st->recovered = c.v;
    st->n_recovered = c.n;
    if (n > 0)
        ntm_log(st->log, LOG_NOTICE,
                "tail journal %s: %ld accepted messages of a run that did not stop cleanly "
                "were not yet in the database; storing them now%s",
                st->tail_path, n,
                c.skipped ? " (some of villages no longer configured are dropped)" : "");
    if (c.skipped)
        ntm_log(st->log, LOG_WARNING,
                "tail journal %s: %zu messages of villages no longer in the configuration "
                "dropped",
                st->tail_path, c.skipped);
    if (bad_at >= 0)
        ntm_log(st->log, LOG_WARNING,
                "tail journal %s: unreadable from byte %ld on (cut short by a power loss, or "
                "written by another version); what follows is ignored",
                st->tail_path, bad_at);
}

int ntm_store_open(struct ntm_store **out, uv_loop_t *loop, const struct ntm_config *cfg,
                   struct ntm_log *log, struct ntm_clock *clock, char *err, size_t errlen)
{
    struct ntm_store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->loop = loop;
    st->cfg = cfg;
    st->log = log;
    st->clock = clock;
    st->wal_fd = -1;
    for (int i = 0; i < 3; i++)
        st->keys[i].day = INT64_MIN;
    if (asprintf(&st->wal_path, "%s-wal", cfg->storage.path) < 0) {
        free(st);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uv_timer_init(loop, &st->tail_timer);
    uv_timer_init(loop, &st->sync_timer);
    uv_timer_init(loop, &st->recover_timer);
    st->tail_timer.data = st;
    st->sync_timer.data = st;
    st->recover_timer.data = st;
    if (asprintf(&st->reserve_path, "%s-reserve", cfg->storage.path) < 0)
        st->reserve_path = NULL;
    st->tail_path = tail_path_for(cfg->storage.path);
    *out = st;

    int rc = check_dir(cfg->storage.path, err, errlen);
    if (rc == 0)
        rc = open_db(st, err, errlen);
    if (rc == 1) {
        /* not ours, or damaged: keep it for a person to look at, start afresh */
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        close_db(st);
        if (move_aside(st, why, err, errlen) != 0)
            return -1;
        rc = open_db(st, err, errlen);
        if (rc == 1)
            rc = -1;
    }
    if (rc != 0)
        return -1;
    /* ids are never reused: the next is above every message, every message
     * ever deleted (the floor) and the aggregation snapshot's */
    st->last_msg_id =
        ntm_store_scalar(st,
                         "SELECT max(coalesce((SELECT max(id) FROM messages), 0),"
                         " coalesce((SELECT value FROM meta WHERE key = 'msg_id_floor'), 0),"
                         " coalesce((SELECT msg_id FROM agg_state WHERE id = 1), 0))",
                         0);
    st->committed_msg_id = st->last_msg_id;
    st->next_id = st->last_msg_id + 1;
    if (!st->tail_path || ntm_tail_open(&st->tail, st->tail_path, err, errlen) != 0)
        return -1;
    ntm_log(st->log, LOG_INFO,
            "database %s: messages not yet committed are journalled in %s every %d ms",
            cfg->storage.path, st->tail_path, cfg->storage.commit_ms);
    recover_tail(st);
    open_wal_fd(st);
    enforce_cap(st);
    make_reserve(st);
    uv_timer_start(&st->sync_timer, on_sync_timer, (uint64_t)cfg->storage.sync_ms,
                   (uint64_t)cfg->storage.sync_ms);
    return 0;
}

int ntm_store_flush(struct ntm_store *st)
{
    int rc = ntm_store_commit(st);
    open_wal_fd(st);
    if (st->wal_fd >= 0 && fdatasync(st->wal_fd) != 0)
        rc = -1;
    /* all committed and durable: a clean stop leaves an empty tail journal */
    if (rc == 0 && !st->failed && st->n_recovered == 0 && ntm_tail_count(st->tail) == 0)
        ntm_tail_clear(st->tail);
    return rc;
}

void ntm_store_stats(const struct ntm_store *st, struct ntm_store_stats *out)
{
    *out = st->stats;
    out->accepted_total = st->counters[C_ACCEPTED];
    out->buffered = st->counters[C_BUFFERED];
    out->dropped_total = st->counters[C_DROPPED];
    out->clock_fallback_total = st->counters[C_CLOCK_FALLBACK];
    out->late_total = st->counters[C_LATE];
    out->rejected_total = 0;
    for (int r = 0; r < NTM_REJ_COUNT; r++) {
        out->rejected[r] = st->counters[C_REJECTED0 + r];
        out->rejected_total += out->rejected[r];
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

void ntm_store_close(struct ntm_store *st)
{
    if (!st)
        return;
    if (st->db && st->tail) {
        ntm_store_flush(st);
    }
    /* A sync still on the worker must finish before its connection goes. */
    while (st->sync_busy)
        uv_run(st->loop, UV_RUN_ONCE);
    if (st->ckpt_db)
        sqlite3_close(st->ckpt_db);
    close_db(st);
    if (st->wal_fd >= 0)
        close(st->wal_fd);
    explicit_bzero(st->keys, sizeof st->keys);
    uv_close((uv_handle_t *)&st->tail_timer, on_handle_closed);
    uv_close((uv_handle_t *)&st->sync_timer, on_handle_closed);
    uv_close((uv_handle_t *)&st->recover_timer, on_handle_closed);
    /* the handles live in st: run the loop until their close callbacks ran */
    uv_run(st->loop, UV_RUN_NOWAIT);
    free(st->wal_path);
    free(st->reserve_path);
    ntm_tail_close(st->tail);
    free(st->tail_path);
    for (size_t i = 0; i < st->n_recovered; i++)
        free(st->recovered[i]);
    free(st->recovered);
    free(st->devs);
    free(st);
}

/* ---- shared with outbox, sync and the aggregation snapshot -------------------- */

sqlite3 *ntm_store_db(struct ntm_store *st)
{
    return st->db;
}

int ntm_store_begin(struct ntm_store *st)
{
    return begin(st);
}

int64_t ntm_store_last_msg_id(const struct ntm_store *st)
{
    return st->last_msg_id;
}

void ntm_store_each_device(struct ntm_store *st,
                           void (*fn)(void *arg, const char *name, int village, int kind),
                           void *arg)
{
    for (size_t i = 0; i < st->devs_cap; i++) {
        const struct device *d = &st->devs[i];
        if (!d->name[0])
            continue;
        int v = ntm_config_village(st->cfg, d->village);
        if (v >= 0)
            fn(arg, d->name, v, d->kind);
    }
}

int ntm_store_replay(struct ntm_store *st, int64_t after_id,
                     void (*fn)(void *arg, const struct ntm_record *rec, int64_t id), void *arg)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT m.id, m.ts, m.recv_ms, d.name, d.village, d.kind, m.channel,"
                           " m.event, m.flags, m.online, m.interval_s, m.uptime_s, m.start,"
                           " m.duration_s, m.result, m.priority, m.source, m.program, m.fault,"
                           " m.recording, m.storage_free_pct, m.clients, m.new_sessions,"
                           " m.rx_bytes, m.tx_bytes, m.mac_hashes"
                           " FROM messages m JOIN devices d ON d.id = m.device WHERE m.id > ?"
                           " ORDER BY m.id",
                           -1, &s, NULL) != SQLITE_OK) {
        ntm_log(st->log, LOG_ERR, "database %s: replay: %s", st->cfg->storage.path,
                sqlite3_errmsg(st->db));
        return -1;
    }
    sqlite3_bind_int64(s, 1, after_id);
    struct ntm_record *rec = malloc(sizeof *rec);
    if (!rec) {
        sqlite3_finalize(s);
        return -1;
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int village = ntm_config_village(st->cfg, (const char *)sqlite3_column_text(s, 4));
        int kind = ntm_kind_parse((const char *)sqlite3_column_text(s, 5));
        if (village < 0 || kind < 0)
            continue;
        memset(rec, 0, offsetof(struct ntm_record, u));
        rec->ts = sqlite3_column_int64(s, 1);
        rec->recv_ms = sqlite3_column_int64(s, 2);
        snprintf(rec->device, sizeof rec->device, "%s", (const char *)sqlite3_column_text(s, 3));
        rec->village = (uint16_t)village;
        rec->kind = (uint8_t)kind;
        rec->channel = (uint8_t)sqlite3_column_int(s, 6);
        rec->event = (uint8_t)sqlite3_column_int(s, 7);
        rec->flags = (uint8_t)sqlite3_column_int(s, 8);
        switch (rec->channel) {
        case NTM_CH_STATE:
            rec->u.state.online = sqlite3_column_int(s, 9) != 0;
            break;
        case NTM_CH_HEARTBEAT:
            rec->u.heartbeat.interval_s = sqlite3_column_int(s, 10);
            rec->u.heartbeat.uptime_s =
                sqlite3_column_type(s, 11) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 11);
            break;
        case NTM_CH_EVENT:
            if (rec->event == NTM_EV_BROADCAST) {
                rec->u.broadcast.start = sqlite3_column_int64(s, 12);
                rec->u.broadcast.duration_s = sqlite3_column_double(s, 13);
                rec->u.broadcast.result = (uint8_t)sqlite3_column_int(s, 14);
                rec->u.broadcast.priority = (uint8_t)sqlite3_column_int(s, 15);
                rec->u.broadcast.source = (uint8_t)sqlite3_column_int(s, 16);
                const unsigned char *prog = sqlite3_column_text(s, 17);
                snprintf(rec->u.broadcast.program, sizeof rec->u.broadcast.program, "%s",
                         prog ? (const char *)prog : "");
            } else if (rec->event == NTM_EV_FAULT) {
                rec->u.fault.fault = (uint8_t)sqlite3_column_int(s, 18);
            } else {
                rec->u.camera_event.duration_s =
                    sqlite3_column_type(s, 13) == SQLITE_NULL ? -1 : sqlite3_column_double(s, 13);
            }
            break;
        case NTM_CH_STATS:
            if (rec->kind == NTM_KIND_CAMERA) {
                rec->u.camera_stats.recording = sqlite3_column_int(s, 19) != 0;
                rec->u.camera_stats.storage_free_pct =
                    sqlite3_column_type(s, 20) == SQLITE_NULL ? -1 : sqlite3_column_double(s, 20);
            } else {
                rec->u.wifi.clients = sqlite3_column_int64(s, 21);
                rec->u.wifi.new_sessions = sqlite3_column_int64(s, 22);
                rec->u.wifi.rx_bytes = sqlite3_column_int64(s, 23);
                rec->u.wifi.tx_bytes = sqlite3_column_int64(s, 24);
                int n = sqlite3_column_bytes(s, 25) / 8;
                if (n > NTM_MACS_MAX)
                    n = NTM_MACS_MAX;
                rec->u.wifi.n_macs = (uint32_t)n;
                if (n > 0)
                    memcpy(rec->u.wifi.mac_hash, sqlite3_column_blob(s, 25), (size_t)n * 8);
            }
            break;
        default:
            break;
        }
        fn(arg, rec, sqlite3_column_int64(s, 0));
    }
    free(rec);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

bool ntm_store_snapshot_ok(const struct ntm_store *st)
{
    return !st->failed && !st->hold;
}

int ntm_store_save_agg(struct ntm_store *st, int64_t msg_id, const void *blob, size_t len)
{
    /* while writes fail, or records are held, the state holds records the
     * database does not: a snapshot now would count them twice after a crash */
    if (st->failed || st->hold || begin(st) != 0)
        return -1;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db,
                                "INSERT OR REPLACE INTO agg_state(id, msg_id, saved_ms, state)"
                                " VALUES(1, ?, ?, ?)",
                                -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, msg_id);
        sqlite3_bind_int64(s, 2, ntm_clock_wall_ms(st->clock));
        sqlite3_bind_blob(s, 3, blob, (int)len, SQLITE_STATIC);
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(st->db);
    }
    sqlite3_finalize(s);
    st->pending++;
    return rc == SQLITE_OK ? 0 : -1;
}

int ntm_store_load_agg(struct ntm_store *st, int64_t *msg_id, void **blob, size_t *len)
{
    sqlite3_stmt *s = NULL;
    int result = 1;
    if (sqlite3_prepare_v2(st->db, "SELECT msg_id, state FROM agg_state WHERE id = 1", -1, &s,
                           NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(s) == SQLITE_ROW) {
        *msg_id = sqlite3_column_int64(s, 0);
        *len = (size_t)sqlite3_column_bytes(s, 1);
        *blob = malloc(*len ? *len : 1);
        if (*blob) {
            if (*len > 0)
                memcpy(*blob, sqlite3_column_blob(s, 1), *len);
            result = 0;
        } else {
            result = -1;
        }
    }
    sqlite3_finalize(s);
    return result;
}

int ntm_store_forget_mac_keys(struct ntm_store *st, int64_t day)
{
    if (begin(st) != 0)
        return -1;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "DELETE FROM mac_keys WHERE day < ?", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, day);
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : -1;
    }
    sqlite3_finalize(s);
    for (int i = 0; i < 3; i++)
        if (st->keys[i].day != INT64_MIN && st->keys[i].day < day) {
            explicit_bzero(st->keys[i].key, sizeof st->keys[i].key);
            st->keys[i].day = INT64_MIN;
        }
    st->pending++;
    return rc == SQLITE_OK ? 0 : -1;
}

int64_t ntm_store_release(struct ntm_store *st, int64_t msg_hi, int64_t ts_before)
{
    if (begin(st) != 0)
        return -1;
    write_floor(st);
    sqlite3_stmt *s = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(st->db, "DELETE FROM messages WHERE id <= ? AND ts < ?", -1, &s, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_int64(s, 1, msg_hi);
        sqlite3_bind_int64(s, 2, ts_before);
        if (sqlite3_step(s) == SQLITE_DONE)
            n = sqlite3_changes(st->db);
    }
    sqlite3_finalize(s);
    if (n > 0)
        bump(st, C_BUFFERED, -n);
    st->pending++;
    return n;
}

void ntm_store_set_sync_ms(struct ntm_store *st, int sync_ms)
{
    uv_timer_start(&st->sync_timer, on_sync_timer, (uint64_t)sync_ms, (uint64_t)sync_ms);
}

int ntm_store_device_state(struct ntm_store *st, const char *name, int online, double uptime_today)
{
    if (st->failed || begin(st) != 0)
        return -1;
    if (!st->s_dev_state &&
        sqlite3_prepare_v3(st->db,
                           "UPDATE devices SET online = coalesce(?, online),"
                           " uptime_today = coalesce(?, uptime_today) WHERE name = ?",
                           -1, SQLITE_PREPARE_PERSISTENT, &st->s_dev_state, NULL) != SQLITE_OK)
        return -1;
    if (online < 0)
        sqlite3_bind_null(st->s_dev_state, 1);
    else
        sqlite3_bind_int(st->s_dev_state, 1, online);
    if (uptime_today < 0)
        sqlite3_bind_null(st->s_dev_state, 2);
    else
        sqlite3_bind_double(st->s_dev_state, 2, uptime_today);
    sqlite3_bind_text(st->s_dev_state, 3, name, -1, SQLITE_STATIC);
    st->pending++;
    return step_done(st->s_dev_state) == SQLITE_OK ? 0 : -1;
}

int64_t ntm_store_scalar(struct ntm_store *st, const char *sql, int64_t dflt)
{
    sqlite3_stmt *s = NULL;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}
