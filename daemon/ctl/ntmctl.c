/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ntmctl.c: the operator's command line. Reads the daemon's database
 * read-only (WAL lets it do so while the daemon writes) and prints what an
 * operator needs, as text or (--json, written by cJSON) as JSON; never writes
 * to the buffer except through explicit commands. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "ctl_broker.h"
#include "ctl_open.h"
#include "ingest.h"
#include "record.h"
#include "text_safe.h"

struct ctl {
    const char *config_path;
    const char *db_path;
    bool json;
    const char *arg; /* the command's argument, if any */
    struct ntm_config *cfg;
    sqlite3 *db;
};

/* "2026-11-22 15:00:07" in Vietnam time (UTC+07:00), or "never". */
static const char *local_time(int64_t unix_s, char *buf, size_t len)
{
    if (unix_s <= 0)
        return "never";
    time_t t = (time_t)(unix_s + NTM_TZ_OFFSET_S);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

/* Prints a JSON document on one line and frees it; 1 when it could not be made. */
static int print_json(cJSON *doc)
{
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) {
        fprintf(stderr, "ntmctl: out of memory\n");
        return 1;
    }
    puts(text);
    cJSON_free(text);
    return 0;
}

/* A text column, "" when NULL. */
static const char *col_text(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? t : "";
}

static void add_int(cJSON *o, const char *name, int64_t v)
{
    cJSON_AddNumberToObject(o, name, (double)v);
}

