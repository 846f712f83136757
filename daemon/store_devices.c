/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store_devices.c: the devices table and its cache in memory (village, kind,
 * first/last seen, messages), their availability, forgetting one (ntmctl
 * forget), and the persisted counters. It must not decide what a message is,
 * or when to commit. */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

int ntm_st_devices_prepare(struct ntm_store *st, char *err, size_t errlen)
{
    static const struct ntm_st_sql sql[] = {
        {ST_COUNTER, "INSERT OR REPLACE INTO counters(name, value) VALUES(?,?)"},
        /* never an id a forgotten device had: its messages stay behind it */
        {ST_DEV_INSERT,
         "INSERT INTO devices(id, name, village, kind, declared) VALUES("
         "max(coalesce((SELECT max(id) FROM devices), 0),"
         " coalesce((SELECT value FROM meta WHERE key = 'device_id_floor'), 0)) + 1, ?,?,?,?)"},
        {ST_DEV_UPDATE,
         "UPDATE devices SET first_seen = coalesce(first_seen, ?1), last_seen = ?1,"
         " last_ts = max(coalesce(last_ts, 0), ?2), messages = messages + ?3 WHERE id = ?4"},
        {ST_DEV_STATE, "UPDATE devices SET online = coalesce(?, online),"
                       " uptime_today = coalesce(?, uptime_today) WHERE name = ?"},
    };
    return ntm_st_prepare(st, sql, sizeof sql / sizeof sql[0], err, errlen);
}

/* ---- counters ------------------------------------------------------------- */

static const char *counter_name(enum ntm_st_counter c, char *buf, size_t len)
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

void ntm_st_bump(struct ntm_store *st, enum ntm_st_counter c, int64_t by)
{
    st->counters[c] = (uint64_t)((int64_t)st->counters[c] + by);
    st->counter_dirty[c] = true;
}

static int load_counters(struct ntm_store *st)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT name, value FROM counters", -1, &s, NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        char buf[64];
        for (int c = 0; c < C_COUNT; c++)
            if (strcmp(name, counter_name((enum ntm_st_counter)c, buf, sizeof buf)) == 0)
                st->counters[c] = (uint64_t)sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    return 0;
}

int ntm_st_counters_write(struct ntm_store *st)
{
    char buf[64];
    sqlite3_stmt *s = st->stmt[ST_COUNTER];
    for (int c = 0; c < C_COUNT; c++) {
        if (!st->counter_dirty[c])
            continue;
        sqlite3_bind_text(s, 1, counter_name((enum ntm_st_counter)c, buf, sizeof buf), -1,
                          SQLITE_TRANSIENT);
        sqlite3_bind_int64(s, 2, (int64_t)st->counters[c]);
        int rc = ntm_st_step_done(s);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

/* ---- the device cache --------------------------------------------------------- */

static struct ntm_st_device *dev_slot(const struct ntm_store *st, const char *name)
{
    size_t mask = st->devs_cap - 1;
    for (size_t i = ntm_hash_str(name) & mask;; i = (i + 1) & mask) {
        struct ntm_st_device *d = &st->devs[i];
        if (d->name[0] == '\0' || strcmp(d->name, name) == 0)
            return d;
    }
}

static int dev_grow(struct ntm_store *st)
{
    size_t cap = st->devs_cap ? st->devs_cap * 2 : 64;
    struct ntm_st_device *old = st->devs;
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

struct ntm_st_device *ntm_st_device_get(struct ntm_store *st, const char *name, bool *is_new)
{
    if ((st->devs_len + 1) * 4 >= st->devs_cap * 3 && dev_grow(st) != 0)
        return NULL;
    struct ntm_st_device *d = dev_slot(st, name);
    *is_new = d->name[0] == '\0';
    if (*is_new) {
        snprintf(d->name, sizeof d->name, "%s", name);
        st->devs_len++;
    }
    return d;
}

int ntm_st_device_insert_row(struct ntm_store *st, struct ntm_st_device *d, bool declared)
{
    sqlite3_stmt *s = st->stmt[ST_DEV_INSERT];
    sqlite3_bind_text(s, 1, d->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, d->village, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, ntm_kind_name(d->kind), -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 4, declared);
    int rc = ntm_st_step_done(s);
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
        struct ntm_st_device *d =
            ntm_st_device_get(st, (const char *)sqlite3_column_text(s, 1), &is_new);
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
        struct ntm_st_device *d = ntm_st_device_get(st, dd->id, &is_new);
        if (!d)
            return -1;
        if (!is_new)
            continue;
        snprintf(d->village, sizeof d->village, "%s", st->cfg->villages[dd->village].id);
        d->kind = dd->kind;
        int rc = ntm_st_device_insert_row(st, d, true);
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "%s: adding device %s: %s", st->cfg->storage.path, dd->id,
                     sqlite3_errstr(rc));
            return -1;
        }
    }
    return 0;
}

