/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store_append.c: the batched transaction (begin, commit, a failed write), the
 * appending of accepted and rejected (quarantined) records, the tail journal
 * hand-off and the kept records. It must not parse, evict or fsync. */
#include "store_impl.h"
#include "text_safe.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ntm_st_append_prepare(struct ntm_store *st, char *err, size_t errlen)
{
    static const struct ntm_st_sql sql[] = {
        {ST_BEGIN, "BEGIN"},
        {ST_COMMIT, "COMMIT"},
        {ST_ROLLBACK, "ROLLBACK"},
        {ST_MSG,
         "INSERT INTO messages(ts, recv_ms, device, channel, event, flags, online, interval_s,"
         " uptime_s, start, duration_s, result, priority, source, program, fault, recording,"
         " storage_free_pct, clients, new_sessions, rx_bytes, tx_bytes, mac_hashes, id)"
         " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,"
         "?22,?23,?24)"},
        {ST_QUARANTINE,
         "INSERT INTO quarantine(recv_ms, topic, reason, detail, size) VALUES(?,?,?,?,?)"},
        {ST_QUARANTINE_TRIM,
         "DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?"},
    };
    return ntm_st_prepare(st, sql, sizeof sql / sizeof sql[0], err, errlen);
}

/* ---- the records not in the database -------------------------------------------- */

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
    if (c.n > 0)
        st->kept_out = true;
    st->held = 0;
    st->held_mark = 0;
    /* fed again in the same order, they get the same ids as in the journal,
     * which therefore never holds one record twice under two ids */
    st->next_id = st->last_msg_id + 1;
    *n = c.n;
    return c.v;
}

void ntm_store_kept_fed(struct ntm_store *st)
{
    st->kept_out = false;
}

void ntm_st_recover_tail(struct ntm_store *st)
{
    struct take_ctx c = {.st = st};
    long bad_at = -1;
    long n = ntm_tail_recover(st->tail, st->last_msg_id, take_one, &c, &bad_at);
    st->recovered = c.v;
    st->n_recovered = c.n;
    if (n > 0)
        ntm_logf(st->log, LOG_NOTICE,
                 "tail journal %s: %ld accepted messages of a run that did not stop cleanly "
                 "were not yet in the database; storing them now%s",
                 st->tail_path, n,
                 c.skipped ? " (some of villages no longer configured are dropped)" : "");
    if (c.skipped)
        ntm_logf(st->log, LOG_WARNING,
                 "tail journal %s: %zu messages of villages no longer in the configuration "
                 "dropped",
                 st->tail_path, c.skipped);
    if (bad_at >= 0)
        ntm_logf(st->log, LOG_WARNING,
                 "tail journal %s: unreadable from byte %ld on (cut short by a power loss, or "
                 "written by another version); what follows is ignored",
                 st->tail_path, bad_at);
}

/* storage.commit_ms after the first record of a burst, and again while
 * records come in: an interval with none means the burst is over, and it is
 * committed now rather than at the next sync tick (readers see it at once,
 * and a steady stream still commits once a second). The records themselves
 * are in the tail journal as soon as they are added. */
static void on_tail_timer(uv_timer_t *t)
{
    struct ntm_store *st = t->data;
    if (!st->tail_added) {
        if (!st->failed && (st->in_tx || st->held > 0))
            ntm_store_commit(st);
        return;
    }
    st->tail_added = false;
    uv_timer_start(&st->tail_timer, on_tail_timer, (uint64_t)st->cfg->storage.commit_ms, 0);
}

/* Puts a record in the tail journal under the next id. When the journal
 * cannot grow (its file system is full), the open transaction is committed
 * to make room, and the record goes in after it. */