static int64_t scalar(struct ctl *c, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = (int64_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static int64_t counter(struct ctl *c, const char *name)
{
    sqlite3_stmt *s = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT value FROM counters WHERE name = ?", -1, &s, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW)
            v = (int64_t)sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}

static const char *village_name(struct ctl *c, const char *id)
{
    int i = c->cfg ? ntm_config_village(c->cfg, id) : -1;
    return i >= 0 ? c->cfg->villages[i].name : id;
}

/* Display width of UTF-8 text, counting code points (enough for Vietnamese). */
static int utf8_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static void print_padded(const char *s, int width)
{
    printf("%s", s);
    for (int w = utf8_width(s); w < width; w++)
        putchar(' ');
}

/* ---- status ----------------------------------------------------------------- */

static int cmd_status(struct ctl *c)
{
    int64_t buffered = counter(c, "buffered"), accepted = counter(c, "accepted");
    int64_t dropped = counter(c, "dropped"), fallback = counter(c, "clock_fallback");
    int64_t pages = scalar(c, "PRAGMA page_count"), freep = scalar(c, "PRAGMA freelist_count");
    int64_t page_size = scalar(c, "PRAGMA page_size");
    double used_mib = (double)((pages - freep) * page_size) / (1024.0 * 1024.0);
    int64_t rejected_total = scalar(c, "SELECT coalesce(sum(value),0) FROM counters WHERE name "
                                       "LIKE 'rejected.%'");
    int64_t schema = scalar(c, "PRAGMA user_version");

    sqlite3_stmt *s = NULL;
    const char *per_village =
        "SELECT village, kind, count(*), sum(last_seen IS NOT NULL), max(last_seen),"
        " sum(messages) FROM devices GROUP BY village, kind ORDER BY village, kind";
    const char *per_reason = "SELECT substr(name, 10), value FROM counters"
                             " WHERE name LIKE 'rejected.%' AND value > 0 ORDER BY value DESC";
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "gateway", c->cfg ? c->cfg->gateway_id : "");
        cJSON_AddStringToObject(o, "database", c->db_path);
        add_int(o, "schema_version", schema);
        add_int(o, "used_bytes", (pages - freep) * page_size);
        add_int(o, "buffered", buffered);
        add_int(o, "accepted_total", accepted);
        add_int(o, "dropped_total", dropped);
        add_int(o, "clock_fallback_total", fallback);
        add_int(o, "rejected_total", rejected_total);
        cJSON *villages = cJSON_AddArrayToObject(o, "villages");
        sqlite3_prepare_v2(c->db, per_village, -1, &s, NULL);
        while (sqlite3_step(s) == SQLITE_ROW) {
            cJSON *v = cJSON_CreateObject();
            cJSON_AddStringToObject(v, "village", col_text(s, 0));
            cJSON_AddStringToObject(v, "kind", col_text(s, 1));
            add_int(v, "devices", sqlite3_column_int(s, 2));
            add_int(v, "seen", sqlite3_column_int(s, 3));
            add_int(v, "last_seen", (int64_t)sqlite3_column_int64(s, 4));
            add_int(v, "messages", (int64_t)sqlite3_column_int64(s, 5));
            cJSON_AddItemToArray(villages, v);
        }
        sqlite3_finalize(s);
        cJSON *rejected = cJSON_AddObjectToObject(o, "rejected");
        sqlite3_prepare_v2(c->db, per_reason, -1, &s, NULL);
        while (sqlite3_step(s) == SQLITE_ROW)
            add_int(rejected, col_text(s, 0), (int64_t)sqlite3_column_int64(s, 1));
        sqlite3_finalize(s);
        return print_json(o);
    }

    if (c->cfg)
        printf("gateway %s, commune %s (%s), province %s\n", c->cfg->gateway_id,
               c->cfg->commune_name[0] ? c->cfg->commune_name : "-", c->cfg->commune_code,
               c->cfg->province_code);
    printf("database %s: schema %" PRId64 ", %.1f MiB used", c->db_path, schema, used_mib);
    if (c->cfg)
        printf(" of a %d MiB cap", c->cfg->storage.max_mb);
    printf("\nmessages: %" PRId64 " buffered, %" PRId64 " accepted in all, %" PRId64
           " dropped by the size cap, %" PRId64 " with the gateway clock as time\n\n",
           buffered, accepted, dropped, fallback);

    printf("%-24s %-8s %7s %5s  %-19s  %9s\n", "VILLAGE", "KIND", "DEVICES", "SEEN",
           "LAST SEEN (+07:00)", "MESSAGES");
    sqlite3_prepare_v2(c->db, per_village, -1, &s, NULL);
    while (sqlite3_step(s) == SQLITE_ROW) {
        char tbuf[32];
        print_padded(village_name(c, (const char *)sqlite3_column_text(s, 0)), 24);
        printf(" %-8s %7d %5d  %-19s  %9" PRId64 "\n", sqlite3_column_text(s, 1),
               sqlite3_column_int(s, 2), sqlite3_column_int(s, 3),
               local_time((int64_t)sqlite3_column_int64(s, 4), tbuf, sizeof tbuf),
               (int64_t)sqlite3_column_int64(s, 5));
    }
    sqlite3_finalize(s);

    printf("\nrejected: %" PRId64 " in all\n", rejected_total);
    sqlite3_prepare_v2(c->db, per_reason, -1, &s, NULL);
    while (sqlite3_step(s) == SQLITE_ROW)
        printf("  %-18s %9" PRId64 "\n", sqlite3_column_text(s, 0),
               (int64_t)sqlite3_column_int64(s, 1));
    sqlite3_finalize(s);
    return 0;
}

/* ---- devices ---------------------------------------------------------------- */

