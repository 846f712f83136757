/* SPDX-License-Identifier: GPL-3.0-or-later */
/* plugin_host.c: the daemon's side of the plugin ABI: dlopen()s each uplink,
 * checks its ABI version, name, kind and options, serves its host API and keeps
 * the send/complete bookkeeping honest. Owns nothing of batches or retries. */
#include "plugin_host.h"

#include <ctype.h>
#include <inttypes.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <uv.h>

#include "record.h"

#ifndef NTM_VERSION
#define NTM_VERSION "0"
#endif
#define USER_AGENT "ntm-gateway/" NTM_VERSION
#define MAX_IN_FLIGHT_CAP 64 /* whatever a plugin asks for */
#define MAX_PLUGIN_OPTIONS 256

enum slot_state { SLOT_FREE, SLOT_SENT, SLOT_DONE };

/* One outstanding send. SLOT_DONE: completed from inside send(), waiting to be
 * passed on from the loop. */
struct slot {
    enum slot_state state;
    uint64_t seq;
    enum ntm_send_result result;
    int64_t retry_after_ms;
    char *reason;
};

/* One api->http() call, between the plugin and http.c. `u` is NULL once the
 * uplink is gone: the answer is then dropped, not given to unloaded code. */
struct host_request {
    struct ntm_uplink *u;
    ntm_http_done_fn done;
    void *arg;
    struct host_request *prev, *next;
};

struct ntm_host {
    struct ntm_uplink *u;
};

struct ntm_uplink {
    struct ntm_host host; /* what the plugin sees */
    char name[80];
    char *gateway_id;
    const struct ntm_plugin *plugin; /* inside the .so: not after dlclose */
    void *dl;
    void *ctx;
    bool initialized, destroying, in_send;
    struct ntm_host_api api;
    char **values; /* per entry of plugin->options: the value in force, or NULL */
    size_t n_values;
    struct ntm_log *log;
    struct ntm_http *http;
    struct ntm_uplink_events ev;
    unsigned max_in_flight, in_flight;
    struct slot *slots; /* max_in_flight */
    uv_timer_t timer;   /* passes on completions made inside send() */
    bool timer_inited;
    struct host_request *requests;
    /* a plugin's warnings and errors: at most one line a minute per uplink
     * and level after the first, with the count of those held back (a wrong
     * base_url must not log every retry) */
    struct ntm_complaint complaint[2];
    bool started; /* init done: the start-up lines are never held back */
};

/* ---- error text ---- */

struct errbuf {
    char *buf;
    size_t len, used;
};

static void __attribute__((format(printf, 2, 3))) errf(struct errbuf *e, const char *fmt, ...)
{
    if (e->len == 0 || e->used >= e->len - 1)
        return;
    if (e->used > 0)
        e->buf[e->used++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->buf + e->used, e->len - e->used, fmt, ap);
    va_end(ap);
    if (n > 0)
        e->used += (size_t)n;
    if (e->used >= e->len)
        e->used = e->len - 1;
}

/* ---- the host API given to plugins ---- */