static int add_to_tail(struct ntm_store *st, const char *village, const struct ntm_record *rec,
                       uint64_t key)
{
    if (ntm_tail_add(st->tail, st->next_id, key, village, rec) != 0) {
        int e = errno;
        if (st->failed || st->hold || st->releasing || ntm_store_commit(st) != 0 ||
            ntm_tail_add(st->tail, st->next_id, key, village, rec) != 0) {
            uint64_t held = 0;
            if (ntm_complain(&st->tail_complaint, 60000, &held))
                ntm_logf(st->log, LOG_ERR,
                         "tail journal %s: cannot grow: %s; the messages that do not fit are "
                         "counted as dropped until the database takes them",
                         st->tail_path, strerror(e));
            return -1;
        }
    }
    st->next_id++;
    st->tail_added = true;
    if (!uv_is_active((uv_handle_t *)&st->tail_timer))
        uv_timer_start(&st->tail_timer, on_tail_timer, (uint64_t)st->cfg->storage.commit_ms, 0);
    return 0;
}

/* ---- the transaction ------------------------------------------------------------ */

/* True (after failing) when SQLite rolled the open transaction back by
 * itself, as it may after a full disk or an I/O error in any statement: what
 * it held is gone, and the statements that follow would each commit alone. */
static bool rolled_back_under_us(struct ntm_store *st)
{
    if (!st->in_tx || !sqlite3_get_autocommit(st->db))
        return false;
    int rc = sqlite3_extended_errcode(st->db), primary = rc & 0xff;
    if (primary == SQLITE_OK || primary == SQLITE_ROW || primary == SQLITE_DONE)
        rc = SQLITE_ABORT; /* the error that did it is no longer known */
    ntm_st_fail(st, rc, "a write in the open transaction");
    return true;
}

int ntm_st_begin(struct ntm_store *st)
{
    if (rolled_back_under_us(st))
        return SQLITE_ABORT;
    if (st->in_tx)
        return SQLITE_OK;
    if (st->hold && !st->releasing)
        st->hold_broken = true;
    int rc = ntm_st_step_done(st->stmt[ST_BEGIN]);
    if (rc != SQLITE_OK) {
        ntm_logf(st->log, LOG_ERR, "database %s: cannot begin a transaction: %s",
                 st->cfg->storage.path, sqlite3_errstr(rc));
        return rc;
    }
    st->in_tx = true;
    st->pending = 0;
    ntm_st_keys_rewrite(st);
    return SQLITE_OK;
}

void ntm_st_reload_after_rollback(struct ntm_store *st)
{
    char err[256];
    if (ntm_st_devices_load(st, err, sizeof err) != 0)
        ntm_logf(st->log, LOG_ERR, "%s", err);
    st->keys_dirty = true;
    st->quarantine_added = false;
    st->last_msg_id = st->committed_msg_id;
}

/* A write failed: the transaction is gone (SQLite rolls it back on a full
 * disk), its records are kept in memory, the owner stops taking messages in,
 * and a timer tries to make room and write again. */
void ntm_st_fail(struct ntm_store *st, int rc, const char *what)
{
    if (sqlite3_get_autocommit(st->db) == 0)
        ntm_st_step_done(st->stmt[ST_ROLLBACK]);
    st->in_tx = false;
    ntm_st_reload_after_rollback(st);
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
    uv_timer_start(&st->recover_timer, ntm_st_on_recover_timer, 1000, 1000);
}

int ntm_store_commit(struct ntm_store *st)
{
    if (st->releasing)
        return 0; /* after the held records, not amid them */
    if (st->hold) {
        st->hold_broken = true; /* the tail is emptied at the commit: insert them first */
        ntm_st_release_hold(st);
    }
    if (!st->in_tx)
        return 0;
    if (rolled_back_under_us(st))
        return -1;
    int rc = ntm_st_devices_write(st);
    if (rc == SQLITE_OK && st->quarantine_added) {
        sqlite3_bind_int64(st->stmt[ST_QUARANTINE_TRIM], 1, st->cfg->storage.quarantine_max);
        rc = ntm_st_step_done(st->stmt[ST_QUARANTINE_TRIM]);
    }
    if (rc == SQLITE_OK) {
        uint64_t t0 = uv_hrtime();
        rc = ntm_st_step_done(st->stmt[ST_COMMIT]);
        uint64_t ns = uv_hrtime() - t0;
        st->stats.commit_ns_total += ns;
        if (ns > st->stats.commit_ns_max)
            st->stats.commit_ns_max = ns;
    }
    if (rc != SQLITE_OK) {
        ntm_st_fail(st, rc, "commit");
        return -1;
    }
    /* The journal starts over only when it holds nothing the database lacks:
     * records read back at start (or kept after a failed write) that are not
     * all fed back yet are in it alone (a commit of the aggregation state in
     * between must not drop them; a kill then would lose them). */
    if (st->n_recovered == 0 && !st->kept_out)
        ntm_tail_committed(st->tail);
    uv_timer_stop(&st->tail_timer);
    st->committed_msg_id = st->last_msg_id;
    st->in_tx = false;
    ntm_st_space_after_commit(st);
    st->quarantine_added = false;
    st->stats.commits++;
    st->commits_since_sync++;
    st->commit_no++;
    ntm_st_devices_committed(st);
    return 0;
}

