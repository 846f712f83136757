/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cmd_devices.c: `ntmctl devices [--offline] [--village V] [--kind K] [ID]`:
 * each device's state and uptime today, with a note that explains a 0 %
 * (declared and never heard, silent since, a similar undeclared id seen) and
 * what the sources of the live state say about it. Read-only. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "record.h"

struct dev_opts {
    bool offline;
    const char *village, *kind;
};

static void on_opt(struct ctl *c, int o, const char *arg, void *data)
{
    (void)c;
    struct dev_opts *d = data;
    if (o == 'o')
        d->offline = true;
    else if (o == 'v')
        d->village = arg;
    else if (o == 'k')
        d->kind = arg;
}

/* The closest other device (declared or not, as asked) within 2 edits. */
static bool similar(struct ctl *c, const char *name, bool declared, char *out, size_t outlen,
                    int64_t *last_seen)
{
    sqlite3_stmt *s = NULL;
    size_t best = 3;
    if (sqlite3_prepare_v2(c->db, "SELECT name, last_seen FROM devices WHERE declared = ?", -1, &s,
                           NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_int(s, 1, declared);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *n = ctl_col(s, 0);
        size_t d = strcmp(n, name) == 0 ? 99 : ntm_id_distance(n, name);
        if (d < best) {
            best = d;
            snprintf(out, outlen, "%s", n);
            *last_seen = sqlite3_column_int64(s, 1);
        }
    }
    sqlite3_finalize(s);
    return best < 3;
}

/* What a source section of the live state says of this device. */
static void sources_of(struct ctl *c, const char *name, char *out, size_t outlen, cJSON *json)
{
    out[0] = '\0';
    const cJSON *src = ctl_live_get(c, "sources");
    const cJSON *sec = NULL;
    size_t used = 0;
    cJSON_ArrayForEach(sec, src)
    {
        const cJSON *dev = cJSON_GetObjectItemCaseSensitive(sec, name);
        if (!cJSON_IsObject(dev))
            continue;
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(dev, "state");
        const cJSON *err = cJSON_GetObjectItemCaseSensitive(dev, "last_error");
        const cJSON *since = cJSON_GetObjectItemCaseSensitive(dev, "since_ms");
        if (json)
            cJSON_AddItemToObject(json, sec->string, cJSON_Duplicate(dev, true));
        char when[64] = "", tb[32];
        if (cJSON_IsNumber(since) && since->valuedouble > 0)
            snprintf(when, sizeof when, _(" since %s"),
                     ctl_time(c, (int64_t)(since->valuedouble / 1000), tb, sizeof tb));
        int n =
            snprintf(out + used, outlen - used, "%s%s %s%s%s%s", used ? "; " : "", sec->string,
                     cJSON_IsString(st) ? st->valuestring : "?", when,
                     cJSON_IsString(err) ? ": " : "", cJSON_IsString(err) ? err->valuestring : "");
        if (n > 0 && (size_t)n < outlen - used)
            used += (size_t)n;
    }
}

/* Why the uptime is what it is, in a few words; "" when nothing to say. */
static void explain(struct ctl *c, const char *name, bool declared, bool known, bool online,
                    int64_t last_seen, int64_t last_ts, double up, char *out, size_t outlen)
{
    char other[80], tb[32];
    int64_t other_seen = 0;
    out[0] = '\0';
    if (!declared) {
        if (similar(c, name, true, other, sizeof other, &other_seen))
            snprintf(out, outlen, _("not in the inventory; did you mean %s?"), other);
        else
            snprintf(out, outlen, _("not in the inventory (devices: in the configuration)"));
        return;
    }
    if (last_seen <= 0) {
        if (similar(c, name, false, other, sizeof other, &other_seen) && other_seen > 0)
            snprintf(out, outlen,
                     _("declared, never heard; a similar undeclared id %s was seen at %s"), other,
                     ctl_time(c, other_seen, tb, sizeof tb));
        else
            snprintf(out, outlen, _("declared, never heard"));
        return;
    }
    if (known && !online)
        snprintf(out, outlen, _("silent since %s"),
                 ctl_time(c, last_ts > 0 ? last_ts : last_seen, tb, sizeof tb));
    else if (up >= 0 && up < 0.05)
        snprintf(out, outlen, _("heard at %s, but not online earlier today"),
                 ctl_time(c, last_seen, tb, sizeof tb));
}

int cmd_devices(struct ctl *c)
{
    static const struct option opts[] = {{"offline", no_argument, NULL, 'o'},
                                         {"village", required_argument, NULL, 'v'},
                                         {"kind", required_argument, NULL, 'k'},
                                         {NULL, 0, NULL, 0}};
    struct dev_opts o = {0};
    int first;
    if (!ctl_parse(c, "+", opts, on_opt, &o, 1, &first))
        return CTL_USAGE;
    const char *only = first < c->argc ? c->argv[first] : NULL;
    if (o.kind && strcmp(o.kind, "speaker") && strcmp(o.kind, "camera") && strcmp(o.kind, "wifi")) {
        ctl_usage_error("devices", _("--kind takes speaker, camera or wifi, not '%s'"), o.kind);
        return CTL_USAGE;
    }
    if (c->parse_only)
        return CTL_OK;
    ctl_load_live(c);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT name, village, kind, declared, last_seen, last_ts, messages,"
                           " online, uptime_today FROM devices"
                           " WHERE (?1 IS NULL OR village = ?1) AND (?2 IS NULL OR kind = ?2)"
                           " AND (?3 IS NULL OR name = ?3)"
                           " ORDER BY village, kind, name",
                           -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "ntmctl: %s\n", sqlite3_errmsg(c->db));
        return CTL_FAIL;
    }
    sqlite3_bind_text(s, 1, o.village, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, o.kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, only, -1, SQLITE_STATIC);
    cJSON *list = c->json ? cJSON_CreateArray() : NULL;
    int wd = c->wide ? 28 : 18, wv = c->wide ? 24 : 16;
    if (!c->json && !only) {
        ctl_cell(_("DEVICE"), wd);
        printf(" ");
        ctl_cell(_("VILLAGE"), wv);
        printf(" ");
        ctl_cell(_("KIND"), 8);
        printf(" ");
        ctl_cell(_("STATE"), 10);
        printf(" ");
        ctl_cell_right(_("UPTIME"), 6);
        printf(" ");
        if (c->wide) {
            ctl_cell(_("LAST SEEN"), 16);
            printf(" ");
            ctl_cell_right(_("MESSAGES"), 9);
            printf("\n");
        } else {
            ctl_line(_("LAST SEEN"), 16);
        }
    }
    int shown = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        char tb[32], up[16] = "-", note[256], src[512];
        const char *name = ctl_col(s, 0), *village = ctl_col(s, 1), *kind = ctl_col(s, 2);
        bool declared = sqlite3_column_int(s, 3) != 0;
        int64_t last_seen = sqlite3_column_int64(s, 4);
        bool known = sqlite3_column_type(s, 7) != SQLITE_NULL;
        bool online = sqlite3_column_int(s, 7) != 0;
        bool has_up = sqlite3_column_type(s, 8) != SQLITE_NULL;
        double pct = has_up ? sqlite3_column_double(s, 8) : -1;
        if (o.offline && online)
            continue;
        shown++;
        if (has_up)
            snprintf(up, sizeof up, "%.0f%%", pct);
        explain(c, name, declared, known, online, last_seen, sqlite3_column_int64(s, 5), pct, note,
                sizeof note);
        const char *state = !known   ? (last_seen > 0 ? _("unknown") : _("never"))
                            : online ? _("online")
                                     : _("OFFLINE");
        if (c->json) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "device", name);
            cJSON_AddStringToObject(d, "village", village);
            cJSON_AddStringToObject(d, "kind", kind);
            cJSON_AddBoolToObject(d, "declared", declared);
            if (known)
                cJSON_AddBoolToObject(d, "online", online);
            else
                cJSON_AddNullToObject(d, "online");
            if (has_up)
                cJSON_AddNumberToObject(d, "uptime_today_pct", round(pct * 100) / 100);
            else
                cJSON_AddNullToObject(d, "uptime_today_pct");
            cJSON_AddNumberToObject(d, "last_seen", (double)last_seen);
            cJSON_AddNumberToObject(d, "messages", (double)sqlite3_column_int64(s, 6));
            if (note[0])
                cJSON_AddStringToObject(d, "note", note);
            cJSON *so = cJSON_CreateObject();
            sources_of(c, name, src, sizeof src, so);
            cJSON_AddItemToObject(d, "sources", so);
            cJSON_AddItemToArray(list, d);
            continue;
        }
        sources_of(c, name, src, sizeof src, NULL);
        if (only) {
            printf(_("Device:     %s\n"), name);
            printf(_("Village:    %s (%s)\n"), ctl_village_name(c, village), village);
            printf(_("Kind:       %s\n"), ctl_kind_label(kind));
            printf(_("Inventory:  %s\n"), declared ? _("declared") : _("not declared"));
            printf(_("State:      %s\n"), state);
            printf(_("Uptime:     %s today\n"), up);
            printf(_("Last seen:  %s\n"), ctl_time_full(last_seen, tb, sizeof tb));
            printf(_("Messages:   %lld\n"), (long long)sqlite3_column_int64(s, 6));
            if (src[0])
                printf(_("Sources:    %s\n"), src);
            if (note[0])
                printf(_("Note:       %s\n"), note);
            continue;
        }
        ctl_cell(name, wd);
        printf(" ");
        ctl_cell(ctl_village_name(c, village), wv);
        printf(" ");
        ctl_cell(ctl_kind_label(kind), 8);
        printf(" ");
        ctl_cell(state, 10);
        printf(" ");
        ctl_cell_right(up, 6);
        printf(" ");
        if (!c->wide)
            ctl_line(ctl_time(c, last_seen, tb, sizeof tb), 16);
        else
            ctl_cell(ctl_time(c, last_seen, tb, sizeof tb), 16);
        if (c->wide) {
            char m[24];
            snprintf(m, sizeof m, "%lld", (long long)sqlite3_column_int64(s, 6));
            printf(" ");
            ctl_cell_right(m, 9);
            printf("\n");
        }
        if (note[0] || src[0]) {
            char line[900];
            snprintf(line, sizeof line, "%s%s%s", note, note[0] && src[0] ? "; " : "", src);
            printf("  ");
            ctl_line(line, c->wide ? 400 : 78);
        }
    }
    sqlite3_finalize(s);
    if (c->json)
        return ctl_print_json(list);
    if (only && shown == 0) {
        fprintf(stderr, _("ntmctl devices: no device '%s' (neither declared nor heard)\n"), only);
        return CTL_FAIL;
    }
    if (!only && shown == 0)
        printf(_("(none)\n"));
    return CTL_OK;
}
