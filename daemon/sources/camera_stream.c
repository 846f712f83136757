/* SPDX-License-Identifier: GPL-3.0-or-later */
/* camera_stream.c: one camera event stream's life on the loop: connect (the
 * password file read again each time), read parts, turn them into
 * device-contract messages for the devices on it, watch for silence, and
 * reconnect with capped exponential backoff and full jitter. Logs each change
 * of state once. Owns its connection, its timer and its part buffer. */
#include "camera_stream.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "dahua.h"
#include "hikvision.h"
#include "password_file.h"

#define BAD_PART_LOG_MS (10 * 60 * 1000) /* malformed or oversized parts: one line per 10 min */
#define MSGS_PER_PART 8

static int64_t now_ms(void)
{
    return ntm_clock_mono_ms();
}

static int64_t silence_ms(const struct cam_stream *s)
{
    return (int64_t)s->keepalive_s * 1500; /* the keep-alive period and half again: network delay */
}

/* ---- logging ---------------------------------------------------------------------------- */

/* DEVICE= and VILLAGE= of (up to five of) the stream's devices, SOURCE=, REASON=. */
static void log_state(struct cam_stream *s, int level, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void log_state(struct cam_stream *s, int level, const char *reason, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char devices[200] = "";
    size_t dl = 0;
    for (size_t i = 0; i < s->n_devs && dl < sizeof devices; i++) {
        if (i == 4 && s->n_devs > 5) {
            snprintf(devices + dl, sizeof devices - dl, " and %zu more", s->n_devs - 4);
            break;
        }
        dl += (size_t)snprintf(devices + dl, sizeof devices - dl, "%s%s", i ? ", " : "",
                               s->devs[i].device);
    }
    struct ntm_log_field f[12];
    size_t n = 0;
    f[n++] =
        (struct ntm_log_field){"SOURCE", s->api == NTM_CAMERA_HIKVISION ? "hikvision" : "dahua"};
    f[n++] = (struct ntm_log_field){"REASON", reason};
    for (size_t i = 0; i < s->n_devs && n + 2 <= 12; i++) {
        f[n++] = (struct ntm_log_field){"DEVICE", s->devs[i].device};
        f[n++] = (struct ntm_log_field){"VILLAGE", s->devs[i].village};
    }
    ntm_log_emit(s->c->log, level, NULL, f, n, "camera stream %s (%s): %s", s->name, devices, msg);
}

/* ---- messages --------------------------------------------------------------------------- */

static void emit(struct cam_stream *s, struct cam_dev *d, enum ntm_channel ch, const char *json)
{
    s->c->emit(s->c->emit_arg, d->device, ch, json, strlen(json), NTM_SOURCE_RECV_TIME);
}

/* A sign of life of the stream: every device on it is heard from, as heartbeats
 * with interval_s = keepalive_s, at most one per device per half period. */
static void alive(struct cam_stream *s, bool force)
{
    int64_t now = now_ms();
    s->last_life_ms = now;
    s->last_wall_ms = ntm_clock_wall_ms(s->c->clock);
    char hb[48];
    snprintf(hb, sizeof hb, "{\"interval_s\":%d}", s->keepalive_s);
    for (size_t i = 0; i < s->n_devs; i++) {
        struct cam_dev *d = &s->devs[i];
        if (force || d->last_hb_ms == 0 || now - d->last_hb_ms >= (int64_t)s->keepalive_s * 500) {
            d->last_hb_ms = now;
            emit(s, d, NTM_CH_HEARTBEAT, hb);
        }
    }
}

static void event_start(struct cam_stream *s, struct cam_dev *d, enum ntm_event ev)
{
    int64_t now = now_ms();
    if (s->api == NTM_CAMERA_HIKVISION) {
        /* Hikvision repeats "active" while an event lasts (activePostCount
         * 1, 2, ...) and does not always say "inactive": one event until an
         * inactive, or a pause longer than hold_ms */
        bool repeat = d->on[ev] && now - d->active_ms[ev] < s->c->t.hold_ms;
        d->on[ev] = true;
        d->active_ms[ev] = now;
        if (repeat)
            return;
    }
    char json[64];
    snprintf(json, sizeof json, "{\"type\":\"%s\"}", ntm_event_name(ev));
    d->events++;
    emit(s, d, NTM_CH_EVENT, json);
}

static void handle(struct cam_stream *s, const struct ntm_cam_msg *m)
{
    switch (m->kind) {
    case NTM_CAM_KEEPALIVE:
        s->keepalives++;
        return;
    case NTM_CAM_IGNORED:
        s->ignored++;
        return;
    case NTM_CAM_START:
    case NTM_CAM_END:
        break;
    }
    bool any = false;
    for (size_t i = 0; i < s->n_devs; i++) {
        struct cam_dev *d = &s->devs[i];
        /* a storage fault is the recorder's: every channel on it is affected */
        if (m->event != NTM_EV_STORAGE_ERROR && d->channel != m->channel)
            continue;
        any = true;
        if (m->kind == NTM_CAM_START)
            event_start(s, d, m->event);
        else if (m->event < NTM_EV_COUNT)
            d->on[m->event] = false;
    }
    if (!any)
        s->unmapped++; /* a channel no inventory device is on */
}

static void complain(struct cam_stream *s, const char *what)
{
    uint64_t more = 0;
    if (!ntm_complain(&s->bad_parts, BAD_PART_LOG_MS, &more))
        return;
    log_state(s, LOG_WARNING, "bad_part", "%s; passed over (%llu more since the last report)", what,
              (unsigned long long)more);
}

static int on_part(void *arg, const struct ntm_multipart_part *p)
{
    struct cam_stream *s = arg;
    struct ntm_cam_msg m[MSGS_PER_PART];
    char why[160];
    ntm_cam_parse_fn parse = s->api == NTM_CAMERA_HIKVISION ? ntm_hik_parse : ntm_dahua_parse;
    size_t n = parse(p->body, p->len, m, MSGS_PER_PART, why, sizeof why);
    if (n == 0) {
        s->malformed++;
        char what[220];
        snprintf(what, sizeof what, "a part could not be read: %s", why);
        complain(s, what);
        return 0;
    }
    if (!s->spoke) {
        s->spoke = true;
        s->attempts = 0;
    }
    if (!s->up) {
        s->up = true;
        s->last_error[0] = '\0';
        s->since_ms = ntm_clock_wall_ms(s->c->clock);
        if (s->logged != F_UP)
            log_state(s, LOG_NOTICE, "connected", "connected, events are read");
        s->logged = F_UP;
    }
    alive(s, false);
    for (size_t i = 0; i < n; i++)
        handle(s, &m[i]);
    return 0;
}

/* ---- connection ------------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

static void close_connection(struct cam_stream *s)
{
    ntm_http_stream_close(s->hs); /* no `end` callback after this */
    s->hs = NULL;
    if (s->mp_live) {
        ntm_multipart_finish(&s->mp);
        s->oversized_done += s->mp.st.oversized;
        ntm_multipart_free(&s->mp);
        s->mp_live = false;
    }
}

