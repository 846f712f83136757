/* SPDX-License-Identifier: GPL-3.0-or-later */
/* camera.c: the camera source's list of streams: checks a configuration,
 * groups devices into one stream per (host, port, user), keeps the streams
 * whose settings did not change across a reload, and answers state queries.
 * The connections themselves are camera_stream.c's. */
#include "camera_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

static const struct ntm_camera_tuning defaults = {
    .backoff_min_ms = 1000,
    .backoff_max_ms = 300000,
    .refused_retry_ms = 300000,
    .hold_ms = 10000,
    .max_part = 16384,
};

int ntm_cameras_new(struct ntm_cameras **out, uv_loop_t *loop, struct ntm_http *http,
                    struct ntm_log *log, struct ntm_clock *clock,
                    const struct ntm_camera_tuning *tuning, ntm_source_emit_fn emit, void *emit_arg)
{
    *out = NULL;
    if (loop == NULL || http == NULL || log == NULL || clock == NULL || emit == NULL)
        return -1;
    struct ntm_cameras *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->loop = loop;
    c->http = http;
    c->log = log;
    c->clock = clock;
    c->emit = emit;
    c->emit_arg = emit_arg;
    c->t = defaults;
    if (tuning) {
        if (tuning->backoff_min_ms > 0)
            c->t.backoff_min_ms = tuning->backoff_min_ms;
        if (tuning->backoff_max_ms > 0)
            c->t.backoff_max_ms = tuning->backoff_max_ms;
        if (tuning->refused_retry_ms > 0)
            c->t.refused_retry_ms = tuning->refused_retry_ms;
        if (tuning->hold_ms > 0)
            c->t.hold_ms = tuning->hold_ms;
        if (tuning->max_part > 0)
            c->t.max_part = tuning->max_part;
    }
    if (c->t.backoff_max_ms < c->t.backoff_min_ms)
        c->t.backoff_max_ms = c->t.backoff_min_ms;
    *out = c;
    return 0;
}

static bool str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* A host for a URL: a name or an address, nothing that could change the URL. */
static bool valid_host(const char *h)
{
    size_t n = h ? strlen(h) : 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = h[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '-' || ch == ':' || ch == '%' || ch == '_'))
            return false;
    }
    return true;
}

static bool valid_user(const char *u)
{
    size_t n = u ? strlen(u) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] < 0x20 || u[i] == 0x7f || u[i] == ':')
            return false;
    return true;
}

/* A device's settings with the defaults applied. */
struct norm {
    const struct ntm_camera_device *d;
    int port, channel, keepalive_s;
    int group; /* index of the first device of its stream */
};

static bool same_stream_key(const struct norm *a, const struct norm *b)
{
    return strcmp(a->d->host, b->d->host) == 0 && a->port == b->port &&
           strcmp(a->d->user, b->d->user) == 0;
}

