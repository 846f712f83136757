/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cmd_batches.c: `ntmctl batches [--uplink U]` (a summary per uplink with
 * the next try, then the batches not delivered and the last 20),
 * `ntmctl quarantine` and `ntmctl requeue BATCH`, the one command here that
 * writes (it makes a quarantined delivery pending again). */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static void no_opt(struct ctl *c, int o, const char *arg, void *data)
{
    (void)c, (void)o, (void)arg, (void)data;
}

static void uplink_opt(struct ctl *c, int o, const char *arg, void *data)
{
    (void)c;
    if (o == 'u')
        *(const char **)data = arg;
}

/* The live state of one uplink, or NULL. */
static const cJSON *live_uplink(struct ctl *c, const char *name)
{
    const cJSON *u = NULL;
    if (!c->live || c->live_stale)
        return NULL;
    cJSON_ArrayForEach(u, ctl_live_get(c, "uplinks"))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(u, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return u;
    }
    return NULL;
}

static void summary(struct ctl *c, const char *only, cJSON *doc)
{
    sqlite3_stmt *s = NULL;
    sqlite3_prepare_v2(c->db,
                       "SELECT uplink, sum(state = 'pending'), sum(state = 'quarantined'),"
                       " max(CASE WHEN state = 'delivered' THEN done_ms END),"
                       " min(CASE WHEN state = 'pending' THEN next_ms END),"
                       " (SELECT last_error FROM deliveries e WHERE e.uplink = d.uplink AND"
                       "  e.state = 'pending' AND e.last_error IS NOT NULL ORDER BY seq DESC"
                       "  LIMIT 1)"
                       " FROM deliveries d WHERE (?1 IS NULL OR uplink = ?1) GROUP BY uplink"
                       " ORDER BY uplink",
                       -1, &s, NULL);
    sqlite3_bind_text(s, 1, only, -1, SQLITE_STATIC);
    cJSON *ups = cJSON_AddArrayToObject(doc, "uplinks");
    if (!c->json) {
        ctl_cell(_("UPLINK"), 18);
        printf(" ");
        ctl_cell(_("STATE"), 10);
        printf(" ");
        ctl_cell_right(_("WAITING"), 7);
        printf(" ");
        ctl_cell_right(_("REFUSED"), 7);
        printf("  ");
        ctl_cell(_("LAST DELIVERY"), 16);
        printf(" ");
        ctl_cell(_("NEXT TRY"), 16);
        printf("\n");
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *name = ctl_col(s, 0);
        int64_t waiting = sqlite3_column_int64(s, 1), refused = sqlite3_column_int64(s, 2);
        int64_t last = sqlite3_column_int64(s, 3), next = sqlite3_column_int64(s, 4);
        char esafe[2048];
        const char *err = ctl_col_safe(s, 5, esafe, sizeof esafe);
        const cJSON *lu = live_uplink(c, name);
        const cJSON *lst = cJSON_GetObjectItemCaseSensitive(lu, "state");
        const cJSON *lnext = cJSON_GetObjectItemCaseSensitive(lu, "next_try_ms");
        const cJSON *lerr = cJSON_GetObjectItemCaseSensitive(lu, "last_error");
        if (cJSON_IsNumber(lnext))
            next = (int64_t)lnext->valuedouble;
        if (cJSON_IsString(lerr))
            err = lerr->valuestring;
        const char *state = cJSON_IsString(lst) ? lst->valuestring
                            : waiting > 0       ? "waiting"
                                                : "idle";
        if (c->json) {
            cJSON *u = cJSON_CreateObject();
            cJSON_AddStringToObject(u, "uplink", name);
            cJSON_AddStringToObject(u, "state", state);
            cJSON_AddNumberToObject(u, "waiting", (double)waiting);
            cJSON_AddNumberToObject(u, "quarantined", (double)refused);
            cJSON_AddNumberToObject(u, "last_delivered_ms", (double)last);
            if (waiting > 0 && next > 0)
                cJSON_AddNumberToObject(u, "next_try_ms",
                                        (double)(next > c->now_ms ? next : c->now_ms));
            else
                cJSON_AddNullToObject(u, "next_try_ms");
            if (err)
                cJSON_AddStringToObject(u, "last_error", err);
            else
                cJSON_AddNullToObject(u, "last_error");
            cJSON_AddItemToArray(ups, u);
            continue;
        }
        char n1[24], n2[24], tb[32], nb[48];
        snprintf(n1, sizeof n1, "%lld", (long long)waiting);
        snprintf(n2, sizeof n2, "%lld", (long long)refused);
        ctl_cell(name, 18);
        printf(" ");
        ctl_cell(strcmp(state, "failing") == 0 ? _("FAILING")
                 : strcmp(state, "ok") == 0    ? _("ok")
                 : strcmp(state, "idle") == 0  ? _("idle")
                                               : _("waiting"),
                 10);
        printf(" ");
        ctl_cell_right(n1, 7);
        printf(" ");
        ctl_cell_right(n2, 7);
        printf("  ");
        ctl_cell(last > 0 ? ctl_time(c, last / 1000, tb, sizeof tb) : _("none yet"), 16);
        printf(" ");
        ctl_cell(waiting == 0        ? "-"
                 : next <= c->now_ms ? _("now")
                                     : ctl_ago(c, next, nb, sizeof nb),
                 16);
        printf("\n");
        if (err && waiting > 0) {
            char line[600];
            snprintf(line, sizeof line, _("last error: %s"), err);
            printf("  ");
            ctl_line(line, c->wide ? 400 : 78);
        }
    }
    sqlite3_finalize(s);
}