static int cmd_devices(struct ctl *c)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT name, village, kind, declared, last_seen, last_ts, messages,"
                           " online, uptime_today FROM devices ORDER BY village, kind, name",
                           -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "ntmctl: %s\n", sqlite3_errmsg(c->db));
        return 1;
    }
    cJSON *list = c->json ? cJSON_CreateArray() : NULL;
    if (!c->json)
        printf("%-24s %-20s %-8s %-9s %-7s %8s  %-19s %9s\n", "DEVICE", "VILLAGE", "KIND",
               "INVENTORY", "STATE", "UPTIME", "LAST SEEN (+07:00)", "MESSAGES");
    while (sqlite3_step(s) == SQLITE_ROW) {
        char tbuf[32], up[16] = "-";
        const char *name = (const char *)sqlite3_column_text(s, 0);
        const char *village = (const char *)sqlite3_column_text(s, 1);
        bool known = sqlite3_column_type(s, 7) != SQLITE_NULL;
        bool online = sqlite3_column_int(s, 7) != 0;
        bool has_up = sqlite3_column_type(s, 8) != SQLITE_NULL;
        if (has_up)
            snprintf(up, sizeof up, "%.1f%%", sqlite3_column_double(s, 8));
        if (c->json) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "device", name ? name : "");
            cJSON_AddStringToObject(d, "village", village ? village : "");
            cJSON_AddStringToObject(d, "kind", col_text(s, 2));
            cJSON_AddBoolToObject(d, "declared", sqlite3_column_int(s, 3) != 0);
            if (known)
                cJSON_AddBoolToObject(d, "online", online);
            else
                cJSON_AddNullToObject(d, "online");
            if (has_up) /* in hundredths, as the table shows it */
                cJSON_AddNumberToObject(d, "uptime_today_pct",
                                        round(sqlite3_column_double(s, 8) * 100) / 100);
            else
                cJSON_AddNullToObject(d, "uptime_today_pct");
            add_int(d, "last_seen", (int64_t)sqlite3_column_int64(s, 4));
            add_int(d, "messages", (int64_t)sqlite3_column_int64(s, 6));
            cJSON_AddItemToArray(list, d);
        } else {
            printf("%-24s ", name);
            print_padded(village_name(c, village), 20);
            printf(" %-8s %-9s %-7s %8s  %-19s %9" PRId64 "\n", sqlite3_column_text(s, 2),
                   sqlite3_column_int(s, 3) ? "declared" : "seen",
                   known ? (online ? "online" : "OFFLINE") : "unknown", up,
                   local_time(sqlite3_column_int64(s, 4), tbuf, sizeof tbuf),
                   (int64_t)sqlite3_column_int64(s, 6));
        }
    }
    sqlite3_finalize(s);
    return c->json ? print_json(list) : 0;
}

/* ---- quarantine ------------------------------------------------------------- */

static int cmd_quarantine(struct ctl *c)
{
    sqlite3_stmt *s = NULL;
    sqlite3_prepare_v2(c->db,
                       "SELECT recv_ms, reason, topic, detail, size FROM quarantine"
                       " ORDER BY id DESC LIMIT 200",
                       -1, &s, NULL);
    cJSON *doc = c->json ? cJSON_CreateObject() : NULL;
    cJSON *messages = cJSON_AddArrayToObject(doc, "messages");
    if (!c->json)
        printf("Rejected messages (newest first, at most 200; no payload is kept):\n");
    int n = 0;
    for (; sqlite3_step(s) == SQLITE_ROW; n++) {
        char tbuf[32];
        const char *reason = (const char *)sqlite3_column_text(s, 1);
        /* rows written by older versions may hold anything: made safe again */
        char tsafe[256 * 6 + 1], dsafe[1024];
        const char *topic = ntm_text_safe_str(tsafe, sizeof tsafe, col_text(s, 2));
        const char *detail = ntm_text_safe_str(dsafe, sizeof dsafe, col_text(s, 3));
        if (c->json) {
            cJSON *m = cJSON_CreateObject();
            add_int(m, "received_ms", (int64_t)sqlite3_column_int64(s, 0));
            cJSON_AddStringToObject(m, "reason", reason ? reason : "");
            cJSON_AddStringToObject(m, "topic", topic ? topic : "");
            cJSON_AddStringToObject(m, "detail", detail ? detail : "");
            add_int(m, "size", sqlite3_column_int(s, 4));
            cJSON_AddItemToArray(messages, m);
        } else {
            printf("  %s  %-16s %s\n      %s (%d bytes)\n",
                   local_time(sqlite3_column_int64(s, 0) / 1000, tbuf, sizeof tbuf), reason, topic,
                   detail, sqlite3_column_int(s, 4));
        }
    }
    if (!c->json && n == 0)
        printf("  none\n");
    sqlite3_finalize(s);

    /* batches a server refused for good (HTTP 400/413/422): kept until requeued */
    s = NULL;
    cJSON *batches = cJSON_AddArrayToObject(doc, "batches");
    if (!c->json)
        printf("\nQuarantined batches (`ntmctl requeue SEQ` sends one again):\n");
    n = 0;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT d.seq, d.uplink, d.done_ms, d.last_error, b.n_rows, b.n_alerts"
                           " FROM deliveries d JOIN batches b USING (seq)"
                           " WHERE d.state = 'quarantined' ORDER BY d.seq",
                           -1, &s, NULL) == SQLITE_OK) {
        for (; sqlite3_step(s) == SQLITE_ROW; n++) {
            char tbuf[32];
            int64_t seq = (int64_t)sqlite3_column_int64(s, 0);
            const char *uplink = (const char *)sqlite3_column_text(s, 1);
            char esafe[2048];
            const char *error = sqlite3_column_text(s, 3)
                                    ? ntm_text_safe_str(esafe, sizeof esafe, col_text(s, 3))
                                    : NULL;
            if (c->json) {
                cJSON *q = cJSON_CreateObject();
                add_int(q, "seq", seq);
                cJSON_AddStringToObject(q, "uplink", uplink ? uplink : "");
                add_int(q, "quarantined_ms", (int64_t)sqlite3_column_int64(s, 2));
                cJSON_AddStringToObject(q, "reason", error ? error : "");
                add_int(q, "rows", sqlite3_column_int(s, 4));
                add_int(q, "alerts", sqlite3_column_int(s, 5));
                cJSON_AddItemToArray(batches, q);
            } else {
                printf("  batch %" PRId64 " (%d rows, %d alerts) to %s, %s\n      %s\n", seq,
                       sqlite3_column_int(s, 4), sqlite3_column_int(s, 5), uplink,
                       local_time(sqlite3_column_int64(s, 2) / 1000, tbuf, sizeof tbuf),
                       error ? error : "no reason given");
            }
        }
    }
    sqlite3_finalize(s);
    if (c->json)
        return print_json(doc);
    if (n == 0)
        printf("  none\n");
    return 0;
}

