/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cmd_indicators.c: `ntmctl indicators` (the newest closed windows, one
 * header per village, kind and window) and `ntmctl today` (today's running
 * values per village and kind, open windows included, and how far the closed
 * hours were delivered). Read-only. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "record.h"

struct ind_opts {
    const char *village, *kind, *period, *day;
};

static void on_opt(struct ctl *c, int o, const char *arg, void *data)
{
    (void)c;
    struct ind_opts *d = data;
    if (o == 'v')
        d->village = arg;
    else if (o == 'k')
        d->kind = arg;
    else if (o == 'p')
        d->period = arg;
    else if (o == 'd')
        d->day = arg;
}

static bool kind_ok(const char *k)
{
    return !k || !strcmp(k, "speaker") || !strcmp(k, "camera") || !strcmp(k, "wifi");
}

/* An indicator's name as people read it. */
static const char *label(const char *name)
{
    static const struct {
        const char *name, *text;
    } names[] = {
        {"uptime_pct", N_("uptime")},
        {"broadcasts", N_("broadcasts")},
        {"broadcasts_played", N_("broadcasts played")},
        {"broadcasts_failed", N_("broadcasts failed")},
        {"broadcast_minutes", N_("broadcast minutes")},
        {"emergency_broadcasts", N_("emergency broadcasts")},
        {"faults", N_("faults")},
        {"motion_events", N_("motion events")},
        {"tamper_events", N_("tamper events")},
        {"video_loss_events", N_("video loss events")},
        {"recording_pct", N_("recording")},
        {"unique_clients", N_("Wi-Fi users")},
        {"sessions", N_("sessions")},
        {"peak_clients", N_("peak users")},
        {"traffic_mb", N_("traffic")},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i].name, name) == 0)
            return _(names[i].text);
    return name;
}

int cmd_indicators(struct ctl *c)
{
    static const struct option opts[] = {{"village", required_argument, NULL, 'v'},
                                         {"kind", required_argument, NULL, 'k'},
                                         {"period", required_argument, NULL, 'p'},
                                         {NULL, 0, NULL, 0}};
    struct ind_opts o = {0};
    int first;
    if (!ctl_parse(c, "+", opts, on_opt, &o, 0, &first))
        return CTL_USAGE;
    if (!kind_ok(o.kind)) {
        ctl_usage_error("indicators", _("--kind takes speaker, camera or wifi, not '%s'"), o.kind);
        return CTL_USAGE;
    }
    if (o.period && strcmp(o.period, "hour") && strcmp(o.period, "day")) {
        ctl_usage_error("indicators", _("--period takes hour or day, not '%s'"), o.period);
        return CTL_USAGE;
    }
    if (c->parse_only)
        return CTL_OK;
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT village, kind, period, start, end, name, value, unit, devices"
                           " FROM latest_rows WHERE (?1 IS NULL OR village = ?1)"
                           " AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR period = ?3)"
                           " ORDER BY village, kind, period DESC, start, name",
                           -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "ntmctl: %s\n", sqlite3_errmsg(c->db));
        return CTL_FAIL;
    }
    sqlite3_bind_text(s, 1, o.village, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, o.kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, o.period, -1, SQLITE_STATIC);
    cJSON *list = c->json ? cJSON_CreateArray() : NULL;
    char last_group[256] = "";
    int n = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *village = ctl_col(s, 0), *kind = ctl_col(s, 1), *period = ctl_col(s, 2);
        int64_t start = sqlite3_column_int64(s, 3), end = sqlite3_column_int64(s, 4);
        n++;
        if (c->json) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "village", village);
            cJSON_AddStringToObject(r, "kind", kind);
            cJSON_AddStringToObject(r, "period", period);
            cJSON_AddNumberToObject(r, "start", (double)start);
            cJSON_AddNumberToObject(r, "end", (double)end);
            cJSON_AddStringToObject(r, "name", ctl_col(s, 5));
            cJSON_AddNumberToObject(r, "value", sqlite3_column_double(s, 6));
            cJSON_AddStringToObject(r, "unit", ctl_col(s, 7));
            cJSON_AddNumberToObject(r, "devices", sqlite3_column_int(s, 8));
            cJSON_AddItemToArray(list, r);
            continue;
        }
        /* the group key is copied: comparing pointers into a reused buffer was the bug */
        char group[256];
        snprintf(group, sizeof group, "%s|%s|%s|%lld", village, kind, period, (long long)start);
        if (strcmp(group, last_group) != 0) {
            char t0[32], t1[32];
            ctl_time_full(start, t0, sizeof t0);
            ctl_time_full(end, t1, sizeof t1);
            bool day = strcmp(period, "day") == 0;
            char head[512];
            snprintf(head, sizeof head, _("%s (%s), %s, %s %.16s to %.5s, %d devices"),
                     ctl_village_name(c, village), village, ctl_kind_label(kind),
                     day ? _("day") : _("hour"), t0, t1 + 11, sqlite3_column_int(s, 8));
            printf("\n");
            ctl_line(head, c->wide ? 400 : 80);
            snprintf(last_group, sizeof last_group, "%s", group);
        }
        char v[48];
        snprintf(v, sizeof v, "%.10g", sqlite3_column_double(s, 6));
        printf("  ");
        ctl_cell(label(ctl_col(s, 5)), 26);
        printf(" ");
        ctl_cell_right(v, 12);
        printf(" %s\n", ctl_col(s, 7));
    }
    sqlite3_finalize(s);
    if (c->json)
        return ctl_print_json(list);
    if (n == 0)
        printf(_("No closed window yet: the first hour closes at its end plus sync.grace_s "
                 "(`ntmctl today` shows the running values).\n"));
    return CTL_OK;
}

