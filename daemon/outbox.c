/* outbox.c: owns pending_rows, latest_rows, alerts, history_rows, alert_log and the forming of
 * batches (the batches and deliveries rows are created here, then only sync.c changes them). A
 * batch, once formed, is immutable: its body is stored as sent. */
#include "outbox.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ntm_outbox {
    struct ntm_store *st;
    const struct ntm_config *cfg;
    struct ntm_log *log;
    struct ntm_clock *clock;
    char **uplinks;
    size_t n_uplinks;
    sqlite3_stmt *s_row, *s_latest, *s_alert, *s_hist, *s_alog;
    uint64_t waiting; /* rows + alerts not yet in a batch */
    int64_t closed_day_upto;
    struct ntm_complaint alert_complaint[NTM_ALERT_COUNT];
};

/* how far back history_rows and alert_log (the status page's) go */
#define HISTORY_S (8 * 86400)

static const char *const period_names[NTM_PERIOD_COUNT] = {"hour", "day"};

void ntm_iso_local(int64_t unix_s, char *buf, size_t len)
{
    time_t t = (time_t)(unix_s + NTM_TZ_OFFSET_S);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%S+07:00", &tm);
}

int ntm_outbox_new(struct ntm_outbox **out, struct ntm_store *st, const struct ntm_config *cfg,
                   struct ntm_log *log, struct ntm_clock *clock, const char *const *uplinks,
                   size_t n_uplinks, char *err, size_t errlen)
{
    struct ntm_outbox *ob = calloc(1, sizeof *ob);
    *out = ob;
    if (!ob) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ob->st = st;
    ob->cfg = cfg;
    ob->log = log;
    ob->clock = clock;
    ob->uplinks = calloc(n_uplinks + 1, sizeof *ob->uplinks);
    if (!ob->uplinks)
        return -1;
    for (size_t i = 0; i < n_uplinks; i++)
        ob->uplinks[i] = strdup(uplinks[i]);
    ob->n_uplinks = n_uplinks;
    sqlite3 *db = ntm_store_db(st);
    struct {
        sqlite3_stmt **s;
        const char *sql;
    } stmts[] = {
        {&ob->s_row, "INSERT INTO pending_rows(village, kind, period, start, end, name, value,"
                     " unit, devices) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)"},
        {&ob->s_latest, "INSERT OR REPLACE INTO latest_rows(village, kind, period, start, end,"
                        " name, value, unit, devices) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)"},
        {&ob->s_alert, "INSERT INTO alerts(ts, village, kind, device, type, detail)"
                       " VALUES(?,?,?,?,?,?)"},
        /* the page's history (bound as s_row and s_alert; ?5 and ?8 unused) */
        {&ob->s_hist, "INSERT OR REPLACE INTO history_rows(village, kind, period, start, name,"
                      " value, devices) VALUES(?1,?2,?3,?4,?6,?7,?9)"},
        {&ob->s_alog, "INSERT INTO alert_log(ts, village, kind, device, type, detail)"
                      " VALUES(?,?,?,?,?,?)"},
    };
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        if (sqlite3_prepare_v3(db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, stmts[i].s, NULL) !=
            SQLITE_OK) {
            snprintf(err, errlen, "outbox: %s", sqlite3_errmsg(db));
            return -1;
        }
    ob->waiting = (uint64_t)ntm_store_scalar(ob->st,
                                             "SELECT (SELECT count(*) FROM pending_rows) +"
                                             " (SELECT count(*) FROM alerts)",
                                             0);
    ob->closed_day_upto = ntm_store_meta_get(ob->st, NTM_META_CLOSED_DAY_UPTO, 0);
    /* an uplink added to the configuration starts after what exists: it gets
     * the batches formed from now on */
    return 0;
}

void ntm_outbox_free(struct ntm_outbox *ob)
{
    if (!ob)
        return;
    sqlite3_finalize(ob->s_row);
    sqlite3_finalize(ob->s_latest);
    sqlite3_finalize(ob->s_alert);
    sqlite3_finalize(ob->s_hist);
    sqlite3_finalize(ob->s_alog);
    for (size_t i = 0; ob->uplinks && i < ob->n_uplinks; i++)
        free(ob->uplinks[i]);
    free(ob->uplinks);
    free(ob);
}