/* ---- accepted records ------------------------------------------------------------- */

static void bind_nonneg_double(sqlite3_stmt *s, int i, double v)
{
    if (v >= 0)
        sqlite3_bind_double(s, i, v);
}

/* The columns of a record's channel (the others stay NULL). */
static void bind_record(sqlite3_stmt *s, const struct ntm_record *rec)
{
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
}

/* Writes one record (already in the tail journal) to the open transaction.
 * A failed write keeps it (ntm_st_fail): it is handed back on recovery. */
static void insert_record(struct ntm_store *st, struct ntm_st_device *d, int64_t id,
                          const struct ntm_record *rec)
{
    int rc = ntm_st_begin(st);
    if (rc != SQLITE_OK) {
        if (!st->failed)
            ntm_st_fail(st, rc, "beginning a transaction");
        return;
    }
    if (d->rowid == 0) { /* new, or its row not written yet */
        rc = ntm_st_device_insert_row(st, d, false);
        if (rc != SQLITE_OK) {
            ntm_st_fail(st, rc, "adding a device"); /* reloads the devices from the database */
            return;
        }
        st->pending++;
    }
    int64_t now_s = rec->recv_ms / 1000;
    if (d->first_seen == 0)
        d->first_seen = now_s;
    sqlite3_stmt *s = st->stmt[ST_MSG];
    sqlite3_bind_int64(s, 24, id);
    sqlite3_bind_int64(s, 1, rec->ts);
    sqlite3_bind_int64(s, 2, rec->recv_ms);
    sqlite3_bind_int64(s, 3, d->rowid);
    sqlite3_bind_int(s, 4, rec->channel);
    sqlite3_bind_int(s, 5, rec->event);
    sqlite3_bind_int(s, 6, rec->flags);
    bind_record(s, rec);
    rc = ntm_st_step_done(s);
    if (rc != SQLITE_OK) {
        ntm_st_fail(st, rc, "storing a message");
        return;
    }
    d->last_seen = now_s;
    if (rec->ts > d->last_ts)
        d->last_ts = rec->ts;
    d->new_messages++;
    d->dirty = true;
    ntm_st_bump(st, C_ACCEPTED, 1);
    ntm_st_bump(st, C_BUFFERED, 1);
    if (rec->flags & NTM_REC_CLOCK_FALLBACK)
        ntm_st_bump(st, C_CLOCK_FALLBACK, 1);
    if (rec->flags & NTM_REC_LATE)
        ntm_st_bump(st, C_LATE, 1);
    st->last_msg_id = id;
    if (++st->pending >= (uint32_t)st->cfg->storage.commit_max)
        ntm_store_commit(st);
}

/* A held record goes to the database (its device is known in memory). */
static void insert_held(void *arg, int64_t id, const char *village, const struct ntm_record *rec)
{
    struct ntm_store *st = arg;
    if (st->failed)
        return; /* kept in the tail, handed back on recovery */
    bool is_new;
    struct ntm_st_device *d = ntm_st_device_get(st, rec->device, &is_new);
    if (!d)
        return;
    if (is_new) {
        snprintf(d->village, sizeof d->village, "%s", village);
        d->kind = rec->kind;
    }
    insert_record(st, d, id, rec);
}

void ntm_st_release_hold(struct ntm_store *st)
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