static int check(const struct ntm_camera_device *devs, size_t n, struct norm *nm, char *err,
                 size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct ntm_camera_device *d = &devs[i];
        const char *id = d->device ? d->device : "(none)";
        nm[i] = (struct norm){.d = d, .group = (int)i};
        nm[i].port = d->port ? d->port : (d->https ? 443 : 80);
        nm[i].channel = d->channel ? d->channel : 1;
        nm[i].keepalive_s = d->keepalive_s ? d->keepalive_s : 30;
        if (d->device == NULL || !ntm_valid_device_id(d->device, strlen(d->device)) ||
            d->village == NULL || !ntm_valid_village_id(d->village, strlen(d->village))) {
            snprintf(err, errlen, "camera %s: a malformed device or village id", id);
            return -1;
        }
        if (d->api != NTM_CAMERA_HIKVISION && d->api != NTM_CAMERA_DAHUA) {
            snprintf(err, errlen, "camera %s: unknown events api", id);
            return -1;
        }
        if (!valid_host(d->host)) {
            snprintf(err, errlen, "camera %s: events host is missing or not a host name or address",
                     id);
            return -1;
        }
        if (!valid_user(d->user) || d->password_file == NULL || d->password_file[0] == '\0') {
            snprintf(err, errlen,
                     "camera %s: events needs a user (no ':' or control characters) and a "
                     "password_file",
                     id);
            return -1;
        }
        if (nm[i].port < 1 || nm[i].port > 65535 || nm[i].channel < 1 || nm[i].channel > 4096 ||
            nm[i].keepalive_s < 1 || nm[i].keepalive_s > 3600) {
            snprintf(err, errlen,
                     "camera %s: events port (1 to 65535), channel (1 to 4096) or keepalive_s (1 "
                     "to 3600) out of range",
                     id);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            const struct ntm_camera_device *o = devs[j].device ? &devs[j] : NULL;
            if (o && strcmp(o->device, d->device) == 0) {
                snprintf(err, errlen, "camera %s is listed twice", id);
                return -1;
            }
            if (!same_stream_key(&nm[j], &nm[i]))
                continue;
            nm[i].group = nm[j].group;
            if (o->api != d->api || o->https != d->https || !str_eq(o->ca_file, d->ca_file) ||
                strcmp(o->password_file, d->password_file) != 0 ||
                nm[j].keepalive_s != nm[i].keepalive_s) {
                snprintf(err, errlen,
                         "cameras %s and %s share one event stream (same host, port and user) "
                         "but not its api, https, ca_file, password_file or keepalive_s",
                         o->device, id);
                return -1;
            }
            if (nm[j].channel == nm[i].channel) {
                snprintf(err, errlen, "cameras %s and %s are both on channel %d of %s", o->device,
                         id, nm[i].channel, d->host);
                return -1;
            }
        }
    }
    return 0;
}

/* Does stream s have exactly the settings of the group led by nm[g]? */
static bool stream_matches(const struct cam_stream *s, const struct norm *g)
{
    const struct ntm_camera_device *d = g->d;
    return strcmp(s->host, d->host) == 0 && s->port == g->port && strcmp(s->user, d->user) == 0 &&
           s->api == d->api && s->https == d->https && str_eq(s->ca_file, d->ca_file) &&
           strcmp(s->password_file, d->password_file) == 0 && s->keepalive_s == g->keepalive_s;
}

static char *dup_or_null(const char *s, bool *ok)
{
    if (s == NULL)
        return NULL;
    char *d = strdup(s);
    if (d == NULL)
        *ok = false;
    return d;
}

static struct cam_stream *stream_new(struct ntm_cameras *c, const struct norm *g)
{
    struct cam_stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    bool ok = true;
    s->c = c;
    s->api = g->d->api;
    s->host = dup_or_null(g->d->host, &ok);
    s->user = dup_or_null(g->d->user, &ok);
    s->password_file = dup_or_null(g->d->password_file, &ok);
    s->ca_file = dup_or_null(g->d->ca_file, &ok);
    s->port = g->port;
    s->https = g->d->https;
    s->keepalive_s = g->keepalive_s;
    s->phase = PH_WAIT;
    bool v6 = strchr(g->d->host, ':') != NULL;
    snprintf(s->name, sizeof s->name, "%s %s%s%s:%d",
             s->api == NTM_CAMERA_HIKVISION ? "hikvision" : "dahua", v6 ? "[" : "", g->d->host,
             v6 ? "]" : "", s->port);
    if (!ok) {
        ntm_cam_stream_free(s);
        return NULL;
    }
    return s;
}

/* The devices of group g, keeping what `old` knew of those that stay. */
static struct cam_dev *devices_of(const struct norm *nm, size_t n, int g,
                                  const struct cam_stream *old, size_t *count)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += nm[i].group == g;
    struct cam_dev *devs = calloc(k, sizeof *devs);
    if (devs == NULL)
        return NULL;
    k = 0;
    for (size_t i = 0; i < n; i++) {
        if (nm[i].group != g)
            continue;
        struct cam_dev *d = &devs[k++];
        for (size_t j = 0; old && j < old->n_devs; j++)
            if (strcmp(old->devs[j].device, nm[i].d->device) == 0 &&
                old->devs[j].channel == nm[i].channel)
                *d = old->devs[j];
        snprintf(d->device, sizeof d->device, "%s", nm[i].d->device);
        snprintf(d->village, sizeof d->village, "%s", nm[i].d->village);
        d->channel = nm[i].channel;
    }
    *count = k;
    return devs;
}