/* ---- batches, requeue, indicators ---------------------------------------------- */

static int cmd_batches(struct ctl *c)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT b.seq, b.created_ms, b.n_rows, b.n_alerts, d.uplink, d.state,"
                           " d.attempts, d.next_ms, d.last_error, d.done_ms"
                           " FROM batches b JOIN deliveries d USING (seq)"
                           " WHERE d.state != 'delivered' OR b.seq > (SELECT max(seq) - 20 FROM"
                           " batches) ORDER BY b.seq, d.uplink",
                           -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "ntmctl: %s\n", sqlite3_errmsg(c->db));
        return 1;
    }
    int64_t pending = scalar(c, "SELECT count(DISTINCT seq) FROM deliveries WHERE state = "
                                "'pending'");
    int64_t quarantined = scalar(c, "SELECT count(*) FROM deliveries WHERE state = 'quarantined'");
    cJSON *doc = c->json ? cJSON_CreateObject() : NULL;
    add_int(doc, "pending", pending);
    add_int(doc, "quarantined", quarantined);
    cJSON *list = cJSON_AddArrayToObject(doc, "batches");
    if (!c->json)
        printf("%" PRId64 " batches waiting, %" PRId64
               " quarantined deliveries (the last 20 batches and every undelivered one):\n\n"
               "%-8s %-19s %5s %6s  %-18s %-11s %8s  %s\n",
               pending, quarantined, "SEQ", "FORMED (+07:00)", "ROWS", "ALERTS", "UPLINK", "STATE",
               "ATTEMPTS", "LAST ERROR / NEXT TRY");
    while (sqlite3_step(s) == SQLITE_ROW) {
        char tbuf[32], nbuf[32];
        int64_t seq = (int64_t)sqlite3_column_int64(s, 0);
        const char *state = (const char *)sqlite3_column_text(s, 5);
        char esafe[2048];
        const char *error = sqlite3_column_text(s, 8)
                                ? ntm_text_safe_str(esafe, sizeof esafe, col_text(s, 8))
                                : NULL;
        if (c->json) {
            char id[160];
            snprintf(id, sizeof id, "%s:%" PRId64, c->cfg ? c->cfg->gateway_id : "", seq);
            cJSON *b = cJSON_CreateObject();
            add_int(b, "seq", seq);
            cJSON_AddStringToObject(b, "batch_id", id);
            add_int(b, "created_ms", (int64_t)sqlite3_column_int64(s, 1));
            add_int(b, "rows", sqlite3_column_int(s, 2));
            add_int(b, "alerts", sqlite3_column_int(s, 3));
            cJSON_AddStringToObject(b, "uplink", col_text(s, 4));
            cJSON_AddStringToObject(b, "state", state ? state : "");
            add_int(b, "attempts", sqlite3_column_int(s, 6));
            add_int(b, "next_ms", (int64_t)sqlite3_column_int64(s, 7));
            if (error)
                cJSON_AddStringToObject(b, "last_error", error);
            else
                cJSON_AddNullToObject(b, "last_error");
            cJSON_AddItemToArray(list, b);
        } else {
            const char *note = error ? error : "";
            if (strcmp(state, "pending") == 0 && sqlite3_column_int64(s, 7) > 0 && !error) {
                local_time(sqlite3_column_int64(s, 7) / 1000, nbuf, sizeof nbuf);
                note = nbuf;
            }
            printf("%-8" PRId64 " %-19s %5d %6d  %-18s %-11s %8d  %s\n", seq,
                   local_time(sqlite3_column_int64(s, 1) / 1000, tbuf, sizeof tbuf),
                   sqlite3_column_int(s, 2), sqlite3_column_int(s, 3), sqlite3_column_text(s, 4),
                   state, sqlite3_column_int(s, 6), note);
        }
    }
    sqlite3_finalize(s);
    return c->json ? print_json(doc) : 0;
}

