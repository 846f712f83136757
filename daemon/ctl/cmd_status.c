/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cmd_status.c: `ntmctl status [--check]`: is it connected (daemon, broker,
 * province), what waits, what needs a person; then the buffer per village
 * and kind, and the rejections. Reads the live state and the buffer; never
 * writes. */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "ctl.h"

struct status_opts {
    bool check;
};

static void on_opt(struct ctl *c, int o, const char *arg, void *data)
{
    (void)c, (void)arg;
    if (o == 'k')
        ((struct status_opts *)data)->check = true;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

/* Adds a line to what needs a person (text and JSON). */
static void need(cJSON *needs, const char *fmt, const char *a, const char *b)
{
    char buf[512];
    snprintf(buf, sizeof buf, fmt, a ? a : "", b ? b : "");
    cJSON_AddItemToArray(needs, cJSON_CreateString(buf));
}

/* The daemon, the broker and the uplinks, from the live state. */
static void live_part(struct ctl *c, cJSON *needs, bool text)
{
    char t1[32], t2[48];
    if (!c->live || c->live_stale) {
        need(needs,
             _("the daemon is not running (systemctl status ntm-gateway; journalctl -u "
               "ntm-gateway)"),
             NULL, NULL);
        if (!text)
            return;
        if (!c->live)
            printf(_("Daemon:   NOT RUNNING (no live state found)\n"));
        else
            printf(_("Daemon:   NOT RUNNING (its last live state was written %s)\n"),
                   ctl_ago(c, num(c->live, "written_ms"), t2, sizeof t2));
        return;
    }
    const cJSON *b = ctl_live_get(c, "broker");
    const char *bstate = str(b, "state");
    bool synced = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c->live, "clock_synced"));
    if (text) {
        printf(_("Daemon:   running since %s (pid %lld), version %s\n"),
               ctl_time(c, num(c->live, "started_ms") / 1000, t1, sizeof t1),
               (long long)num(c->live, "pid"),
               str(c->live, "version") ? str(c->live, "version") : "?");
        if (!synced)
            printf(_("          the clock is not synchronised (NTP): times may be wrong\n"));
    }
    char hp[160];
    snprintf(hp, sizeof hp, "%s:%lld", str(b, "host") ? str(b, "host") : "?",
             (long long)num(b, "port"));
    if (bstate && strcmp(bstate, "connected") == 0) {
        if (text)
            printf(_("Broker:   connected since %s (%s)\n"),
                   ctl_time(c, num(b, "since_ms") / 1000, t1, sizeof t1), hp);
    } else {
        const char *err = str(b, "last_error");
        if (text)
            printf(_("Broker:   %s since %s (%s)%s%s\n"),
                   bstate && strcmp(bstate, "connecting") == 0 ? _("CONNECTING") : _("DOWN"),
                   ctl_time(c, num(b, "since_ms") / 1000, t1, sizeof t1), hp, err ? ": " : "",
                   err ? err : "");
        need(needs, _("the broker %s is not connected: %s"), hp, err ? err : _("connecting"));
    }
    const cJSON *ups = ctl_live_get(c, "uplinks");
    int n = cJSON_GetArraySize(ups);
    if (text && n == 0)
        printf(_("Province: no uplink configured: indicators stay here\n"));
    for (int i = 0; i < n; i++) {
        const cJSON *u = cJSON_GetArrayItem(ups, i);
        const char *name = str(u, "name"), *st = str(u, "state"), *err = str(u, "last_error");
        int64_t waiting = num(u, "waiting_batches"), next = num(u, "next_try_ms");
        int64_t ok = num(u, "last_ok_ms");
        if (text) {
            printf("%s", i == 0 ? _("Province: ") : "          ");
            if (st && strcmp(st, "failing") == 0)
                printf(_("%s FAILING since %s: %s\n"), name,
                       ctl_time(c, num(u, "failing_since_ms") / 1000, t1, sizeof t1),
                       err ? err : "?");
            else if (ok > 0)
                printf(_("%s ok, last delivery %s (%s)\n"), name,
                       ctl_time(c, ok / 1000, t1, sizeof t1), ctl_ago(c, ok, t2, sizeof t2));
            else
                printf(_("%s: nothing sent since the start\n"), name);
            if (waiting > 0)
                printf(_("          %lld batches waiting, next try %s\n"), (long long)waiting,
                       next > 0 ? ctl_ago(c, next, t2, sizeof t2) : _("when due"));
        }
        if (st && strcmp(st, "failing") == 0)
            need(needs, _("uplink %s fails: %s (`ntmctl batches`)"), name, err ? err : "?");
    }
    if (text) {
        const cJSON *g = ctl_live_get(c, "ingest");
        const cJSON *rate = cJSON_GetObjectItemCaseSensitive(g, "rate_per_s");
        printf(_("Messages: %.0f per second now\n"),
               cJSON_IsNumber(rate) ? rate->valuedouble : 0.0);
    }
}

