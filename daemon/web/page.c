/* SPDX-License-Identifier: GPL-3.0-or-later */
/* page.c: renders the status page (GET /) from a web_view: connection state,
 * devices per village, charts of today and the last 7 days, alerts and
 * rejections. Reads only through queries.h and live.h; writes only HTML. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record.h"
#include "svg.h"
#include "view.h"

#define _(s) web_tr(v->lang, s)
#define N_(s) (s)
#define DAY 86400

static const char *const kinds[] = {"speaker", "camera", "wifi"};
#define N_KINDS 3

static const char style[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;"
    "margin:0 auto;max-width:980px;padding:8px;color:#1b1b1b;background:#f6f6f4;"
    "font-size:16px;line-height:1.4}"
    "h1{font-size:1.3em;margin:.2em 0}h2{font-size:1.15em;border-bottom:2px solid #2a6f4e;"
    "margin-top:1.2em}h3{margin:.3em 0}h4{margin:.6em 0 .1em;font-size:.95em}"
    "nav a{margin-right:.8em}.muted{color:#666;font-size:.9em}"
    ".ok{color:#1d6b32}.bad{color:#b3261e;font-weight:600}.warn{color:#8a5a00}"
    "ul.status{list-style:none;padding:0}ul.status li{background:#fff;margin:4px 0;"
    "padding:6px 8px;border-left:4px solid #2a6f4e}ul.status li.bad{border-color:#b3261e}"
    ".village{background:#fff;padding:8px;margin:10px 0;border-radius:6px;"
    "box-shadow:0 1px 2px #0002}"
    ".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:8px}"
    ".chart{width:100%;height:auto;display:block}.bar{fill:#2a6f4e}.gap{fill:#ccc}"
    ".axis{stroke:#444;stroke-width:1}.grid{stroke:#ddd;stroke-width:1}"
    ".yl{font-size:9px;text-anchor:end;fill:#444}.xl{font-size:9px;text-anchor:middle;"
    "fill:#444}"
    "table{border-collapse:collapse;font-size:.9em;display:block;overflow-x:auto}"
    "td,th{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}"
    "td:first-child,th:first-child{text-align:left}"
    "li.offline-device{color:#b3261e}figure{margin:0}";

/* local (+07:00) clock time of unix seconds */
static void local(char *buf, size_t len, int64_t t, const char *fmt)
{
    time_t lt = (time_t)(t + NTM_TZ_OFFSET_S);
    struct tm tm;
    gmtime_r(&lt, &tm);
    strftime(buf, len, fmt, &tm);
}

static void put_time(struct web_buf *b, const struct web_view *v, int64_t t)
{
    char when[40];
    local(when, sizeof when, t, "%d/%m/%Y %H:%M");
    wb_printf(b, "<time datetime=\"%" PRId64 "\">%s</time>", t, when);
    int64_t ago = v->now_ms / 1000 - t;
    if (ago < 0)
        return;
    if (ago < 120)
        wb_printf(b, " (%" PRId64 " %s)", ago, _("seconds ago"));
    else if (ago < 7200)
        wb_printf(b, " (%" PRId64 " %s)", ago / 60, _("minutes ago"));
    else if (ago < 2 * DAY)
        wb_printf(b, " (%" PRId64 " %s)", ago / 3600, _("hours ago"));
    else
        wb_printf(b, " (%" PRId64 " %s)", ago / DAY, _("days ago"));
}

static const char *kind_label(const struct web_view *v, const char *kind)
{
    if (strcmp(kind, "speaker") == 0)
        return _("Loudspeakers");
    if (strcmp(kind, "camera") == 0)
        return _("Cameras");
    if (strcmp(kind, "wifi") == 0)
        return _("Wi-Fi");
    return kind;
}

static const char *village_name(const struct web_view *v, const char *id)
{
    int i = ntm_config_village(v->cfg, id);
    return i >= 0 ? v->cfg->villages[i].name : id;
}

/* ---- connection ---- */