uint64_t ntm_outbox_waiting(const struct ntm_outbox *ob)
{
    return ob->waiting;
}

static void bind_row(sqlite3_stmt *s, const struct ntm_config *cfg,
                     const struct ntm_indicator_row *r)
{
    sqlite3_bind_text(s, 1, cfg->villages[r->village].id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ntm_kind_name(r->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, period_names[r->period], -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, r->start);
    sqlite3_bind_int64(s, 5, r->end);
    sqlite3_bind_text(s, 6, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_double(s, 7, r->value);
    sqlite3_bind_text(s, 8, r->unit, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 9, (int)r->devices);
}

static int step_reset(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

void ntm_outbox_add_row(struct ntm_outbox *ob, const struct ntm_indicator_row *row)
{
    if (ntm_store_begin(ob->st) != 0)
        return;
    bind_row(ob->s_row, ob->cfg, row);
    bind_row(ob->s_latest, ob->cfg, row);
    /* the page's history keeps 8 days: a backlog's older windows are not written */
    bool hist = row->start >= ntm_clock_wall_ms(ob->clock) / 1000 - HISTORY_S;
    if (hist)
        bind_row(ob->s_hist, ob->cfg, row);
    if (step_reset(ob->s_row) != 0 || step_reset(ob->s_latest) != 0 ||
        (hist && step_reset(ob->s_hist) != 0)) {
        ntm_logf(ob->log, LOG_ERR, "outbox: storing an indicator row of village %s failed: %s",
                 ob->cfg->villages[row->village].id, sqlite3_errmsg(ntm_store_db(ob->st)));
        return;
    }
    ob->waiting++;
}

void ntm_outbox_add_alert(struct ntm_outbox *ob, const struct ntm_alert *a)
{
    if (ntm_store_begin(ob->st) != 0)
        return;
    sqlite3_stmt *s = ob->s_alert;
    for (int i = 0; i < 2; i++) {
        s = i == 0 ? ob->s_alert : ob->s_alog;
        sqlite3_bind_int64(s, 1, a->ts);
        sqlite3_bind_text(s, 2, ob->cfg->villages[a->village].id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, ntm_kind_name(a->kind), -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 4, a->device, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, ntm_alert_type_name(a->type), -1, SQLITE_STATIC);
        if (a->detail)
            sqlite3_bind_text(s, 6, a->detail, -1, SQLITE_STATIC);
    }
    bool hist = a->ts >= ntm_clock_wall_ms(ob->clock) / 1000 - HISTORY_S;
    if (!hist) {
        sqlite3_reset(ob->s_alog);
        sqlite3_clear_bindings(ob->s_alog);
    }
    if (step_reset(ob->s_alert) != 0 || (hist && step_reset(ob->s_alog) != 0)) {
        ntm_logf(ob->log, LOG_ERR, "outbox: storing a %s alert of device %s failed: %s",
                 ntm_alert_type_name(a->type), a->device, sqlite3_errmsg(ntm_store_db(ob->st)));
        return;
    }
    ob->waiting++;
    /* each alert goes upstream; the log gets at most one line per type each
     * 6 s, so a flapping device cannot flood the journal */
    uint64_t held = 0;
    if (!ntm_complain(&ob->alert_complaint[a->type], 6000, &held))
        return;
    char ts[40];
    ntm_iso_local(a->ts, ts, sizeof ts);
    struct ntm_log_field f[] = {{"VILLAGE", ob->cfg->villages[a->village].id},
                                {"DEVICE", a->device},
                                {"KIND", ntm_kind_name(a->kind)},
                                {"ALERT", ntm_alert_type_name(a->type)}};
    ntm_log_emit(ob->log, a->type == NTM_ALERT_ONLINE ? LOG_INFO : LOG_WARNING,
                 a->type == NTM_ALERT_OFFLINE ? NTM_MSGID_DEVICE_OFFLINE : NULL, f, 4,
                 "alert %s: %s %s in village %s at %s%s%s; it goes upstream with the next batch"
                 " (%" PRIu64 " more %s alerts since the last such line)",
                 ntm_alert_type_name(a->type), ntm_kind_name(a->kind), a->device,
                 ob->cfg->villages[a->village].id, ts, a->detail ? ", " : "",
                 a->detail ? a->detail : "", held, ntm_alert_type_name(a->type));
}

void ntm_outbox_day_closed(struct ntm_outbox *ob, int64_t day_end)
{
    if (day_end <= ob->closed_day_upto || ntm_store_begin(ob->st) != 0)
        return;
    ob->closed_day_upto = day_end;
    /* the page shows 7 days; a day more covers the partial one */
    int64_t before = day_end - HISTORY_S;
    if (ntm_store_run(ob->st, "DELETE FROM history_rows WHERE start < ?", before) < 0 ||
        ntm_store_run(ob->st, "DELETE FROM alert_log WHERE ts < ?", before) < 0)
        ntm_logf(ob->log, LOG_ERR,
                 "outbox: pruning the status page's history failed: %s; it is tried again when "
                 "the next day closes",
                 sqlite3_errmsg(ntm_store_db(ob->st)));
    if (ntm_store_meta_set(ob->st, NTM_META_CLOSED_DAY_UPTO, day_end) != 0) {
        char end[40];
        ntm_iso_local(day_end, end, sizeof end);
        ntm_logf(ob->log, LOG_ERR,
                 "outbox: recording the close of the day ending %s failed; this run's batches "
                 "carry it, but after a restart its messages are released only when the next "
                 "day closes",
                 end);
    }
}

/* ---- forming one batch ------------------------------------------------------- */

static cJSON *row_json(sqlite3_stmt *s)
{
    char start[40], end[40];
    ntm_iso_local(sqlite3_column_int64(s, 4), start, sizeof start);
    ntm_iso_local(sqlite3_column_int64(s, 5), end, sizeof end);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "village", (const char *)sqlite3_column_text(s, 1));
    cJSON_AddStringToObject(o, "kind", (const char *)sqlite3_column_text(s, 2));
    cJSON_AddStringToObject(o, "period", (const char *)sqlite3_column_text(s, 3));
    cJSON_AddStringToObject(o, "start", start);
    cJSON_AddStringToObject(o, "end", end);
    cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(s, 6));
    cJSON_AddNumberToObject(o, "value", sqlite3_column_double(s, 7));
    cJSON_AddStringToObject(o, "unit", (const char *)sqlite3_column_text(s, 8));
    cJSON_AddNumberToObject(o, "devices", sqlite3_column_int(s, 9));
    return o;
}

static cJSON *alert_json(const struct ntm_config *cfg, sqlite3_stmt *s)
{
    char id[96], ts[40];
    snprintf(id, sizeof id, "%s:a:%" PRId64, cfg->gateway_id, (int64_t)sqlite3_column_int64(s, 0));
    ntm_iso_local(sqlite3_column_int64(s, 1), ts, sizeof ts);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", id);
    cJSON_AddStringToObject(o, "ts", ts);
    cJSON_AddStringToObject(o, "village", (const char *)sqlite3_column_text(s, 2));
    cJSON_AddStringToObject(o, "kind", (const char *)sqlite3_column_text(s, 3));
    cJSON_AddStringToObject(o, "device", (const char *)sqlite3_column_text(s, 4));
    cJSON_AddStringToObject(o, "type", (const char *)sqlite3_column_text(s, 5));
    if (sqlite3_column_type(s, 6) != SQLITE_NULL)
        cJSON_AddStringToObject(o, "detail", (const char *)sqlite3_column_text(s, 6));
    return o;
}

/* Builds the body of batch `seq` from at most max_rows rows and max_alerts
 * alerts (oldest first). Sets *last_row / *last_alert to the ids included. */
static char *build_body(struct ntm_outbox *ob, uint64_t seq, const struct ntm_health *h,
                        int max_rows, int max_alerts, int64_t *last_row, int64_t *last_alert,
                        int *n_rows, int *n_alerts)
{
    sqlite3 *db = ntm_store_db(ob->st);
    const struct ntm_config *cfg = ob->cfg;
    char batch_id[96], created[40];
    snprintf(batch_id, sizeof batch_id, "%s:%" PRIu64, cfg->gateway_id, seq);
    ntm_iso_local(ntm_clock_wall_ms(ob->clock) / 1000, created, sizeof created);

    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", "ntm.sync.v1");
    cJSON_AddStringToObject(root, "batch_id", batch_id);
    cJSON_AddNumberToObject(root, "seq", (double)seq);
    cJSON *gw = cJSON_AddObjectToObject(root, "gateway");
    cJSON_AddStringToObject(gw, "id", cfg->gateway_id);
    cJSON_AddStringToObject(gw, "version", NTM_VERSION);
    cJSON_AddBoolToObject(gw, "clock_synced", ob->clock->synced);
    cJSON *commune = cJSON_AddObjectToObject(root, "commune");
    cJSON_AddStringToObject(commune, "code", cfg->commune_code);
    cJSON_AddStringToObject(commune, "province_code", cfg->province_code);
    cJSON_AddStringToObject(commune, "name", cfg->commune_name ? cfg->commune_name : "");
    cJSON_AddStringToObject(root, "created_at", created);

    cJSON *rows = cJSON_AddArrayToObject(root, "indicators");
    sqlite3_stmt *s = NULL;
    *last_row = 0;
    *n_rows = 0;
    sqlite3_prepare_v2(db,
                       "SELECT id, village, kind, period, start, end, name, value, unit, devices"
                       " FROM pending_rows ORDER BY id LIMIT ?",
                       -1, &s, NULL);
    sqlite3_bind_int(s, 1, max_rows);
    while (sqlite3_step(s) == SQLITE_ROW) {
        cJSON_AddItemToArray(rows, row_json(s));
        *last_row = sqlite3_column_int64(s, 0);
        (*n_rows)++;
    }
    sqlite3_finalize(s);

    cJSON *alerts = cJSON_AddArrayToObject(root, "alerts");
    *last_alert = 0;
    *n_alerts = 0;
    sqlite3_prepare_v2(db,
                       "SELECT id, ts, village, kind, device, type, detail FROM alerts"
                       " ORDER BY id LIMIT ?",
                       -1, &s, NULL);
    sqlite3_bind_int(s, 1, max_alerts);
    while (sqlite3_step(s) == SQLITE_ROW) {
        cJSON_AddItemToArray(alerts, alert_json(cfg, s));
        *last_alert = sqlite3_column_int64(s, 0);
        (*n_alerts)++;
    }
    sqlite3_finalize(s);

    cJSON *health = cJSON_AddObjectToObject(root, "health");
    cJSON_AddNumberToObject(health, "uptime_s", (double)h->uptime_s);
    cJSON_AddNumberToObject(health, "buffered_messages", (double)h->buffered_messages);
    cJSON_AddNumberToObject(health, "pending_batches", (double)h->pending_batches);
    cJSON_AddNumberToObject(health, "rejected_total", (double)h->rejected_total);
    cJSON_AddNumberToObject(health, "dropped_total", (double)h->dropped_total);
    cJSON_AddNumberToObject(health, "late_total", (double)h->late_total);
    char *body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return body;
}

static int form_one(struct ntm_outbox *ob, const struct ntm_health *h, int64_t msg_hi)
{
    sqlite3 *db = ntm_store_db(ob->st);
    uint64_t seq = (uint64_t)ntm_store_meta_get(ob->st, NTM_META_LAST_SEQ, 0) + 1;
    int max_rows = 1000, max_alerts = 500;
    int64_t last_row, last_alert;
    int n_rows, n_alerts;
    char *body;
    for (;;) {
        body = build_body(ob, seq, h, max_rows, max_alerts, &last_row, &last_alert, &n_rows,
                          &n_alerts);
        if (!body)
            return -1;
        if (strlen(body) <= NTM_BATCH_MAX_BYTES || (max_rows <= 1 && max_alerts <= 1))
            break;
        free(body);
        max_rows = max_rows > 1 ? max_rows / 2 : 1;
        max_alerts = max_alerts > 1 ? max_alerts / 2 : 1;
    }
    if (n_rows == 0 && n_alerts == 0) {
        free(body);
        ob->waiting = 0;
        return 0;
    }
    if (ntm_store_begin(ob->st) != 0) {
        free(body);
        return -1;
    }
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO batches(seq, created_ms, body, n_rows, n_alerts,"
                                " msg_hi, closed_upto) VALUES(?,?,?,?,?,?,?)",
                                -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, (int64_t)seq);
        sqlite3_bind_int64(s, 2, ntm_clock_wall_ms(ob->clock));
        sqlite3_bind_blob(s, 3, body, (int)strlen(body), SQLITE_STATIC);
        sqlite3_bind_int(s, 4, n_rows);
        sqlite3_bind_int(s, 5, n_alerts);
        sqlite3_bind_int64(s, 6, msg_hi);
        sqlite3_bind_int64(s, 7, ob->closed_day_upto);
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(s);
    size_t body_len = strlen(body);
    free(body);
    /* what the batch holds leaves the waiting tables in the same transaction */
    if (rc == SQLITE_OK &&
        (ntm_store_run(ob->st, "DELETE FROM pending_rows WHERE id <= ?", last_row) < 0 ||
         ntm_store_run(ob->st, "DELETE FROM alerts WHERE id <= ?", last_alert) < 0))
        rc = SQLITE_ERROR;
    if (rc == SQLITE_OK && ntm_store_meta_set(ob->st, NTM_META_LAST_SEQ, (int64_t)seq) != 0)
        rc = SQLITE_ERROR;
    if (rc == SQLITE_OK && sqlite3_prepare_v2(db,
                                              "INSERT INTO deliveries(seq, uplink, state)"
                                              " VALUES(?, ?, 'pending')",
                                              -1, &s, NULL) == SQLITE_OK) {
        for (size_t i = 0; i < ob->n_uplinks && rc == SQLITE_OK; i++) {
            sqlite3_bind_int64(s, 1, (int64_t)seq);
            sqlite3_bind_text(s, 2, ob->uplinks[i], -1, SQLITE_STATIC);
            rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
            sqlite3_reset(s);
        }
        sqlite3_finalize(s);
    }
    if (rc != SQLITE_OK) {
        ntm_logf(ob->log, LOG_ERR, "outbox: forming batch %s:%" PRIu64 " failed: %s",
                 ob->cfg->gateway_id, seq, sqlite3_errmsg(db));
        return -1;
    }
    uint64_t taken = (uint64_t)n_rows + (uint64_t)n_alerts;
    ob->waiting -= taken > ob->waiting ? ob->waiting : taken;
    char batch_id[96];
    snprintf(batch_id, sizeof batch_id, "%s:%" PRIu64, ob->cfg->gateway_id, seq);
    ntm_log_emit(ob->log, LOG_INFO, NULL, (struct ntm_log_field[]){{"BATCH_ID", batch_id}}, 1,
                 "batch %s formed: %d indicator rows, %d alerts, %zu bytes; queued for %zu "
                 "uplink(s)",
                 batch_id, n_rows, n_alerts, body_len, ob->n_uplinks);
    /* the batch is persisted with the commit that follows, before any send */
    return ntm_store_commit(ob->st) == 0 ? 1 : -1;
}

int ntm_outbox_form(struct ntm_outbox *ob, const struct ntm_health *h, int64_t msg_hi)
{
    int formed = 0;
    while (ob->waiting > 0) {
        int rc = form_one(ob, h, msg_hi);
        if (rc < 0)
            return formed ? formed : -1;
        if (rc == 0)
            break;
        formed++;
    }
    return formed;
}