/* The stream failed: record and log the change (once), then wait and retry. */
static void failed(struct cam_stream *s, enum cam_fail kind, long detail, const char *what)
{
    close_connection(s);
    bool refused = kind == F_REFUSED;
    snprintf(s->last_error, sizeof s->last_error, "%s", what);
    bool changed = s->logged != kind || s->logged_detail != detail;
    if (s->up || changed)
        s->since_ms = ntm_clock_wall_ms(s->c->clock);
    s->up = false;
    s->attempts++;
    int64_t wait =
        refused ? s->c->t.refused_retry_ms
                : ntm_backoff_ms(s->c->t.backoff_min_ms, s->c->t.backoff_max_ms, s->attempts);
    if (changed) {
        static const char *const reasons[] = {"",      "connected", "password_file",
                                              "start", "transport", "refused",
                                              "http",  "closed",    "silent"};
        if (refused)
            log_state(s, LOG_ERR, reasons[kind],
                      "%s; retrying every %lld s (check the account and its password_file)", what,
                      (long long)(wait / 1000));
        else
            log_state(s, LOG_WARNING, reasons[kind],
                      "%s; reconnecting with backoff (at most %lld s apart); logged again only "
                      "when this changes",
                      what, (long long)(s->c->t.backoff_max_ms / 1000));
        s->logged = kind;
        s->logged_detail = detail;
    }
    s->phase = PH_WAIT;
    uv_timer_start(&s->timer, on_timer, (uint64_t)wait, 0);
}

static int on_head(void *arg, long status, const char *content_type)
{
    struct cam_stream *s = arg;
    if (status != 200)
        return 1; /* `end` says what it was */
    s->phase = PH_OPEN;
    s->spoke = false;
    s->connects++;
    ntm_multipart_init(&s->mp, content_type, s->c->t.max_part, on_part, s);
    s->mp_live = true;
    alive(s, true); /* an open stream is a sign of life */
    uv_timer_start(&s->timer, on_timer, (uint64_t)silence_ms(s), 0);
    return 0;
}

static int on_data(void *arg, const char *data, size_t len)
{
    struct cam_stream *s = arg;
    if (!s->mp_live)
        return 1;
    uint64_t over = s->mp.st.oversized;
    ntm_multipart_feed(&s->mp, data, len);
    if (s->mp.st.oversized != over) {
        char what[120];
        snprintf(what, sizeof what, "a part larger than %zu bytes", s->c->t.max_part);
        complain(s, what);
    }
    return 0;
}