static void connection(struct web_buf *b, const struct web_view *v)
{
    const struct web_live *l = v->live;
    wb_printf(b, "<section id=\"connection\"><h2>%s</h2><ul class=\"status\">", _("Connection"));
    if (!l->found || l->stale) {
        wb_printf(b, "<li class=\"bad\" id=\"daemon-down\">%s</li>",
                  _("The gateway program is not running: what follows is what it last "
                    "stored."));
    }
    bool up = l->found && !l->stale && strcmp(l->broker_state, "connected") == 0;
    wb_printf(b, "<li class=\"%s\" id=\"broker\">%s: <b>%s</b>", up ? "ok" : "bad",
              _("Device broker (MQTT)"), up ? _("connected") : _("not connected"));
    if (l->found && l->broker_since_ms > 0) {
        wb_printf(b, ", %s ", _("since"));
        put_time(b, v, l->broker_since_ms / 1000);
    }
    if (!up && l->broker_error[0]) {
        wb_put(b, ": ");
        wb_html(b, l->broker_error);
    }
    wb_put(b, "</li>");
    for (size_t i = 0; i < v->cfg->n_uplinks; i++) {
        char name[80];
        web_uplink_name(v->cfg, i, name, sizeof name);
        struct web_uplink_db u = {0};
        if (v->db)
            web_db_uplink(v->db, name, &u);
        const struct web_live_uplink *lu = NULL;
        for (int j = 0; l->found && j < l->n_uplinks; j++)
            if (strcmp(l->uplinks[j].name, name) == 0)
                lu = &l->uplinks[j];
        bool failing = (lu && strcmp(lu->state, "failing") == 0) || u.quarantined > 0;
        wb_printf(b, "<li class=\"%s uplink\" data-uplink=\"", failing ? "bad" : "ok");
        wb_html(b, name);
        wb_printf(b, "\">%s <b>", _("Uplink"));
        wb_html(b, name);
        wb_put(b, "</b>: ");
        if (lu)
            wb_printf(b, "%s; ",
                      strcmp(lu->state, "failing") == 0 ? _("failing")
                      : strcmp(lu->state, "ok") == 0    ? _("working")
                                                        : _("idle"));
        wb_printf(b, "%s: ", _("last successful delivery"));
        if (u.last_done_ms > 0)
            put_time(b, v, u.last_done_ms / 1000);
        else
            wb_put(b, _("never"));
        wb_printf(b, "; %s: <b>%" PRId64 "</b>; %s: <b>%" PRId64 "</b>", _("batches waiting"),
                  u.pending, _("quarantined"), u.quarantined);
        if (lu && strcmp(lu->state, "failing") == 0 && lu->last_error[0]) {
            wb_printf(b, "<br><span class=\"muted\">%s: ", _("last error"));
            wb_html(b, lu->last_error);
            wb_put(b, "</span>");
        }
        wb_put(b, "</li>");
    }
    if (v->cfg->n_uplinks == 0)
        wb_printf(b, "<li class=\"warn\">%s</li>",
                  _("No uplink is configured: data is only kept here."));
    if (v->db) {
        wb_printf(b, "<li>%s: <b>%" PRId64 "</b>; %s: <b>%" PRId64 "</b>; %s: <b>%" PRId64 "</b>",
                  _("messages accepted"), web_db_counter(v->db, "accepted"),
                  _("kept in the buffer"), web_db_counter(v->db, "buffered"),
                  _("dropped by the size cap"), web_db_counter(v->db, "dropped"));
        if (l->found && !l->stale)
            wb_printf(b, "; %s: <b>%.1f</b>/s", _("now"), l->rate_per_s);
        wb_put(b, "</li>");
    } else {
        wb_printf(b, "<li class=\"bad\">%s: ", _("The buffer cannot be read"));
        wb_html(b, v->db_error ? v->db_error : "");
        wb_put(b, "</li>");
    }
    wb_put(b, "</ul></section>");
}

/* ---- villages ---- */

struct dev_list {
    struct dev {
        char id[65], village[33], kind[16];
        int online;
        bool declared;
        int64_t last_seen;
    } * d;
    size_t n, cap;
};

static void collect_dev(void *arg, const struct web_device_row *r)
{
    struct dev_list *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct dev *d = realloc(l->d, cap * sizeof *d);
        if (!d)
            return;
        l->d = d;
        l->cap = cap;
    }
    struct dev *d = &l->d[l->n++];
    snprintf(d->id, sizeof d->id, "%s", r->id);
    snprintf(d->village, sizeof d->village, "%s", r->village);
    snprintf(d->kind, sizeof d->kind, "%s", r->kind);
    d->online = r->online;
    d->declared = r->declared;
    d->last_seen = r->last_seen;
}