int ntm_cameras_configure(struct ntm_cameras *c, const struct ntm_camera_device *devs, size_t n,
                          char *err, size_t errlen)
{
    if (c == NULL || c->freeing || (n > 0 && devs == NULL)) {
        snprintf(err, errlen, "no camera source");
        return -1;
    }
    struct norm *nm = calloc(n ? n : 1, sizeof *nm);
    struct cam_stream **plan = calloc(n ? n : 1, sizeof *plan); /* per group leader */
    struct cam_dev **pdevs = calloc(n ? n : 1, sizeof *pdevs);
    size_t *pcount = calloc(n ? n : 1, sizeof *pcount);
    bool *fresh = calloc(n ? n : 1, sizeof *fresh);
    int rc = -1;
    if (!nm || !plan || !pdevs || !pcount || !fresh) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (check(devs, n, nm, err, errlen) != 0)
        goto out;
    /* prepare: every allocation before any change */
    for (size_t i = 0; i < n; i++) {
        if (nm[i].group != (int)i)
            continue;
        struct cam_stream *keep = NULL;
        for (struct cam_stream *s = c->streams; s && !keep; s = s->next) {
            bool taken = false;
            for (size_t j = 0; j < i; j++)
                taken |= plan[j] == s;
            if (!taken && stream_matches(s, &nm[i]))
                keep = s;
        }
        plan[i] = keep ? keep : stream_new(c, &nm[i]);
        fresh[i] = keep == NULL;
        pdevs[i] = devices_of(nm, n, (int)i, keep, &pcount[i]);
        if (plan[i] == NULL || pdevs[i] == NULL) {
            snprintf(err, errlen, "out of memory");
            for (size_t j = 0; j <= i; j++) {
                if (fresh[j] && plan[j])
                    ntm_cam_stream_free(plan[j]);
                free(pdevs[j]);
            }
            goto out;
        }
    }
    /* commit: streams no longer wanted go; kept ones get their new device list */
    struct cam_stream *old = c->streams, *list = NULL, **tail = &list;
    c->streams = NULL;
    while (old) {
        struct cam_stream *next = old->next;
        bool kept = false;
        for (size_t i = 0; i < n && !kept; i++)
            kept = plan[i] == old;
        if (!kept)
            ntm_cam_stream_retire(old);
        old = next;
    }
    for (size_t i = 0; i < n; i++) {
        if (plan[i] == NULL)
            continue;
        struct cam_stream *s = plan[i];
        free(s->devs);
        s->devs = pdevs[i];
        s->n_devs = pcount[i];
        s->next = NULL;
        *tail = s;
        tail = &s->next;
        if (fresh[i]) {
            uv_timer_init(c->loop, &s->timer);
            s->timer.data = s;
            c->open_handles++;
            ntm_cam_stream_start(s);
        }
    }
    c->streams = list;
    rc = 0;
out:
    free(nm);
    free(plan);
    free(pdevs);
    free(pcount);
    free(fresh);
    return rc;
}

int ntm_cameras_state(const struct ntm_cameras *c, const char *device, struct ntm_camera_state *out)
{
    memset(out, 0, sizeof *out);
    for (const struct cam_stream *s = c ? c->streams : NULL; s; s = s->next)
        for (size_t i = 0; i < s->n_devs; i++) {
            if (strcmp(s->devs[i].device, device) != 0)
                continue;
            out->connected = s->up;
            out->since_ms = s->since_ms;
            snprintf(out->last_error, sizeof out->last_error, "%s", s->last_error);
            snprintf(out->stream, sizeof out->stream, "%s", s->name);
            out->events = s->devs[i].events;
            out->keepalives = s->keepalives;
            out->ignored = s->ignored;
            out->malformed = s->malformed;
            out->oversized = s->oversized_done + (s->mp_live ? s->mp.st.oversized : 0);
            out->connects = s->connects;
            return 0;
        }
    return -1;
}

void ntm_cameras_free(struct ntm_cameras *c)
{
    if (c == NULL || c->freeing)
        return;
    c->freeing = true;
    while (c->streams) {
        struct cam_stream *s = c->streams;
        c->streams = s->next;
        ntm_cam_stream_close(s);
    }
    if (c->open_handles == 0)
        free(c);
}