static int cmd_indicators(struct ctl *c)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT village, kind, period, start, end, name, value, unit, devices"
                           " FROM latest_rows ORDER BY village, kind, period DESC, name",
                           -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "ntmctl: %s\n", sqlite3_errmsg(c->db));
        return 1;
    }
    cJSON *list = c->json ? cJSON_CreateArray() : NULL;
    const char *last_group = "";
    char group[160] = "";
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *village = (const char *)sqlite3_column_text(s, 0);
        const char *kind = (const char *)sqlite3_column_text(s, 1);
        const char *period = (const char *)sqlite3_column_text(s, 2);
        char t0[32], t1[32];
        local_time(sqlite3_column_int64(s, 3), t0, sizeof t0);
        local_time(sqlite3_column_int64(s, 4), t1, sizeof t1);
        if (c->json) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "village", village ? village : "");
            cJSON_AddStringToObject(r, "kind", kind ? kind : "");
            cJSON_AddStringToObject(r, "period", period ? period : "");
            add_int(r, "start", (int64_t)sqlite3_column_int64(s, 3));
            add_int(r, "end", (int64_t)sqlite3_column_int64(s, 4));
            cJSON_AddStringToObject(r, "name", col_text(s, 5));
            cJSON_AddNumberToObject(r, "value", sqlite3_column_double(s, 6));
            cJSON_AddStringToObject(r, "unit", col_text(s, 7));
            add_int(r, "devices", sqlite3_column_int(s, 8));
            cJSON_AddItemToArray(list, r);
            continue;
        }
        snprintf(group, sizeof group, "%s|%s|%s", village, kind, period);
        if (strcmp(group, last_group) != 0) {
            printf("\n%s (%s), %s, %s %s to %s, %d devices\n", village_name(c, village), village,
                   kind, strcmp(period, "day") == 0 ? "day" : "hour", t0, t1 + 11,
                   sqlite3_column_int(s, 8));
        }
        printf("  %-22s %10g %s\n", sqlite3_column_text(s, 5), sqlite3_column_double(s, 6),
               sqlite3_column_text(s, 7));
        last_group = group;
    }
    sqlite3_finalize(s);
    return c->json ? print_json(list) : 0;
}

static int cmd_requeue(struct ctl *c)
{
    if (!c->arg) {
        fprintf(stderr, "ntmctl requeue: which batch? (a seq or a batch id, see `ntmctl "
                        "batches`)\n");
        return 2;
    }
    const char *colon = strrchr(c->arg, ':');
    char *end = NULL;
    long long seq = strtoll(colon ? colon + 1 : c->arg, &end, 10);
    if (!end || *end || seq <= 0) {
        fprintf(stderr, "ntmctl requeue: '%s' is not a batch seq or id\n", c->arg);
        return 2;
    }
    sqlite3_stmt *s = NULL;
    sqlite3_prepare_v2(c->db,
                       "UPDATE deliveries SET state = 'pending', attempts = 0, next_ms = 0,"
                       " last_error = 'requeued by the operator', done_ms = NULL"
                       " WHERE seq = ? AND state = 'quarantined'",
                       -1, &s, NULL);
    sqlite3_bind_int64(s, 1, seq);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "ntmctl requeue: %s\n", sqlite3_errmsg(c->db));
        return 1;
    }
    int n = sqlite3_changes(c->db);
    if (n == 0) {
        fprintf(stderr, "ntmctl requeue: batch %lld has no quarantined delivery\n", seq);
        return 1;
    }
    printf("batch %lld requeued for %d uplink(s); the daemon sends it again within a minute\n", seq,
           n);
    return 0;
}