/* Not stored (no memory for it): counted as dropped, so that it is not lost
 * silently; the caller says so. */
static int not_stored(struct ntm_store *st)
{
    ntm_st_bump(st, C_DROPPED, 1);
    return -1;
}

int ntm_store_append(struct ntm_store *st, const struct ntm_record *rec)
{
    return ntm_store_append_delivery(st, rec, 0);
}

int ntm_store_append_delivery(struct ntm_store *st, const struct ntm_record *rec, uint64_t key)
{
    const char *village = st->cfg->villages[rec->village].id;
    if (st->failed) /* kept: written once the store recovers */
        return add_to_tail(st, village, rec, key) == 0 ? 0 : not_stored(st);
    bool is_new;
    struct ntm_st_device *d = ntm_st_device_get(st, rec->device, &is_new);
    if (!d)
        return not_stored(st);
    if (is_new) {
        snprintf(d->village, sizeof d->village, "%s", village);
        d->kind = rec->kind;
        uint64_t held = 0;
        if (ntm_complain(&st->new_device_complaint, 60000, &held))
            ntm_log_emit(st->log, LOG_INFO, NULL,
                         (struct ntm_log_field[]){{"VILLAGE", village},
                                                  {"DEVICE", rec->device},
                                                  {"KIND", ntm_kind_name(rec->kind)}},
                         3,
                         "new device %s (%s) in village %s, not in the configured inventory "
                         "(%" PRIu64 " more new devices since the last such line; logged at "
                         "most once a minute, `ntmctl devices` lists them)",
                         rec->device, ntm_kind_name(rec->kind), village, held);
    } else if (d->kind != rec->kind || strcmp(d->village, village) != 0) {
        return 1; /* device_conflict: the caller rejects */
    }
    int64_t id = st->next_id;
    if (add_to_tail(st, village, rec, key) != 0)
        return not_stored(st);
    if (st->hold) {
        if (++st->held < (uint32_t)st->cfg->storage.commit_max)
            return 0; /* inserted when the checkpoint is done */
        st->hold_broken = true;
        ntm_st_release_hold(st);
        return 0;
    }
    insert_record(st, d, id, rec);
    return 0;
}

bool ntm_store_delivered_before(const struct ntm_store *st, uint64_t key)
{
    return ntm_tail_seen(st->tail, key);
}

void ntm_store_note_delivery(struct ntm_store *st, uint64_t key)
{
    ntm_tail_note(st->tail, key);
}

void ntm_store_forget_deliveries(struct ntm_store *st)
{
    ntm_tail_forget_deliveries(st->tail);
}

/* ---- rejected messages --------------------------------------------------------------- */

int ntm_store_reject(struct ntm_store *st, int64_t recv_ms, const char *topic, size_t topic_len,
                     enum ntm_reject reason, const char *detail, size_t payload_len)
{
    ntm_st_bump(st, (enum ntm_st_counter)(C_REJECTED0 + reason), 1);
    if (st->cfg->storage.quarantine_max == 0)
        return 0;
    if (ntm_st_begin(st) != SQLITE_OK)
        return -1;
    /* kept for people to read: at most 256 bytes of the topic, cut between
     * characters, valid UTF-8 with control and bidi characters escaped */
    char safe_topic[256 * 6 + 1], safe_detail[1024];
    ntm_text_safe(safe_topic, sizeof safe_topic, topic, ntm_text_utf8_cut(topic, topic_len, 256));
    ntm_text_safe_str(safe_detail, sizeof safe_detail, detail);
    sqlite3_stmt *s = st->stmt[ST_QUARANTINE];
    sqlite3_bind_int64(s, 1, recv_ms);
    sqlite3_bind_text(s, 2, safe_topic, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, ntm_reject_name(reason), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, safe_detail, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 5, (int64_t)payload_len);
    int rc = ntm_st_step_done(s);
    st->quarantine_added = true;
    if (++st->pending >= (uint32_t)st->cfg->storage.commit_max)
        ntm_store_commit(st);
    return rc == SQLITE_OK ? 0 : -1;
}