/* the indicators charted per kind: name, label, unit, daily only */
struct ind {
    const char *name, *label, *unit;
};
static const struct ind speaker_inds[] = {{"broadcasts", N_("Broadcasts"), ""},
                                          {"broadcast_minutes", N_("Broadcast minutes"), "min"}};
static const struct ind camera_inds[] = {{"motion_events", N_("Motion events"), ""},
                                         {"tamper_events", N_("Tamper events"), ""}};
static const struct ind wifi_inds[] = {{"unique_clients", N_("Wi-Fi users"), ""},
                                       {"traffic_mb", N_("Traffic"), "MB"}};

static void charts(struct web_buf *b, const struct web_view *v, const char *village,
                   const char *kind)
{
    int64_t now = v->now_ms / 1000;
    int64_t today = (now + NTM_TZ_OFFSET_S) / DAY * DAY - NTM_TZ_OFFSET_S;
    int64_t week = today - 7 * DAY;
    const struct ind *inds = strcmp(kind, "speaker") == 0  ? speaker_inds
                             : strcmp(kind, "camera") == 0 ? camera_inds
                                                           : wifi_inds;
    char hour_lab[24][8], day_lab[7][8], title[200];
    const char *hl[24], *dl[7];
    for (int i = 0; i < 24; i++) {
        snprintf(hour_lab[i], sizeof hour_lab[i], "%dh", i);
        hl[i] = hour_lab[i];
    }
    for (int i = 0; i < 7; i++) {
        local(day_lab[i], sizeof day_lab[i], week + i * DAY, "%d/%m");
        dl[i] = day_lab[i];
    }
    double hours[24], days[3][7];
    web_db_series(v->db, "hour", today, 3600, 24, village, kind, "uptime_pct", hours);
    web_db_series(v->db, "day", week, DAY, 7, village, kind, "uptime_pct", days[0]);
    web_db_series(v->db, "day", week, DAY, 7, village, kind, inds[0].name, days[1]);
    web_db_series(v->db, "day", week, DAY, 7, village, kind, inds[1].name, days[2]);

    wb_printf(b, "<div class=\"charts\" data-kind=\"%s\">", kind);
    snprintf(title, sizeof title, "%s: %s (%%), %s", kind_label(v, kind), _("uptime"),
             _("today by hour"));
    wb_put(b, "<figure><h4>");
    wb_html(b, title);
    wb_put(b, "</h4>");
    svg_bars(b, title, hours, 24, hl, 3, 100, "%");
    wb_put(b, "</figure>");
    const char *labels[3] = {_("uptime"), _(inds[0].label), _(inds[1].label)};
    const char *units[3] = {"%", inds[0].unit, inds[1].unit};
    for (int k = 0; k < 3; k++) {
        snprintf(title, sizeof title, "%s: %s%s%s%s, %s", kind_label(v, kind), labels[k],
                 units[k][0] ? " (" : "", units[k], units[k][0] ? ")" : "", _("last 7 days"));
        wb_put(b, "<figure><h4>");
        wb_html(b, title);
        wb_put(b, "</h4>");
        svg_bars(b, title, days[k], 7, dl, 1, k == 0 ? 100 : 0, units[k]);
        wb_put(b, "</figure>");
    }
    wb_put(b, "</div>");
    /* the numbers, readable without hovering */
    wb_printf(b, "<details><summary>%s</summary><table><tr><th>%s</th>", _("Numbers"), _("Day"));
    for (int k = 0; k < 3; k++) {
        wb_put(b, "<th>");
        wb_html(b, labels[k]);
        if (units[k][0])
            wb_printf(b, " (%s)", units[k]);
        wb_put(b, "</th>");
    }
    wb_put(b, "</tr>");
    for (int i = 0; i < 7; i++) {
        wb_printf(b, "<tr><td>%s</td>", dl[i]);
        for (int k = 0; k < 3; k++) {
            char num[32];
            web_fmt_num(num, sizeof num, days[k][i]);
            wb_printf(b, "<td>%s</td>", num);
        }
        wb_put(b, "</tr>");
    }
    wb_put(b, "</table></details>");
}