int ntm_st_devices_load(struct ntm_store *st, char *err, size_t errlen)
{
    if (st->devs)
        memset(st->devs, 0, st->devs_cap * sizeof *st->devs);
    st->devs_len = 0;
    memset(st->counters, 0, sizeof st->counters);
    memset(st->counter_dirty, 0, sizeof st->counter_dirty);
    if (load_counters(st) != 0) {
        snprintf(err, errlen, "%s: reading counters: %s", st->cfg->storage.path,
                 sqlite3_errmsg(st->db));
        return -1;
    }
    return load_devices(st, err, errlen);
}

int ntm_st_devices_write(struct ntm_store *st)
{
    sqlite3_stmt *s = st->stmt[ST_DEV_UPDATE];
    for (size_t i = 0; i < st->devs_cap; i++) {
        struct ntm_st_device *d = &st->devs[i];
        if (!d->name[0] || !d->dirty)
            continue;
        sqlite3_bind_int64(s, 1, d->last_seen);
        sqlite3_bind_int64(s, 2, d->last_ts);
        sqlite3_bind_int64(s, 3, (int64_t)d->new_messages);
        sqlite3_bind_int64(s, 4, d->rowid);
        int rc = ntm_st_step_done(s);
        if (rc != SQLITE_OK)
            return rc;
    }
    return ntm_st_counters_write(st);
}

void ntm_st_devices_committed(struct ntm_store *st)
{
    for (size_t i = 0; i < st->devs_cap; i++) {
        st->devs[i].dirty = false;
        st->devs[i].new_messages = 0;
    }
    memset(st->counter_dirty, 0, sizeof st->counter_dirty);
}

/* ---- for the daemon ------------------------------------------------------------ */

bool ntm_store_device_conflict(struct ntm_store *st, const struct ntm_record *rec)
{
    if (st->devs_cap == 0)
        return false;
    const struct ntm_st_device *d = dev_slot(st, rec->device);
    return d->name[0] != '\0' &&
           (d->kind != rec->kind || strcmp(d->village, st->cfg->villages[rec->village].id) != 0);
}

bool ntm_store_undeclared_full(struct ntm_store *st, const char *device)
{
    size_t declared = st->cfg->n_devices;
    size_t undeclared = st->devs_len > declared ? st->devs_len - declared : 0;
    if (undeclared < (size_t)st->cfg->storage.max_undeclared)
        return false;
    return st->devs_cap == 0 || dev_slot(st, device)->name[0] == '\0';
}

void ntm_store_each_device(struct ntm_store *st,
                           void (*fn)(void *arg, const char *name, int village, int kind),
                           void *arg)
{
    for (size_t i = 0; i < st->devs_cap; i++) {
        const struct ntm_st_device *d = &st->devs[i];
        if (!d->name[0])
            continue;
        int v = ntm_config_village(st->cfg, d->village);
        if (v >= 0)
            fn(arg, d->name, v, d->kind);
    }
}