static void host_log(struct ntm_host *h, int level, const char *batch_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void host_log(struct ntm_host *h, int level, const char *batch_id, const char *fmt, ...)
{
    if (h == NULL || fmt == NULL)
        return;
    struct ntm_uplink *u = h->u;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (level < LOG_ERR)
        level = LOG_ERR; /* a plugin cannot declare an emergency */
    if (level > LOG_DEBUG)
        level = LOG_DEBUG;
    struct ntm_log_field fields[2] = {{"PLUGIN", u->name}, {"BATCH_ID", batch_id}};
    uint64_t held = 0;
    if (u->started && level <= LOG_WARNING &&
        !ntm_complain(&u->complaint[level == LOG_ERR ? 0 : 1], 60000, &held))
        return;
    if (held > 0)
        ntm_log_emit(u->log, level, NULL, fields, batch_id ? 2 : 1,
                     "uplink %s: %s (%" PRIu64 " more such lines in the last minute were held "
                     "back; at most one a minute is logged)",
                     u->name, msg, held);
    else
        ntm_log_emit(u->log, level, NULL, fields, batch_id ? 2 : 1, "%s", msg);
}

static const char *host_option(struct ntm_host *h, const char *name)
{
    if (h == NULL || name == NULL)
        return NULL;
    struct ntm_uplink *u = h->u;
    for (size_t i = 0; i < u->n_values; i++)
        if (strcmp(u->plugin->options[i].name, name) == 0)
            return u->values[i];
    return NULL;
}

static void on_http_done(void *arg, const struct ntm_http_response *resp)
{
    struct host_request *r = arg;
    struct ntm_uplink *u = r->u;
    if (u != NULL) {
        if (r->prev)
            r->prev->next = r->next;
        else
            u->requests = r->next;
        if (r->next)
            r->next->prev = r->prev;
        r->done(r->arg, resp);
    }
    free(r);
}

static int host_http(struct ntm_host *h, const struct ntm_http_request *req, ntm_http_done_fn done,
                     void *arg)
{
    if (h == NULL || req == NULL || done == NULL || h->u->destroying)
        return -1;
    struct ntm_uplink *u = h->u;
    struct host_request *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -1;
    r->u = u;
    r->done = done;
    r->arg = arg;
    if (ntm_http_request(u->http, req, u->api.user_agent, on_http_done, r) != 0) {
        free(r);
        return -1;
    }
    r->next = u->requests;
    if (u->requests)
        u->requests->prev = r;
    u->requests = r;
    return 0;
}

static struct slot *find_slot(struct ntm_uplink *u, uint64_t seq)
{
    for (unsigned i = 0; i < u->max_in_flight; i++)
        if (u->slots[i].state != SLOT_FREE && u->slots[i].seq == seq)
            return &u->slots[i];
    return NULL;
}

static void release_slot(struct ntm_uplink *u, struct slot *s)
{
    free(s->reason);
    memset(s, 0, sizeof *s);
    u->in_flight--;
}

static void host_complete(struct ntm_host *h, uint64_t seq, enum ntm_send_result result,
                          int64_t retry_after_ms, const char *reason)
{
    if (h == NULL || h->u->destroying)
        return;
    struct ntm_uplink *u = h->u;
    struct slot *s = find_slot(u, seq);
    if (s == NULL || s->state != SLOT_SENT) {
        char id[24];
        snprintf(id, sizeof id, "%llu", (unsigned long long)seq);
        struct ntm_log_field f[2] = {{"PLUGIN", u->name}, {"SEQ", id}};
        ntm_log_emit(u->log, LOG_ERR, NULL, f, 2,
                     "plugin bug: uplink %s completed batch %s %s; ignored", u->name, id,
                     s ? "a second time" : "that was not in flight");
        return;
    }
    if ((unsigned)result > NTM_SEND_REJECT) {
        struct ntm_log_field f[1] = {{"PLUGIN", u->name}};
        ntm_log_emit(u->log, LOG_ERR, NULL, f, 1,
                     "plugin bug: uplink %s reported unknown outcome %d; treated as retry", u->name,
                     (int)result);
        result = NTM_SEND_RETRY;
    }
    if (retry_after_ms < 0)
        retry_after_ms = 0;
    if (u->in_send) { /* from inside send(): passed on from the loop afterwards */
        s->state = SLOT_DONE;
        s->result = result;
        s->retry_after_ms = retry_after_ms;
        s->reason = reason ? strdup(reason) : NULL;
        return;
    }
    release_slot(u, s);
    if (u->ev.complete)
        u->ev.complete(u->ev.arg, u, seq, result, retry_after_ms, reason);
}

/* ---- completions made inside send() ---- */

static void on_deferred(uv_timer_t *t)
{
    struct ntm_uplink *u = t->data;
    /* only those waiting now: what completes meanwhile waits for the next turn */
    uint64_t seqs[MAX_IN_FLIGHT_CAP];
    unsigned n = 0;
    for (unsigned i = 0; i < u->max_in_flight; i++)
        if (u->slots[i].state == SLOT_DONE)
            seqs[n++] = u->slots[i].seq;
    for (unsigned i = 0; i < n && !u->destroying; i++) {
        struct slot *s = find_slot(u, seqs[i]);
        if (s == NULL || s->state != SLOT_DONE)
            continue;
        enum ntm_send_result result = s->result;
        int64_t retry_after_ms = s->retry_after_ms;
        char *reason = s->reason;
        s->reason = NULL;
        release_slot(u, s);
        if (u->ev.complete)
            u->ev.complete(u->ev.arg, u, seqs[i], result, retry_after_ms, reason);
        free(reason);
    }
}

static void schedule_deferred(struct ntm_uplink *u)
{
    if (!u->timer_inited) {
        if (uv_timer_init(ntm_http_loop(u->http), &u->timer) != 0) {
            ntm_logf(u->log, LOG_CRIT, "uplink %s: cannot start a timer", u->name);
            return;
        }
        u->timer.data = u;
        u->timer_inited = true;
    }
    uv_timer_start(&u->timer, on_deferred, 0, 0);
}

/* ---- loading ---- */

static bool url_ok(const char *v)
{
    size_t skip;
    if (strncasecmp(v, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(v, "https://", 8) == 0)
        skip = 8;
    else
        return false;
    if (v[skip] == '\0' || v[skip] == '/')
        return false;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

static const char *type_word(enum ntm_option_type t)
{
    switch (t) {
    case NTM_OPT_PATH:
        return "a path";
    case NTM_OPT_URL:
        return "a URL starting with http:// or https://";
    case NTM_OPT_BOOL:
        return "true or false (or yes/no)";
    case NTM_OPT_INT:
        return "a whole number >= 0";
    default:
        return "a string";
    }
}

/* The value of `o` in its normal form for type t (a new string), or NULL when
 * it is not of that type (*oom tells a failed allocation apart). */
static char *normalize(const struct ntm_conf_option *o, enum ntm_option_type t, bool *oom)
{
    char *out = NULL;
    bool b;
    long long n;
    switch (t) {
    case NTM_OPT_BOOL:
        if (!ntm_conf_option_bool(o, &b))
            return NULL;
        out = strdup(b ? "true" : "false");
        break;
    case NTM_OPT_INT:
        if (!ntm_conf_option_int(o, 0, INT_MAX, &n))
            return NULL;
        if (asprintf(&out, "%lld", n) < 0)
            out = NULL;
        break;
    case NTM_OPT_URL:
        if (!url_ok(o->value))
            return NULL;
        out = strdup(o->value);
        break;
    case NTM_OPT_PATH:
        if (o->value[0] == '\0')
            return NULL;
        out = strdup(o->value);
        break;
    default:
        out = strdup(o->value);
        break;
    }
    if (out == NULL)
        *oom = true;
    return out;
}

/* Checks the entry's options against the plugin's table and fills u->values. */
static bool resolve_options(struct ntm_uplink *u, const struct ntm_config *cfg,
                            const struct ntm_uplink_conf *uc, struct errbuf *e)
{
    const struct ntm_plugin_option *table = u->plugin->options;
    size_t n = 0;
    while (table != NULL && n < MAX_PLUGIN_OPTIONS && table[n].name != NULL)
        n++;
    u->values = calloc(n ? n : 1, sizeof u->values[0]);
    if (u->values == NULL) {
        errf(e, "uplink %s: out of memory", u->name);
        return false;
    }
    u->n_values = n;
    bool ok = true, oom = false;
    const char *file = cfg->path ? cfg->path : "(config)";

    for (size_t k = 0; k < uc->n_options; k++) {
        const struct ntm_conf_option *o = &uc->options[k];
        size_t i = 0;
        while (i < n && strcmp(table[i].name, o->key) != 0)
            i++;
        if (i == n) {
            char known[512] = "";
            size_t kl = 0;
            const char *best = NULL;
            size_t best_d = 3; /* suggest only close matches */
            for (size_t j = 0; j < n && kl < sizeof known; j++) {
                kl += (size_t)snprintf(known + kl, sizeof known - kl, "%s%s", j ? ", " : "",
                                       table[j].name);
                size_t d = ntm_id_distance(o->key, table[j].name);
                if (d < best_d) {
                    best_d = d;
                    best = table[j].name;
                }
            }
            errf(e, "%s:%d:%d: unknown option '%s' for plugin %s (known: %s)%s%s%s", file, o->line,
                 o->column, o->key, u->plugin->name, n ? known : "none",
                 best ? "; did you mean '" : "", best ? best : "", best ? "'?" : "");
            ok = false;
            continue;
        }
        char *v = normalize(o, table[i].type, &oom);
        if (v == NULL) {
            if (!oom)
                errf(e, "%s:%d:%d: option '%s' of uplink %s must be %s, got '%s'%s", file, o->line,
                     o->column, o->key, u->name, type_word(table[i].type), o->value,
                     o->quoted && (table[i].type == NTM_OPT_BOOL || table[i].type == NTM_OPT_INT)
                         ? " (write it without quotes)"
                         : "");
            ok = false;
            continue;
        }
        u->values[i] = v;
    }
    for (size_t i = 0; i < n; i++) {
        if (u->values[i] != NULL)
            continue;
        if (table[i].default_value != NULL) {
            struct ntm_conf_option d = {.key = (char *)table[i].name,
                                        .value = (char *)table[i].default_value};
            u->values[i] = normalize(&d, table[i].type, &oom);
            if (u->values[i] == NULL && !oom) {
                errf(e, "uplink %s: plugin bug: the default of option '%s' is not %s", u->name,
                     table[i].name, type_word(table[i].type));
                ok = false;
            }
        } else if (table[i].required) {
            errf(e, "%s:%d:%d: uplink %s needs option '%s'%s%s%s", file, uc->line, uc->column,
                 u->name, table[i].name, table[i].description ? " (" : "",
                 table[i].description ? table[i].description : "", table[i].description ? ")" : "");
            ok = false;
        }
    }
    if (oom) {
        errf(e, "uplink %s: out of memory", u->name);
        ok = false;
    }
    return ok;
}

static void uplink_free(struct ntm_uplink *u);

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Frees u; the plugin's destroy() when it was initialized. */
static void uplink_free(struct ntm_uplink *u)
{
    if (u == NULL)
        return;
    u->destroying = true;
    for (struct host_request *r = u->requests, *next; r != NULL; r = next) {
        next = r->next;
        r->u = NULL; /* http.c still owns it and frees it when the answer comes */
        r->prev = r->next = NULL;
    }
    u->requests = NULL;
    if (u->initialized)
        u->plugin->destroy(u->ctx);
    u->plugin = NULL;
    for (size_t i = 0; i < u->n_values; i++)
        free(u->values[i]);
    free(u->values);
    for (unsigned i = 0; u->slots != NULL && i < u->max_in_flight; i++)
        free(u->slots[i].reason);
    free(u->slots);
    free(u->gateway_id);
    if (u->dl)
        dlclose(u->dl);
    if (u->timer_inited) {
        uv_timer_stop(&u->timer);
        uv_close((uv_handle_t *)&u->timer, on_timer_closed);
    } else {
        free(u);
    }
}

/* Loads uplink number `idx` (0-based); NULL with the problem in e. */
static struct ntm_uplink *uplink_load(const struct ntm_config *cfg, size_t idx, struct ntm_log *log,
                                      struct ntm_http *http, const struct ntm_uplink_events *ev,
                                      struct errbuf *e)
{
    const struct ntm_uplink_conf *uc = &cfg->uplinks[idx];
    const char *pname = uc->plugin ? uc->plugin : "";
    const char *dir = cfg->plugin_dir ? cfg->plugin_dir : NTM_DEFAULT_PLUGIN_DIR;
    char path[4096];
    if (pname[0] == '\0' || strchr(pname, '/') != NULL || strcmp(pname, ".") == 0 ||
        strcmp(pname, "..") == 0) {
        errf(e, "uplink %zu (%s): not a plugin name", idx + 1, pname);
        return NULL;
    }
    if ((size_t)snprintf(path, sizeof path, "%s/%s.so", dir, pname) >= sizeof path) {
        errf(e, "uplink %zu (%s): plugin_dir is too long", idx + 1, pname);
        return NULL;
    }

    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *why = dlerror();
        errf(e, "uplink %zu (%s): %s: %s: %s", idx + 1, pname,
             access(path, F_OK) == 0 ? "cannot load plugin" : "plugin not found", path,
             why ? why : "unknown error");
        return NULL;
    }
    dlerror();
    const struct ntm_plugin *p = dlsym(dl, NTM_PLUGIN_SYMBOL);
    if (p == NULL) {
        const char *why = dlerror();
        errf(e, "uplink %zu (%s): %s is not an ntm-gateway plugin (no symbol %s: %s)", idx + 1,
             pname, path, NTM_PLUGIN_SYMBOL, why ? why : "it is NULL");
        dlclose(dl);
        return NULL;
    }
    /* abi_version is the first field in every version: the only one safe to read yet */
    if (p->abi_version != NTM_PLUGIN_ABI_VERSION) {
        errf(e,
             "uplink %zu (%s): plugin %s was built for plugin ABI %u, this daemon speaks %u: "
             "install a matching plugin (%s)",
             idx + 1, pname, pname, (unsigned)p->abi_version, (unsigned)NTM_PLUGIN_ABI_VERSION,
             path);
        dlclose(dl);
        return NULL;
    }
    const char *problem = NULL;
    if (p->name == NULL || strcmp(p->name, pname) != 0)
        problem = "names itself differently";
    else if (p->kind == NULL || strcmp(p->kind, "uplink") != 0)
        problem = "is not an uplink plugin";
    else if (p->init == NULL || p->send == NULL || p->destroy == NULL)
        problem = "lacks init, send or destroy";
    if (problem != NULL) {
        errf(e, "uplink %zu (%s): %s %s (name '%s', kind '%s')", idx + 1, pname, path, problem,
             p->name ? p->name : "(none)", p->kind ? p->kind : "(none)");
        dlclose(dl);
        return NULL;
    }

    struct ntm_uplink *u = calloc(1, sizeof *u);
    if (u == NULL) {
        errf(e, "uplink %zu (%s): out of memory", idx + 1, pname);
        dlclose(dl);
        return NULL;
    }
    u->host.u = u;
    u->dl = dl;
    u->plugin = p;
    u->log = log;
    u->http = http;
    u->ev = *ev;
    size_t same = 0;
    for (size_t j = 0; j < idx; j++)
        if (cfg->uplinks[j].plugin && strcmp(cfg->uplinks[j].plugin, pname) == 0)
            same++;
    if (same == 0)
        snprintf(u->name, sizeof u->name, "%s", pname);
    else
        snprintf(u->name, sizeof u->name, "%s#%zu", pname, same + 1);
    u->max_in_flight = p->max_in_flight == 0 ? 1 : p->max_in_flight;
    if (u->max_in_flight > MAX_IN_FLIGHT_CAP)
        u->max_in_flight = MAX_IN_FLIGHT_CAP;
    u->slots = calloc(u->max_in_flight, sizeof u->slots[0]);
    u->gateway_id = strdup(cfg->gateway_id);
    if (u->slots == NULL || u->gateway_id == NULL) {
        errf(e, "uplink %s: out of memory", u->name);
        uplink_free(u);
        return NULL;
    }
    if (!resolve_options(u, cfg, uc, e)) {
        uplink_free(u);
        return NULL;
    }
    u->api = (struct ntm_host_api){
        .abi_version = NTM_PLUGIN_ABI_VERSION,
        .log = host_log,
        .option = host_option,
        .http = host_http,
        .complete = host_complete,
        .gateway_id = u->gateway_id,
        .user_agent = USER_AGENT,
    };
    char perr[512] = "";
    if (p->init(&u->host, &u->api, &u->ctx, perr, sizeof perr) != 0) {
        errf(e, "uplink %s: %s", u->name, perr[0] ? perr : "the plugin failed to start");
        uplink_free(u);
        return NULL;
    }
    u->initialized = true;
    u->started = true;
    return u;
}

int ntm_uplinks_load(struct ntm_uplink ***out, size_t *n_out, const struct ntm_config *cfg,
                     struct ntm_log *log, struct ntm_http *http, const struct ntm_uplink_events *ev,
                     char *err, size_t errlen)
{
    struct errbuf e = {err, errlen, 0};
    if (errlen > 0)
        err[0] = '\0';
    *out = NULL;
    *n_out = 0;
    if (cfg == NULL || log == NULL || http == NULL || ev == NULL) {
        errf(&e, "uplinks: nothing to load them with");
        return -1;
    }
    struct ntm_uplink **v = calloc(cfg->n_uplinks ? cfg->n_uplinks : 1, sizeof v[0]);
    if (v == NULL) {
        errf(&e, "uplinks: out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_uplinks; i++) {
        v[i] = uplink_load(cfg, i, log, http, ev, &e);
        if (v[i] == NULL) {
            ntm_uplinks_free(v, i);
            return -1;
        }
        struct ntm_log_field f[1] = {{"PLUGIN", v[i]->name}};
        ntm_log_emit(log, LOG_INFO, NULL, f, 1, "uplink %s loaded (%s, up to %u in flight)",
                     v[i]->name, cfg->uplinks[i].plugin, v[i]->max_in_flight);
    }
    *out = v;
    *n_out = cfg->n_uplinks;
    return 0;
}

const char *ntm_uplink_name(const struct ntm_uplink *u)
{
    return u->name;
}

unsigned ntm_uplink_max_in_flight(const struct ntm_uplink *u)
{
    return u->max_in_flight;
}

int ntm_uplink_send(struct ntm_uplink *u, const struct ntm_batch *b)
{
    if (u == NULL || b == NULL || u->destroying || u->in_send)
        return -1;
    if (u->in_flight >= u->max_in_flight)
        return -1;
    if (find_slot(u, b->seq) != NULL) {
        struct ntm_log_field f[2] = {{"PLUGIN", u->name}, {"BATCH_ID", b->batch_id}};
        ntm_log_emit(u->log, LOG_ERR, NULL, f, 2,
                     "batch %s is already in flight on uplink %s; not sent twice", b->batch_id,
                     u->name);
        return -1;
    }
    struct slot *s = NULL;
    for (unsigned i = 0; s == NULL && i < u->max_in_flight; i++)
        if (u->slots[i].state == SLOT_FREE)
            s = &u->slots[i];
    if (s == NULL) /* cannot happen while in_flight counts the slots in use */
        return -1;
    s->state = SLOT_SENT;
    s->seq = b->seq;
    u->in_flight++;

    u->in_send = true;
    int rc = u->plugin->send(u->ctx, b);
    u->in_send = false;

    if (rc != 0) {
        if (s->state == SLOT_SENT) {
            release_slot(u, s);
            return -1;
        }
        struct ntm_log_field f[2] = {{"PLUGIN", u->name}, {"BATCH_ID", b->batch_id}};
        ntm_log_emit(u->log, LOG_WARNING, NULL, f, 2,
                     "plugin bug: uplink %s completed batch %s and then said it could not send "
                     "it; the outcome stands",
                     u->name, b->batch_id);
    }
    for (unsigned i = 0; i < u->max_in_flight; i++) {
        if (u->slots[i].state == SLOT_DONE) {
            schedule_deferred(u);
            break;
        }
    }
    return 0;
}

void ntm_uplinks_free(struct ntm_uplink **u, size_t n)
{
    if (u == NULL)
        return;
    for (size_t i = n; i-- > 0;)
        uplink_free(u[i]);
    free(u);
}
