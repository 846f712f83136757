/* SPDX-License-Identifier: GPL-3.0-or-later */
/* queries.h: what the page and the metrics read from the daemon's buffer,
 * opened read-only (SQLITE_OPEN_READONLY, like ntmctl) for one request and
 * closed after it. Never writes, never holds a read transaction between
 * requests (the daemon's checkpoints are not held back). */
#ifndef NTM_WEB_QUERIES_H
#define NTM_WEB_QUERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct web_db;

int web_db_open(struct web_db **out, const char *path, char *err, size_t errlen);
void web_db_close(struct web_db *db);

/* counters(name): accepted, buffered, late, dropped; 0 when absent */
int64_t web_db_counter(struct web_db *db, const char *name);
/* rejected.<reason> counters with a non-zero value, largest first */
int web_db_rejected(struct web_db *db, void (*fn)(void *, const char *reason, int64_t n),
                    void *arg);

struct web_uplink_db {
    int64_t pending, quarantined;
    int64_t last_done_ms; /* the latest delivery, 0 = none */
};
void web_db_uplink(struct web_db *db, const char *uplink, struct web_uplink_db *out);

struct web_device_row {
    const char *id, *village, *kind;
    bool declared;
    int online;        /* 1, 0, -1 unknown (never judged) */
    int64_t last_seen; /* unix s, 0 = never: an offline device is offline since then */
};
/* Every device, by village, kind, id. */
int web_db_devices(struct web_db *db, void (*fn)(void *, const struct web_device_row *), void *arg);

/* Values of indicator `name` of (village, kind) for the windows of `period`
 * ("hour", "day") starting at start + i * step, i < n; NAN where none. */
void web_db_series(struct web_db *db, const char *period, int64_t start, int64_t step, int n,
                   const char *village, const char *kind, const char *name, double *out);

struct web_alert_row {
    int64_t ts;
    const char *village, *kind, *device, *type, *detail;
};
/* Alerts since `since` (unix s), newest first, at most max. */
int web_db_alerts(struct web_db *db, int64_t since, int max,
                  void (*fn)(void *, const struct web_alert_row *), void *arg);

struct web_rejected_row {
    int64_t recv_ms;
    const char *reason, *topic, *detail;
    int64_t size;
};
/* The latest quarantined messages (what was wrong, never the payload). */
int web_db_quarantine(struct web_db *db, int max,
                      void (*fn)(void *, const struct web_rejected_row *), void *arg);

/* uptime_pct of the last closed hour per (village, kind), from latest_rows. */
int web_db_last_hour_uptime(struct web_db *db,
                            void (*fn)(void *, const char *village, const char *kind, double pct),
                            void *arg);

#endif