int cmd_batches(struct ctl *c)
{
    static const struct option opts[] = {{"uplink", required_argument, NULL, 'u'},
                                         {NULL, 0, NULL, 0}};
    const char *only = NULL;
    int first;
    if (!ctl_parse(c, "+", opts, uplink_opt, &only, 0, &first))
        return CTL_USAGE;
    if (c->parse_only)
        return CTL_OK;
    ctl_load_live(c);
    int64_t pending = ctl_scalar(c, "SELECT count(DISTINCT seq) FROM deliveries WHERE state = "
                                    "'pending'");
    int64_t quarantined = ctl_scalar(c, "SELECT count(*) FROM deliveries WHERE state = "
                                        "'quarantined'");
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddNumberToObject(doc, "pending", (double)pending);
    cJSON_AddNumberToObject(doc, "quarantined", (double)quarantined);
    if (!c->json)
        printf(_("%lld batches waiting, %lld refused for good (quarantined).\n\n"),
               (long long)pending, (long long)quarantined);
    summary(c, only, doc);

    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT b.seq, b.created_ms, b.n_rows, b.n_alerts, d.uplink, d.state,"
                           " d.attempts, d.next_ms, d.last_error, d.done_ms"
                           " FROM batches b JOIN deliveries d USING (seq)"
                           " WHERE (d.state != 'delivered' OR b.seq > (SELECT max(seq) - 20 FROM"
                           " batches)) AND (?1 IS NULL OR d.uplink = ?1) ORDER BY b.seq, d.uplink",
                           -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "ntmctl: %s\n", sqlite3_errmsg(c->db));
        cJSON_Delete(doc);
        return CTL_FAIL;
    }
    sqlite3_bind_text(s, 1, only, -1, SQLITE_STATIC);
    cJSON *list = cJSON_AddArrayToObject(doc, "batches");
    if (!c->json) {
        printf(_("\nThe batches not delivered, and the last 20:\n"));
        ctl_cell_right(_("SEQ"), 6);
        printf(" ");
        ctl_cell(_("FORMED"), 16);
        printf(" ");
        ctl_cell_right(_("ROWS"), 5);
        printf(" ");
        ctl_cell(_("UPLINK"), 16);
        printf(" ");
        ctl_cell(_("STATE"), 11);
        printf(" ");
        ctl_cell_right(_("TRIES"), 5);
        printf(" ");
        ctl_cell(_("NEXT TRY"), 14);
        printf("\n");
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(s, 0);
        const char *state = ctl_col(s, 5);
        char esafe[2048];
        const char *error = ctl_col_safe(s, 8, esafe, sizeof esafe);
        int64_t next = sqlite3_column_int64(s, 7);
        if (c->json) {
            char id[160];
            snprintf(id, sizeof id, "%s:%lld", c->cfg ? c->cfg->gateway_id : "", (long long)seq);
            cJSON *b = cJSON_CreateObject();
            cJSON_AddNumberToObject(b, "seq", (double)seq);
            cJSON_AddStringToObject(b, "batch_id", id);
            cJSON_AddNumberToObject(b, "created_ms", (double)sqlite3_column_int64(s, 1));
            cJSON_AddNumberToObject(b, "rows", sqlite3_column_int(s, 2));
            cJSON_AddNumberToObject(b, "alerts", sqlite3_column_int(s, 3));
            cJSON_AddStringToObject(b, "uplink", ctl_col(s, 4));
            cJSON_AddStringToObject(b, "state", state);
            cJSON_AddNumberToObject(b, "attempts", sqlite3_column_int(s, 6));
            cJSON_AddNumberToObject(b, "next_ms", (double)next);
            if (error)
                cJSON_AddStringToObject(b, "last_error", error);
            else
                cJSON_AddNullToObject(b, "last_error");
            cJSON_AddItemToArray(list, b);
            continue;
        }
        char n1[24], n2[24], n3[24], tb[32], nb[48];
        snprintf(n1, sizeof n1, "%lld", (long long)seq);
        snprintf(n2, sizeof n2, "%d", sqlite3_column_int(s, 2));
        snprintf(n3, sizeof n3, "%d", sqlite3_column_int(s, 6));
        ctl_cell_right(n1, 6);
        printf(" ");
        ctl_cell(ctl_time(c, sqlite3_column_int64(s, 1) / 1000, tb, sizeof tb), 16);
        printf(" ");
        ctl_cell_right(n2, 5);
        printf(" ");
        ctl_cell(ctl_col(s, 4), 16);
        printf(" ");
        /* the state word stays English: scripts and people search logs for it */
        ctl_cell(state, 11);
        printf(" ");
        ctl_cell_right(n3, 5);
        printf(" ");
        bool pend = strcmp(state, "pending") == 0;
        const char *nt = !pend               ? "-"
                         : next <= c->now_ms ? _("now")
                                             : ctl_ago(c, next, nb, sizeof nb);
        if (c->wide && error)
            printf("%-14s %s\n", nt, error);
        else
            printf("%s\n", nt);
        if (!c->wide && error) {
            printf("       ");
            ctl_line(error, 73);
        }
    }
    sqlite3_finalize(s);
    return c->json ? ctl_print_json(doc) : (cJSON_Delete(doc), CTL_OK);
}