static int status(struct ctl *c, bool check)
{
    int64_t buffered = ctl_counter(c, "buffered"), accepted = ctl_counter(c, "accepted");
    int64_t dropped = ctl_counter(c, "dropped"), fallback = ctl_counter(c, "clock_fallback");
    int64_t pages = ctl_scalar(c, "PRAGMA page_count"),
            freep = ctl_scalar(c, "PRAGMA freelist_count");
    int64_t page_size = ctl_scalar(c, "PRAGMA page_size");
    int64_t used = (pages - freep) * page_size;
    int64_t rejected_total = ctl_scalar(c, "SELECT coalesce(sum(value),0) FROM counters WHERE name "
                                           "LIKE 'rejected.%'");
    int64_t quarantined = ctl_scalar(c, "SELECT count(*) FROM deliveries WHERE state = "
                                        "'quarantined'");
    int64_t offline = ctl_scalar(c, "SELECT count(*) FROM devices WHERE online = 0");
    int64_t online = ctl_scalar(c, "SELECT count(*) FROM devices WHERE online = 1");
    int64_t known = ctl_scalar(c, "SELECT count(*) FROM devices");
    ctl_load_live(c);
    cJSON *needs = cJSON_CreateArray();
    bool text = !c->json;
    char tb[32];

    if (text && c->cfg)
        printf(_("Gateway:  %s, commune %s (%s)\n"), c->cfg->gateway_id,
               c->cfg->commune_name && c->cfg->commune_name[0] ? c->cfg->commune_name : "-",
               c->cfg->commune_code);
    live_part(c, needs, text);
    if (quarantined > 0) {
        char n[32];
        snprintf(n, sizeof n, "%lld", (long long)quarantined);
        need(needs, _("%s batch deliveries refused for good by a server (`ntmctl batches`)"), n,
             NULL);
    }
    if (text) {
        printf(_("Devices:  %lld online, %lld offline, %lld never heard (`ntmctl devices "
                 "--offline`)\n"),
               (long long)online, (long long)offline, (long long)(known - online - offline));
        printf(_("Buffer:   %lld raw messages kept on this card (%.1f MiB"), (long long)buffered,
               (double)used / 1048576.0);
        if (c->cfg)
            printf(_(" of %d"), c->cfg->storage.max_mb);
        printf(")\n");
        printf(_("          (raw messages never go upstream: only indicators do)\n"));
        printf(_("          %lld accepted, %lld dropped (size cap), %lld timed by the gateway\n"),
               (long long)accepted, (long long)dropped, (long long)fallback);
        int nn = cJSON_GetArraySize(needs);
        if (nn == 0)
            printf(_("\nNothing needs a person.\n"));
        else
            printf(_("\nNeeds a person:\n"));
        for (int i = 0; i < nn; i++)
            printf("  - %s\n", cJSON_GetArrayItem(needs, i)->valuestring);
    }

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
        cJSON_AddBoolToObject(o, "running", c->live && !c->live_stale);
        if (c->live)
            cJSON_AddItemToObject(o, "live", cJSON_Duplicate(c->live, true));
        else
            cJSON_AddNullToObject(o, "live");
        cJSON_AddItemToObject(o, "needs_attention", cJSON_Duplicate(needs, true));
        cJSON_AddNumberToObject(o, "schema_version", (double)ctl_scalar(c, "PRAGMA user_version"));
        cJSON_AddNumberToObject(o, "used_bytes", (double)used);
        cJSON_AddNumberToObject(o, "buffered", (double)buffered);
        cJSON_AddNumberToObject(o, "accepted_total", (double)accepted);
        cJSON_AddNumberToObject(o, "dropped_total", (double)dropped);
        cJSON_AddNumberToObject(o, "clock_fallback_total", (double)fallback);
        cJSON_AddNumberToObject(o, "rejected_total", (double)rejected_total);
        cJSON_AddNumberToObject(o, "devices_online", (double)online);
        cJSON_AddNumberToObject(o, "devices_offline", (double)offline);
        cJSON *villages = cJSON_AddArrayToObject(o, "villages");
        sqlite3_prepare_v2(c->db, per_village, -1, &s, NULL);
        while (sqlite3_step(s) == SQLITE_ROW) {
            cJSON *v = cJSON_CreateObject();
            cJSON_AddStringToObject(v, "village", ctl_col(s, 0));
            cJSON_AddStringToObject(v, "kind", ctl_col(s, 1));
            cJSON_AddNumberToObject(v, "devices", sqlite3_column_int(s, 2));
            cJSON_AddNumberToObject(v, "seen", sqlite3_column_int(s, 3));
            cJSON_AddNumberToObject(v, "last_seen", (double)sqlite3_column_int64(s, 4));
            cJSON_AddNumberToObject(v, "messages", (double)sqlite3_column_int64(s, 5));
            cJSON_AddItemToArray(villages, v);
        }
        sqlite3_finalize(s);
        cJSON *rejected = cJSON_AddObjectToObject(o, "rejected");
        sqlite3_prepare_v2(c->db, per_reason, -1, &s, NULL);
        while (sqlite3_step(s) == SQLITE_ROW)
            cJSON_AddNumberToObject(rejected, ctl_col(s, 0), (double)sqlite3_column_int64(s, 1));
        sqlite3_finalize(s);
        int n = cJSON_GetArraySize(needs);
        cJSON_Delete(needs);
        int rc = ctl_print_json(o);
        return rc != CTL_OK ? rc : check && n > 0 ? CTL_FAIL : CTL_OK;
    }

    /* 80 columns: 22 + 1 + 8 + 1 + 7 + 1 + 5 + 2 + 16 + 1 + 9 = 73 */
    printf("\n");
    ctl_cell(_("VILLAGE"), 22);
    printf(" ");
    ctl_cell(_("KIND"), 8);
    printf(" ");
    ctl_cell_right(_("DEVICES"), 7);
    printf(" ");
    ctl_cell_right(_("SEEN"), 5);
    printf("  ");
    ctl_cell(_("LAST SEEN"), 16);
    printf(" ");
    ctl_cell_right(_("MESSAGES"), 9);
    printf("\n");
    sqlite3_prepare_v2(c->db, per_village, -1, &s, NULL);
    while (sqlite3_step(s) == SQLITE_ROW) {
        char n1[16], n2[16], n3[24];
        ctl_cell(ctl_village_name(c, ctl_col(s, 0)), 22);
        printf(" ");
        ctl_cell(ctl_kind_label(ctl_col(s, 1)), 8);
        snprintf(n1, sizeof n1, "%d", sqlite3_column_int(s, 2));
        snprintf(n2, sizeof n2, "%d", sqlite3_column_int(s, 3));
        snprintf(n3, sizeof n3, "%lld", (long long)sqlite3_column_int64(s, 5));
        printf(" ");
        ctl_cell_right(n1, 7);
        printf(" ");
        ctl_cell_right(n2, 5);
        printf("  ");
        ctl_cell(ctl_time(c, sqlite3_column_int64(s, 4), tb, sizeof tb), 16);
        printf(" ");
        ctl_cell_right(n3, 9);
        printf("\n");
    }
    sqlite3_finalize(s);

    printf(_("\nrejected: %lld in all (`ntmctl quarantine` shows them)\n"),
           (long long)rejected_total);
    sqlite3_prepare_v2(c->db, per_reason, -1, &s, NULL);
    while (sqlite3_step(s) == SQLITE_ROW)
        printf("  %-18s %9lld\n", ctl_col(s, 0), (long long)sqlite3_column_int64(s, 1));
    sqlite3_finalize(s);
    int n = cJSON_GetArraySize(needs);
    cJSON_Delete(needs);
    return check && n > 0 ? CTL_FAIL : CTL_OK;
}

int cmd_status(struct ctl *c)
{
    static const struct option opts[] = {{"check", no_argument, NULL, 'k'}, {NULL, 0, NULL, 0}};
    struct status_opts so = {0};
    int first;
    if (!ctl_parse(c, "+", opts, on_opt, &so, 0, &first))
        return CTL_USAGE;
    if (c->parse_only)
        return CTL_OK;
    return status(c, so.check);
}