static void villages(struct web_buf *b, const struct web_view *v)
{
    wb_printf(b, "<section id=\"villages\"><h2>%s</h2>", _("Villages"));
    struct dev_list l = {0};
    if (v->db)
        web_db_devices(v->db, collect_dev, &l);
    for (size_t vi = 0; vi < v->cfg->n_villages; vi++) {
        const struct ntm_village *vil = &v->cfg->villages[vi];
        wb_put(b, "<article class=\"village\" id=\"village-");
        wb_html(b, vil->id);
        wb_put(b, "\"><h3>");
        wb_html(b, vil->name);
        wb_put(b, "</h3><p class=\"kinds\">");
        int total[N_KINDS] = {0}, online[N_KINDS] = {0};
        for (size_t i = 0; i < l.n; i++)
            for (int k = 0; k < N_KINDS; k++)
                if (strcmp(l.d[i].village, vil->id) == 0 && strcmp(l.d[i].kind, kinds[k]) == 0) {
                    total[k]++;
                    online[k] += l.d[i].online == 1;
                }
        bool first = true;
        for (int k = 0; k < N_KINDS; k++) {
            if (total[k] == 0)
                continue;
            wb_printf(b, "%s<span class=\"%s\">%s: <b>%d/%d</b></span>", first ? "" : " · ",
                      online[k] == total[k] ? "ok" : "bad", kind_label(v, kinds[k]), online[k],
                      total[k]);
            first = false;
        }
        wb_printf(b, "%s%s</p>", first ? "" : " ", first ? _("No device.") : _("online now"));
        wb_put(b, "<ul class=\"offline\">");
        for (size_t i = 0; i < l.n; i++) {
            const struct dev *d = &l.d[i];
            if (strcmp(d->village, vil->id) != 0 || d->online == 1)
                continue;
            wb_put(b, "<li class=\"offline-device\" data-device=\"");
            wb_html(b, d->id);
            wb_printf(b, "\">%s <b>", kind_label(v, d->kind));
            wb_html(b, d->id);
            wb_put(b, "</b>: ");
            if (d->last_seen == 0) {
                wb_put(b, _("never reported"));
            } else {
                wb_printf(b, "%s ", _("offline since"));
                put_time(b, v, d->last_seen);
            }
            wb_put(b, "</li>");
        }
        wb_put(b, "</ul>");
        for (int k = 0; v->db && k < N_KINDS; k++)
            if (total[k] > 0)
                charts(b, v, vil->id, kinds[k]);
        wb_put(b, "</article>");
    }
    free(l.d);
    wb_put(b, "</section>");
}

/* ---- alerts and rejections ---- */

struct row_ctx {
    struct web_buf *b;
    const struct web_view *v;
    int n;
};

static const char *alert_label(const struct web_view *v, const char *type)
{
    static const char *const types[][2] = {
        {"tamper", N_("camera tampered with")},
        {"video_loss", N_("video lost")},
        {"storage_error", N_("storage error")},
        {"fault", N_("device fault")},
        {"emergency_not_played", N_("emergency broadcast not played")},
        {"offline", N_("went offline")},
        {"online", N_("back online")}};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(types[i][0], type) == 0)
            return _(types[i][1]);
    return type;
}

static void alert_row(void *arg, const struct web_alert_row *r)
{
    struct row_ctx *c = arg;
    const struct web_view *v = c->v;
    struct web_buf *b = c->b;
    char when[40];
    local(when, sizeof when, r->ts, "%d/%m %H:%M");
    wb_printf(b, "<tr class=\"alert-%s\"><td>%s</td><td>", r->type, when);
    wb_html(b, village_name(v, r->village));
    wb_printf(b, "</td><td>%s ", kind_label(v, r->kind));
    wb_html(b, r->device);
    wb_put(b, "</td><td>");
    wb_html(b, alert_label(v, r->type));
    if (r->detail[0]) {
        wb_put(b, " (");
        wb_html(b, r->detail);
        wb_put(b, ")");
    }
    wb_put(b, "</td></tr>");
    c->n++;
}

static void alerts(struct web_buf *b, const struct web_view *v)
{
    wb_printf(b,
              "<section id=\"alerts\"><h2>%s</h2><table><tr><th>%s</th><th>%s</th><th>%s</th>"
              "<th>%s</th></tr>",
              _("Alerts of the last 7 days"), _("Time"), _("Village"), _("Device"), _("Alert"));
    struct row_ctx c = {b, v, 0};
    if (v->db)
        web_db_alerts(v->db, v->now_ms / 1000 - 7 * DAY, 200, alert_row, &c);
    wb_put(b, "</table>");
    if (c.n == 0)
        wb_printf(b, "<p class=\"muted\">%s</p>", _("No alert."));
    wb_put(b, "</section>");
}