int cmd_quarantine(struct ctl *c)
{
    int first;
    if (!ctl_parse(c, "+", NULL, no_opt, NULL, 0, &first))
        return CTL_USAGE;
    if (c->parse_only)
        return CTL_OK;
    sqlite3_stmt *s = NULL;
    sqlite3_prepare_v2(c->db,
                       "SELECT recv_ms, reason, topic, detail, size FROM quarantine"
                       " ORDER BY id DESC LIMIT 200",
                       -1, &s, NULL);
    cJSON *doc = c->json ? cJSON_CreateObject() : NULL;
    cJSON *messages = cJSON_AddArrayToObject(doc, "messages");
    if (!c->json)
        printf(_("Rejected messages (newest first, at most 200; no payload is kept):\n"));
    int n = 0;
    for (; sqlite3_step(s) == SQLITE_ROW; n++) {
        char tb[32];
        /* rows written by older versions may hold anything: made safe again */
        char tsafe[256 * 6 + 1], dsafe[1024];
        const char *topic = ctl_col_safe(s, 2, tsafe, sizeof tsafe);
        const char *detail = ctl_col_safe(s, 3, dsafe, sizeof dsafe);
        topic = topic ? topic : "";
        detail = detail ? detail : "";
        if (c->json) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddNumberToObject(m, "received_ms", (double)sqlite3_column_int64(s, 0));
            cJSON_AddStringToObject(m, "reason", ctl_col(s, 1));
            cJSON_AddStringToObject(m, "topic", topic);
            cJSON_AddStringToObject(m, "detail", detail);
            cJSON_AddNumberToObject(m, "size", sqlite3_column_int(s, 4));
            cJSON_AddItemToArray(messages, m);
            continue;
        }
        int w = c->wide ? 400 : 78;
        printf("%s  ", ctl_time_full(sqlite3_column_int64(s, 0) / 1000, tb, sizeof tb));
        ctl_cell(ctl_col(s, 1), 16);
        printf("\n  ");
        ctl_line(topic, w);
        printf("  ");
        char d[1200];
        snprintf(d, sizeof d, _("%s (%d bytes)"), detail, sqlite3_column_int(s, 4));
        ctl_line(d, w);
    }
    if (!c->json && n == 0)
        printf(_("  none\n"));
    sqlite3_finalize(s);

    s = NULL;
    cJSON *batches = cJSON_AddArrayToObject(doc, "batches");
    if (!c->json)
        printf(_("\nQuarantined batches (`ntmctl requeue SEQ` sends one again):\n"));
    n = 0;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT d.seq, d.uplink, d.done_ms, d.last_error, b.n_rows, b.n_alerts"
                           " FROM deliveries d JOIN batches b USING (seq)"
                           " WHERE d.state = 'quarantined' ORDER BY d.seq",
                           -1, &s, NULL) == SQLITE_OK) {
        for (; sqlite3_step(s) == SQLITE_ROW; n++) {
            char tb[32];
            int64_t seq = sqlite3_column_int64(s, 0);
            char esafe[2048];
            const char *error = ctl_col_safe(s, 3, esafe, sizeof esafe);
            if (c->json) {
                cJSON *q = cJSON_CreateObject();
                cJSON_AddNumberToObject(q, "seq", (double)seq);
                cJSON_AddStringToObject(q, "uplink", ctl_col(s, 1));
                cJSON_AddNumberToObject(q, "quarantined_ms", (double)sqlite3_column_int64(s, 2));
                cJSON_AddStringToObject(q, "reason", error ? error : "");
                cJSON_AddNumberToObject(q, "rows", sqlite3_column_int(s, 4));
                cJSON_AddNumberToObject(q, "alerts", sqlite3_column_int(s, 5));
                cJSON_AddItemToArray(batches, q);
            } else {
                printf(_("  batch %lld (%d rows, %d alerts) to %s, %s\n"), (long long)seq,
                       sqlite3_column_int(s, 4), sqlite3_column_int(s, 5), ctl_col(s, 1),
                       ctl_time_full(sqlite3_column_int64(s, 2) / 1000, tb, sizeof tb));
                printf("      ");
                ctl_line(error ? error : _("no reason given"), c->wide ? 400 : 74);
            }
        }
    }
    sqlite3_finalize(s);
    if (c->json)
        return ctl_print_json(doc);
    if (n == 0)
        printf(_("  none\n"));
    return CTL_OK;
}

int cmd_requeue(struct ctl *c)
{
    int first;
    if (!ctl_parse(c, "+", NULL, no_opt, NULL, 1, &first))
        return CTL_USAGE;
    const char *arg = first < c->argc ? c->argv[first] : NULL;
    if (!arg) {
        ctl_usage_error("requeue", _("which batch? (a seq or a batch id, see `ntmctl batches`)"));
        return CTL_USAGE;
    }
    const char *colon = strrchr(arg, ':');
    char *end = NULL;
    long long seq = strtoll(colon ? colon + 1 : arg, &end, 10);
    if (!end || *end || seq <= 0) {
        ctl_usage_error("requeue", _("'%s' is not a batch seq or id"), arg);
        return CTL_USAGE;
    }
    if (c->parse_only)
        return CTL_OK;
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
        return CTL_FAIL;
    }
    int n = sqlite3_changes(c->db);
    if (n == 0) {
        fprintf(stderr, _("ntmctl requeue: batch %lld has no quarantined delivery\n"), seq);
        return CTL_FAIL;
    }
    printf(_("batch %lld requeued for %d uplink(s); the daemon sends it again within a minute\n"),
           seq, n);
    return CTL_OK;
}