int ntm_store_device_state(struct ntm_store *st, const char *name, int online, double uptime_today)
{
    if (st->failed || ntm_st_begin(st) != SQLITE_OK)
        return -1;
    sqlite3_stmt *s = st->stmt[ST_DEV_STATE];
    if (online < 0)
        sqlite3_bind_null(s, 1);
    else
        sqlite3_bind_int(s, 1, online);
    if (uptime_today < 0)
        sqlite3_bind_null(s, 2);
    else
        sqlite3_bind_double(s, 2, uptime_today);
    sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
    st->pending++;
    return ntm_st_step_done(s) == SQLITE_OK ? 0 : -1;
}

/* ---- forgetting (ntmctl forget) ------------------------------------------------- */

const char *ntm_forget_name(enum ntm_forget r)
{
    static const char *const names[NTM_FORGET_COUNT] = {"forgotten", "unknown", "declared"};
    return (unsigned)r < NTM_FORGET_COUNT ? names[r] : "unknown";
}

int ntm_store_forget_pending(struct ntm_store *st, struct ntm_forget_request *out, int max)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT id, device FROM forget_requests WHERE done_ms IS NULL"
                           " ORDER BY id LIMIT ?",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int(s, 1, max);
    int n = 0, rc;
    while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        out[n].id = sqlite3_column_int64(s, 0);
        const char *dev = (const char *)sqlite3_column_text(s, 1);
        snprintf(out[n].device, sizeof out[n].device, "%s", dev ? dev : "");
        n++;
    }
    sqlite3_finalize(s);
    return n;
}

/* Takes the device out of the cache; the entries after it in its probe run
 * are put back where a lookup finds them. */
static void dev_remove(struct ntm_store *st, struct ntm_st_device *d)
{
    size_t mask = st->devs_cap - 1, i = (size_t)(d - st->devs);
    memset(d, 0, sizeof *d);
    st->devs_len--;
    for (i = (i + 1) & mask; st->devs[i].name[0]; i = (i + 1) & mask) {
        struct ntm_st_device e = st->devs[i];
        memset(&st->devs[i], 0, sizeof st->devs[i]);
        *dev_slot(st, e.name) = e;
    }
}

int ntm_store_forget_device(struct ntm_store *st, const char *name, enum ntm_forget *result)
{
    struct ntm_st_device *d = st->devs_cap ? dev_slot(st, name) : NULL;
    if (ntm_config_device(st->cfg, name) != NULL) {
        *result = NTM_FORGET_DECLARED;
        return 0;
    }
    if (d == NULL || d->name[0] == '\0') {
        *result = NTM_FORGET_UNKNOWN;
        return 0;
    }
    if (st->failed || ntm_st_begin(st) != SQLITE_OK)
        return -1;
    int64_t floor = ntm_store_meta_get(st, NTM_META_DEVICE_ID_FLOOR, 0);
    if (d->rowid > floor && ntm_store_meta_set(st, NTM_META_DEVICE_ID_FLOOR, d->rowid) != 0)
        return -1;
    if (d->rowid != 0 && ntm_store_run(st, "DELETE FROM devices WHERE id = ?1", d->rowid) < 0)
        return -1;
    dev_remove(st, d);
    *result = NTM_FORGOTTEN;
    return 0;
}

int ntm_store_forget_done(struct ntm_store *st, int64_t id, enum ntm_forget r, int64_t now_ms)
{
    if (st->failed || ntm_st_begin(st) != SQLITE_OK)
        return -1;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(st->db,
                           "UPDATE forget_requests SET done_ms = ?, result = ? WHERE id = ?", -1,
                           &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(s, 1, now_ms);
    sqlite3_bind_text(s, 2, ntm_forget_name(r), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, id);
    int rc = ntm_st_step_done(s);
    sqlite3_finalize(s);
    st->pending++;
    return rc == SQLITE_OK ? 0 : -1;
}