/* ---- today ------------------------------------------------------------------- */

struct today_row {
    char village[64], kind[16];
    int devices;
    double uptime; /* -1 = none known */
    int64_t broadcasts, events, sessions, peak, bytes;
    double minutes;
};

static int parse_day(const char *s, int64_t *out)
{
    struct tm tm = {0};
    char *end = strptime(s, "%Y-%m-%d", &tm);
    if (!end || *end)
        return -1;
    *out = (int64_t)timegm(&tm) - NTM_TZ_OFFSET_S;
    return 0;
}

int cmd_today(struct ctl *c)
{
    static const struct option opts[] = {{"village", required_argument, NULL, 'v'},
                                         {"day", required_argument, NULL, 'd'},
                                         {NULL, 0, NULL, 0}};
    struct ind_opts o = {0};
    int first;
    if (!ctl_parse(c, "+", opts, on_opt, &o, 0, &first))
        return CTL_USAGE;
    int64_t day0 = ctl_day_start(c->now_ms / 1000);
    if (o.day && parse_day(o.day, &day0) != 0) {
        ctl_usage_error("today", _("--day takes a date as YYYY-MM-DD, not '%s'"), o.day);
        return CTL_USAGE;
    }
    if (c->parse_only)
        return CTL_OK;
    int64_t day1 = day0 + 86400;
    sqlite3_stmt *s = NULL;
    /* channel 2 = event, event 1 = broadcast; 3..5 = motion, tamper, video loss */
    if (sqlite3_prepare_v2(
            c->db,
            "SELECT d.village, d.kind, count(DISTINCT d.id),"
            " (SELECT avg(uptime_today) FROM devices e WHERE e.village = d.village AND"
            "  e.kind = d.kind AND e.uptime_today IS NOT NULL),"
            " sum(m.channel = 2 AND m.event = 1),"
            " sum(CASE WHEN m.channel = 2 AND m.event = 1 THEN m.duration_s END),"
            " sum(m.channel = 2 AND m.event IN (3, 4, 5)),"
            " sum(m.new_sessions), max(m.clients),"
            " sum(coalesce(m.rx_bytes, 0) + coalesce(m.tx_bytes, 0))"
            " FROM devices d LEFT JOIN messages m ON m.device = d.id AND m.ts >= ?1 AND m.ts < ?2"
            " WHERE (?3 IS NULL OR d.village = ?3)"
            " GROUP BY d.village, d.kind ORDER BY d.village, d.kind",
            -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "ntmctl: %s\n", sqlite3_errmsg(c->db));
        return CTL_FAIL;
    }
    sqlite3_bind_int64(s, 1, day0);
    sqlite3_bind_int64(s, 2, day1);
    sqlite3_bind_text(s, 3, o.village, -1, SQLITE_STATIC);
    /* closed windows: how far closed, how far delivered to every uplink */
    int64_t closed = ctl_scalar(c, "SELECT coalesce(max(closed_upto), 0) FROM batches");
    int64_t delivered =
        ctl_scalar(c, "SELECT coalesce(max(closed_upto), 0) FROM batches WHERE seq < coalesce("
                      "(SELECT min(seq) FROM deliveries WHERE state != 'delivered'), 1 << 62)");
    int64_t waiting = ctl_scalar(c, "SELECT count(DISTINCT seq) FROM deliveries WHERE state = "
                                    "'pending'");
    char dbuf[32], t1[32], t2[32];
    ctl_time_full(day0, dbuf, sizeof dbuf);
    dbuf[10] = '\0';
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "day", dbuf);
    cJSON_AddNumberToObject(doc, "closed_upto", (double)closed);
    cJSON_AddNumberToObject(doc, "delivered_upto", (double)delivered);
    cJSON_AddNumberToObject(doc, "batches_waiting", (double)waiting);
    cJSON *rows = cJSON_AddArrayToObject(doc, "villages");
    if (!c->json) {
        printf(_("Today %s so far (open windows included)\n"), dbuf);
        if (closed <= 0)
            printf(_("No hour closed yet.\n"));
        else
            printf(_("Hours closed to %s, sent to %s, %lld batches waiting.\n"),
                   ctl_time(c, closed, t1, sizeof t1),
                   delivered > 0 ? ctl_time(c, delivered, t2, sizeof t2) : _("nothing yet"),
                   (long long)waiting);
        printf("\n");
        ctl_cell(_("VILLAGE"), 20);
        printf(" ");
        ctl_cell(_("KIND"), 8);
        printf(" ");
        ctl_cell_right(_("UPTIME"), 6);
        printf("  ");
        ctl_cell(_("SO FAR"), 42);
        printf("\n");
    }
    char last_village[64] = "";
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct today_row r = {0};
        snprintf(r.village, sizeof r.village, "%s", ctl_col(s, 0));
        snprintf(r.kind, sizeof r.kind, "%s", ctl_col(s, 1));
        r.devices = sqlite3_column_int(s, 2);
        r.uptime = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_double(s, 3);
        r.broadcasts = sqlite3_column_int64(s, 4);
        r.minutes = sqlite3_column_double(s, 5) / 60.0;
        r.events = sqlite3_column_int64(s, 6);
        r.sessions = sqlite3_column_int64(s, 7);
        r.peak = sqlite3_column_int64(s, 8);
        r.bytes = sqlite3_column_int64(s, 9);
        if (c->json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "village", r.village);
            cJSON_AddStringToObject(j, "kind", r.kind);
            cJSON_AddNumberToObject(j, "devices", r.devices);
            if (r.uptime >= 0)
                cJSON_AddNumberToObject(j, "uptime_pct", r.uptime);
            else
                cJSON_AddNullToObject(j, "uptime_pct");
            if (!strcmp(r.kind, "speaker")) {
                cJSON_AddNumberToObject(j, "broadcasts", (double)r.broadcasts);
                cJSON_AddNumberToObject(j, "broadcast_minutes", r.minutes);
            } else if (!strcmp(r.kind, "camera")) {
                cJSON_AddNumberToObject(j, "events", (double)r.events);
            } else {
                cJSON_AddNumberToObject(j, "sessions", (double)r.sessions);
                cJSON_AddNumberToObject(j, "peak_clients", (double)r.peak);
                cJSON_AddNumberToObject(j, "traffic_mb", (double)r.bytes / 1e6);
            }
            cJSON_AddItemToArray(rows, j);
            continue;
        }
        char up[16] = "-", what[160];
        if (r.uptime >= 0)
            snprintf(up, sizeof up, "%.0f%%", r.uptime);
        if (!strcmp(r.kind, "speaker"))
            snprintf(what, sizeof what, _("%lld broadcasts, %.0f min"), (long long)r.broadcasts,
                     r.minutes);
        else if (!strcmp(r.kind, "camera"))
            snprintf(what, sizeof what, _("%lld events"), (long long)r.events);
        else
            snprintf(what, sizeof what, _("%lld sessions, peak %lld users, %.1f MB"),
                     (long long)r.sessions, (long long)r.peak, (double)r.bytes / 1e6);
        bool same = strcmp(r.village, last_village) == 0;
        ctl_cell(same ? "" : ctl_village_name(c, r.village), 20);
        snprintf(last_village, sizeof last_village, "%s", r.village);
        printf(" ");
        ctl_cell(ctl_kind_label(r.kind), 8);
        printf(" ");
        ctl_cell_right(up, 6);
        printf("  %s\n", what);
    }
    sqlite3_finalize(s);
    if (c->json)
        return ctl_print_json(doc);
    cJSON_Delete(doc);
    return CTL_OK;
}