static const char *reason_label(const struct web_view *v, const char *reason)
{
    static const char *const reasons[][2] = {
        {"bad_topic", N_("malformed topic")},
        {"unknown_village", N_("unknown village")},
        {"bad_channel", N_("unknown channel")},
        {"too_large", N_("too large")},
        {"not_json", N_("not JSON")},
        {"not_object", N_("not a JSON object")},
        {"missing_field", N_("a field is missing")},
        {"wrong_type", N_("a field has the wrong type")},
        {"bad_value", N_("a value out of range")},
        {"device_conflict", N_("device id used under another kind")}};
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (strcmp(reasons[i][0], reason) == 0)
            return _(reasons[i][1]);
    return reason;
}

static void reason_row(void *arg, const char *reason, int64_t n)
{
    struct row_ctx *c = arg;
    wb_put(c->b, "<tr><td>");
    wb_html(c->b, reason_label(c->v, reason));
    wb_printf(c->b, " <span class=\"muted\">(%s)</span></td><td>%" PRId64 "</td></tr>", reason, n);
    c->n++;
}

static void example_row(void *arg, const struct web_rejected_row *r)
{
    struct row_ctx *c = arg;
    char when[40];
    local(when, sizeof when, r->recv_ms / 1000, "%d/%m %H:%M:%S");
    wb_printf(c->b, "<tr><td>%s</td><td>", when);
    wb_html(c->b, reason_label(c->v, r->reason));
    wb_put(c->b, "</td><td><code>");
    wb_html(c->b, r->topic);
    wb_put(c->b, "</code></td><td>");
    wb_html(c->b, r->detail);
    wb_put(c->b, "</td></tr>");
}

static void rejections(struct web_buf *b, const struct web_view *v)
{
    wb_printf(b, "<section id=\"rejected\"><h2>%s</h2><table><tr><th>%s</th><th>%s</th></tr>",
              _("Rejected messages"), _("Reason"), _("Count"));
    struct row_ctx c = {b, v, 0};
    if (v->db)
        web_db_rejected(v->db, reason_row, &c);
    wb_put(b, "</table>");
    if (c.n == 0) {
        wb_printf(b, "<p class=\"muted\">%s</p></section>", _("No message was rejected."));
        return;
    }
    wb_printf(b, "<h4>%s</h4><table><tr><th>%s</th><th>%s</th><th>%s</th><th>%s</th></tr>",
              _("Latest examples (never their content)"), _("Time"), _("Reason"), _("Topic"),
              _("Detail"));
    if (v->db)
        web_db_quarantine(v->db, 10, example_row, &c);
    wb_put(b, "</table></section>");
}

int web_page(struct web_buf *b, const struct web_view *v)
{
    const char *commune = v->cfg->commune_name && v->cfg->commune_name[0] ? v->cfg->commune_name
                                                                          : v->cfg->commune_code;
    wb_printf(b,
              "<!DOCTYPE html><html lang=\"%s\"><head><meta charset=\"utf-8\">"
              "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
              "<meta http-equiv=\"refresh\" content=\"%d\"><title>",
              v->lang == NTM_LANG_EN ? "en" : "vi", v->refresh_s);
    wb_printf(b, "%s ", _("Gateway of commune"));
    wb_html(b, commune);
    wb_printf(b, "</title><style>%s</style></head><body><header><h1>%s ", style,
              _("Gateway of commune"));
    wb_html(b, commune);
    wb_put(b, "</h1><nav><a href=\"?lang=vi\" hreflang=\"vi\">Tiếng Việt</a>"
              "<a href=\"?lang=en\" hreflang=\"en\">English</a></nav><p class=\"muted\">");
    char when[40];
    local(when, sizeof when, v->now_ms / 1000, "%d/%m/%Y %H:%M:%S");
    wb_printf(b, "%s %s (+07:00); %s %d s. %s ", _("Updated"), when, _("refreshes every"),
              v->refresh_s, _("Gateway"));
    wb_html(b, v->cfg->gateway_id);
    wb_put(b, "</p></header>");
    connection(b, v);
    villages(b, v);
    alerts(b, v);
    rejections(b, v);
    wb_printf(b,
              "<footer class=\"muted\"><p>ntm-gateway %s · <a href=\"metrics\">/metrics</a>"
              "</p></footer></body></html>\n",
              NTM_VERSION);
    return b->oom ? -1 : 0;
}