static void on_end(void *arg, long status, const char *error, bool aborted)
{
    (void)aborted;
    struct cam_stream *s = arg;
    s->hs = NULL; /* freed by http_stream.c after this call */
    char what[300];
    if (status == 200 && error == NULL) {
        failed(s, F_CLOSED, 0, "the camera ended the stream");
    } else if (status == 200) {
        snprintf(what, sizeof what, "the stream broke: %s", error);
        failed(s, F_CLOSED, 1, what);
    } else if (status == 401 || status == 403) {
        snprintf(what, sizeof what, "credentials refused (HTTP %ld)", status);
        failed(s, F_REFUSED, status, what);
    } else if (status != 0) {
        if (status == 404 && s->api == NTM_CAMERA_HIKVISION)
            s->alt_path = !s->alt_path; /* firmware before ISAPI has the old path */
        snprintf(what, sizeof what, "the camera answered HTTP %ld", status);
        failed(s, F_HTTP, status, what);
    } else {
        snprintf(what, sizeof what, "cannot connect: %s", error ? error : "no answer");
        /* the reason's first words tell one failure from another */
        unsigned long detail = 0;
        for (const char *p = error; p && *p && *p != ':'; p++)
            detail = detail * 31u + (unsigned char)*p;
        failed(s, F_TRANSPORT, (long)(detail >> 1), what);
    }
}

static void build_url(const struct cam_stream *s, char *url, size_t len)
{
    bool v6 = strchr(s->host, ':') != NULL;
    int n = snprintf(url, len, "%s://%s%s%s:%d", s->https ? "https" : "http", v6 ? "[" : "",
                     s->host, v6 ? "]" : "", s->port);
    if (n < 0 || (size_t)n >= len)
        return;
    if (s->api == NTM_CAMERA_HIKVISION)
        snprintf(url + n, len - (size_t)n, "%s", s->alt_path ? NTM_HIK_PATH_OLD : NTM_HIK_PATH);
    else
        snprintf(url + n, len - (size_t)n, "%s%d", NTM_DAHUA_PATH, s->keepalive_s);
}

void ntm_cam_stream_start(struct cam_stream *s)
{
    char password[NTM_PASSWORD_MAX], err[400];
    if (ntm_password_file_read(s->password_file, s->user, password, sizeof password, err,
                               sizeof err) != 0) {
        failed(s, F_PASSWORD, 0, err);
        return;
    }
    char url[512];
    build_url(s, url, sizeof url);
    struct ntm_http_stream_opts o = {
        .url = url,
        .user = s->user,
        .password = password,
        .ca_file = s->ca_file,
        .idle_timeout_s = (long)(silence_ms(s) / 1000) + 1,
    };
    struct ntm_http_stream_cb cb = {.head = on_head, .data = on_data, .end = on_end};
    s->phase = PH_OPENING;
    int rc = ntm_http_stream_open(s->c->http, &o, &cb, s, &s->hs);
    explicit_bzero(password, sizeof password);
    if (rc != 0)
        failed(s, F_START, 0, "the HTTP request could not be started");
}

static void on_timer(uv_timer_t *t)
{
    struct cam_stream *s = t->data;
    if (s->phase == PH_WAIT) {
        ntm_cam_stream_start(s);
        return;
    }
    if (s->phase != PH_OPEN)
        return;
    int64_t quiet = now_ms() - s->last_life_ms;
    if (quiet < silence_ms(s)) {
        uv_timer_start(&s->timer, on_timer, (uint64_t)(silence_ms(s) - quiet), 0);
        return;
    }
    char what[120];
    snprintf(what, sizeof what, "nothing readable for %lld s (keep-alive expected every %d s)",
             (long long)(quiet / 1000), s->keepalive_s);
    failed(s, F_SILENT, 0, what);
}

void ntm_cam_stream_free(struct cam_stream *s)
{
    free(s->host);
    free(s->user);
    free(s->password_file);
    free(s->ca_file);
    free(s->devs);
    free(s);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct cam_stream *s = h->data;
    struct ntm_cameras *c = s->c;
    ntm_cam_stream_free(s);
    c->open_handles--;
    if (c->freeing && c->open_handles == 0)
        free(c);
}

void ntm_cam_stream_close(struct cam_stream *s)
{
    close_connection(s);
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

void ntm_cam_stream_retire(struct cam_stream *s)
{
    log_state(s, LOG_NOTICE, "removed",
              "closed: the configuration no longer has this stream (SIGHUP)");
    ntm_cam_stream_close(s);
}
