/* SPDX-License-Identifier: GPL-3.0-or-later */
/* queries.c: the read-only SQL of queries.h against the daemon's buffer
 * (tables of daemon/store_schema.c). Each call prepares, steps and finalizes
 * its statement: no state kept between calls but the connection. */
#include "queries.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct web_db {
    sqlite3 *db;
};

static int try_open(struct web_db *w, const char *path, bool immutable)
{
    char *uri = sqlite3_mprintf("file:%s%s", path, immutable ? "?immutable=1" : "");
    if (!uri)
        return SQLITE_NOMEM;
    /* '?' and '#' in a path would end it in a URI: such a path is opened as is */
    bool plain = strpbrk(path, "?#%") != NULL;
    int rc = sqlite3_open_v2(
        plain ? path : uri, &w->db,
        SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | (plain ? 0 : SQLITE_OPEN_URI), NULL);
    sqlite3_free(uri);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(w->db, 2000);
        rc = sqlite3_exec(w->db, "SELECT 1 FROM meta LIMIT 1", NULL, NULL, NULL);
    }
    return rc;
}

int web_db_open(struct web_db **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    struct web_db *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = try_open(w, path, false);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        /* A WAL database whose -shm is gone (the daemon stopped cleanly) in a
         * directory this process may not write (the unit's read-only file
         * system): read it as it is on disk. Nobody writes it meanwhile, or
         * the -shm would be there. */
        char first[300];
        snprintf(first, sizeof first, "%s", sqlite3_errmsg(w->db));
        sqlite3_close(w->db);
        w->db = NULL;
        rc = try_open(w, path, true);
        if (rc != SQLITE_OK)
            snprintf(err, errlen, "%s: %s", path, first);
    }
    if (rc != SQLITE_OK) {
        if (rc == SQLITE_BUSY)
            snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(w->db));
        sqlite3_close(w->db);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

void web_db_close(struct web_db *w)
{
    if (!w)
        return;
    sqlite3_close(w->db);
    free(w);
}

static sqlite3_stmt *prep(struct web_db *w, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(w->db, sql, -1, &s, NULL) != SQLITE_OK) {
        sqlite3_finalize(s);
        return NULL;
    }
    return s;
}

static const char *text(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? t : "";
}

int64_t web_db_counter(struct web_db *w, const char *name)
{
    sqlite3_stmt *s = prep(w, "SELECT value FROM counters WHERE name = ?");
    int64_t v = 0;
    if (s) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}

int web_db_rejected(struct web_db *w, void (*fn)(void *, const char *, int64_t), void *arg)
{
    sqlite3_stmt *s = prep(w, "SELECT substr(name, 10), value FROM counters"
                              " WHERE name LIKE 'rejected.%' AND value > 0 ORDER BY value DESC");
    if (!s)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW)
        fn(arg, text(s, 0), sqlite3_column_int64(s, 1));
    sqlite3_finalize(s);
    return 0;
}

void web_db_uplink(struct web_db *w, const char *uplink, struct web_uplink_db *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = prep(w, "SELECT coalesce(sum(state = 'pending'), 0),"
                              " coalesce(sum(state = 'quarantined'), 0),"
                              " coalesce(max(CASE WHEN state = 'delivered' THEN done_ms END), 0)"
                              " FROM deliveries WHERE uplink = ?");
    if (!s)
        return;
    sqlite3_bind_text(s, 1, uplink, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        out->pending = sqlite3_column_int64(s, 0);
        out->quarantined = sqlite3_column_int64(s, 1);
        out->last_done_ms = sqlite3_column_int64(s, 2);
    }
    sqlite3_finalize(s);
}

int web_db_devices(struct web_db *w, void (*fn)(void *, const struct web_device_row *), void *arg)
{
    sqlite3_stmt *s = prep(w, "SELECT name, village, kind, declared, online,"
                              " coalesce(last_seen, 0) FROM devices ORDER BY village, kind, name");
    if (!s)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct web_device_row r = {
            .id = text(s, 0),
            .village = text(s, 1),
            .kind = text(s, 2),
            .declared = sqlite3_column_int(s, 3) != 0,
            .online = sqlite3_column_type(s, 4) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 4),
            .last_seen = sqlite3_column_int64(s, 5),
        };
        fn(arg, &r);
    }
    sqlite3_finalize(s);
    return 0;
}

void web_db_series(struct web_db *w, const char *period, int64_t start, int64_t step, int n,
                   const char *village, const char *kind, const char *name, double *out)
{
    for (int i = 0; i < n; i++)
        out[i] = NAN;
    sqlite3_stmt *s = prep(w, "SELECT start, value FROM history_rows WHERE period = ?"
                              " AND start >= ? AND start < ? AND village = ? AND kind = ?"
                              " AND name = ?");
    if (!s)
        return;
    sqlite3_bind_text(s, 1, period, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, start);
    sqlite3_bind_int64(s, 3, start + step * n);
    sqlite3_bind_text(s, 4, village, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, name, -1, SQLITE_STATIC);
    while (sqlite3_step(s) == SQLITE_ROW) {
        int64_t i = (sqlite3_column_int64(s, 0) - start) / step;
        if (i >= 0 && i < n)
            out[i] = sqlite3_column_double(s, 1);
    }
    sqlite3_finalize(s);
}

int web_db_alerts(struct web_db *w, int64_t since, int max,
                  void (*fn)(void *, const struct web_alert_row *), void *arg)
{
    sqlite3_stmt *s = prep(w, "SELECT ts, village, kind, device, type, detail FROM alert_log"
                              " WHERE ts >= ? ORDER BY ts DESC, id DESC LIMIT ?");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, since);
    sqlite3_bind_int(s, 2, max);
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct web_alert_row r = {
            sqlite3_column_int64(s, 0), text(s, 1), text(s, 2), text(s, 3), text(s, 4), text(s, 5)};
        fn(arg, &r);
    }
    sqlite3_finalize(s);
    return 0;
}

int web_db_quarantine(struct web_db *w, int max,
                      void (*fn)(void *, const struct web_rejected_row *), void *arg)
{
    sqlite3_stmt *s = prep(w, "SELECT recv_ms, reason, topic, detail, size FROM quarantine"
                              " ORDER BY id DESC LIMIT ?");
    if (!s)
        return -1;
    sqlite3_bind_int(s, 1, max);
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct web_rejected_row r = {sqlite3_column_int64(s, 0), text(s, 1), text(s, 2), text(s, 3),
                                     sqlite3_column_int64(s, 4)};
        fn(arg, &r);
    }
    sqlite3_finalize(s);
    return 0;
}

int web_db_last_hour_uptime(struct web_db *w,
                            void (*fn)(void *, const char *, const char *, double), void *arg)
{
    sqlite3_stmt *s = prep(w, "SELECT village, kind, value FROM latest_rows"
                              " WHERE period = 'hour' AND name = 'uptime_pct'"
                              " ORDER BY village, kind");
    if (!s)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW)
        fn(arg, text(s, 0), text(s, 1), sqlite3_column_double(s, 2));
    sqlite3_finalize(s);
    return 0;
}
