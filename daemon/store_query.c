/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store_query.c: what the other parts ask of the buffer: scalar queries, one
 * bound statement, the replay, the aggregation snapshot, the release of
 * delivered messages. It keeps no state; its writes join the transaction. */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int64_t ntm_store_run(struct ntm_store *st, const char *sql, int64_t arg)
{
    if (ntm_st_begin(st) != SQLITE_OK)
        return -1;
    sqlite3_stmt *s = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, arg);
        if (sqlite3_step(s) == SQLITE_DONE)
            n = sqlite3_changes(st->db);
    }
    sqlite3_finalize(s);
    st->pending++;
    return n;
}

/* The columns of a row of the replay query that the record's channel uses. */
static void read_record(sqlite3_stmt *s, struct ntm_record *rec)
{
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
        ntm_logf(st->log, LOG_ERR, "database %s: replay: %s", st->cfg->storage.path,
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
        read_record(s, rec);
        fn(arg, rec, sqlite3_column_int64(s, 0));
    }
    free(rec);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int ntm_store_save_agg(struct ntm_store *st, int64_t msg_id, const void *blob, size_t len)
{
    /* while writes fail, or records are held, the state holds records the
     * database does not: a snapshot now would count them twice after a crash */
    if (st->failed || st->hold || ntm_st_begin(st) != SQLITE_OK)
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

int64_t ntm_store_release(struct ntm_store *st, int64_t msg_hi, int64_t ts_before)
{
    /* the highest id so far is kept first, so that ids never go back even
     * when every message is gone (in the same transaction) */
    if (ntm_st_begin(st) != SQLITE_OK ||
        ntm_store_meta_set(st, NTM_META_MSG_ID_FLOOR, st->last_msg_id) != 0)
        return -1;
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
        ntm_st_bump(st, C_BUFFERED, -n);
    st->pending++;
    return n;
}