/* ---- main ------------------------------------------------------------------- */

struct command {
    const char *name;
    int (*run)(struct ctl *c);
    bool needs_db;
    bool writes;
    const char *help;
};

static int cmd_check_config(struct ctl *c)
{
    (void)c; /* loading it was the check */
    printf("%s: configuration is valid\n", c->config_path);
    return 0;
}

static int cmd_broker_files(struct ctl *c)
{
    return ntm_ctl_broker_files(c->cfg, c->arg, stdout);
}

static const struct command commands[] = {
    {"status", cmd_status, true, false,
     "per village and kind: devices declared and seen, last seen, messages; rejections by "
     "reason"},
    {"devices", cmd_devices, true, false,
     "each device: village, kind, inventory, online or not, uptime today, last seen, messages"},
    {"quarantine", cmd_quarantine, true, false,
     "rejected messages and quarantined batches, with their reasons"},
    {"batches", cmd_batches, true, false,
     "batches waiting, delivered and quarantined per uplink, with the last error"},
    {"requeue", cmd_requeue, true, true,
     "requeue BATCH: send a quarantined batch (seq or id) again"},
    {"indicators", cmd_indicators, true, false,
     "the latest indicator rows per village, kind and period"},
    {"check-config", cmd_check_config, false, false, "validate the configuration file"},
    {"broker-files", cmd_broker_files, false, false,
     "broker-files DIR: mosquitto's ACL (DIR/ntm-acl) and password file (DIR/ntm-passwd) "
     "from the inventory; prints new devices' passwords"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: ntmctl [--config PATH] [--db PATH] [--json] COMMAND\n\n"
                 "Reads the ntm-gateway buffer (read-only) and reports on it.\n\n"
                 "  -c, --config PATH  the daemon's configuration (default " NTM_DEFAULT_CONFIG_PATH
                 "),\n"
                 "                     which names the database\n"
                 "  -d, --db PATH      the database, overriding the configuration's\n"
                 "  -j, --json         machine-readable output\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\nExit status: 0 done, 1 the configuration or database cannot be read, 2 usage "
                 "error.\n");
}

int main(int argc, char **argv)
{
    struct ctl c = {.config_path = NTM_DEFAULT_CONFIG_PATH};
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"db", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "+c:d:jh", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            c.config_path = optarg;
            break;
        case 'd':
            c.db_path = optarg;
            break;
        case 'j':
            c.json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[optind], commands[i].name) == 0)
            cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, "ntmctl: unknown command '%s'\n\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (optind + 1 < argc && strcmp(argv[optind + 1], "--help") != 0)
        c.arg = argv[optind + 1];
    if (optind + 1 < argc && strcmp(argv[optind + 1], "--help") == 0) {
        printf("Usage: ntmctl [--config PATH] [--db PATH] [--json] %s\n\n%s\n", cmd->name,
               cmd->help);
        return 0;
    }

    char err[4096];
    if (!c.db_path || !cmd->needs_db) {
        c.cfg = ntm_config_load(c.config_path, err, sizeof err);
        if (!c.cfg) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        if (!c.db_path)
            c.db_path = c.cfg->storage.path;
    }
    int rc = 0;
    if (cmd->needs_db) {
        if (ntm_ctl_open_db(c.db_path, cmd->writes, &c.db) != 0) {
            fprintf(stderr, "ntmctl: cannot read the database %s: %s\n", c.db_path,
                    c.db ? sqlite3_errmsg(c.db) : "cannot open it");
            rc = 1;
        }
        if (rc == 0)
            sqlite3_busy_timeout(c.db, 2000);
    }
    if (rc == 0)
        rc = cmd->run(&c);
    sqlite3_close(c.db);
    ntm_config_free(c.cfg);
    return rc;
}
