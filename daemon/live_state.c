/* SPDX-License-Identifier: GPL-3.0-or-later */
/* live_state.c: builds, writes and reads the live state document (schema 1).
 * Owns the temp-file-and-rename and the sections' callbacks; must not gather
 * figures itself nor fsync (the runtime directory is a tmpfs). */
#include "live_state.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct section {
    void (*fn)(void *arg, cJSON *sources_obj);
    void *arg;
};

struct ntm_live {
    char *path, *tmp;
    struct section *sections;
    size_t n_sections;
};

void ntm_live_path(const char *storage_path, char *buf, size_t len)
{
    const char *rt = getenv("RUNTIME_DIRECTORY");
    if (rt && rt[0]) {
        size_t n = strcspn(rt, ":"); /* systemd joins several with ':' */
        snprintf(buf, len, "%.*s/state.json", (int)n, rt);
        return;
    }
    snprintf(buf, len, "%s.state.json", storage_path ? storage_path : "ntm-gateway");
}

struct ntm_live *ntm_live_new(const char *path)
{
    struct ntm_live *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    size_t n = strlen(path);
    l->path = strdup(path);
    l->tmp = malloc(n + 8);
    if (!l->path || !l->tmp) {
        ntm_live_free(l, false);
        return NULL;
    }
    snprintf(l->tmp, n + 8, "%s.tmp", path);
    return l;
}

int ntm_live_add_section(struct ntm_live *l, void (*fn)(void *arg, cJSON *sources_obj), void *arg)
{
    struct section *s = realloc(l->sections, (l->n_sections + 1) * sizeof *s);
    if (!s)
        return -1;
    l->sections = s;
    l->sections[l->n_sections++] = (struct section){fn, arg};
    return 0;
}

const char *ntm_live_file(const struct ntm_live *l)
{
    return l->path;
}

static void add_ms_or_null(cJSON *o, const char *key, int64_t ms)
{
    if (ms > 0)
        cJSON_AddNumberToObject(o, key, (double)ms);
    else
        cJSON_AddNullToObject(o, key);
}

static void add_str_or_null(cJSON *o, const char *key, const char *s)
{
    if (s)
        cJSON_AddStringToObject(o, key, s);
    else
        cJSON_AddNullToObject(o, key);
}

static cJSON *build(struct ntm_live *l, const struct ntm_live_info *in)
{
    cJSON *doc = cJSON_CreateObject();
    if (!doc)
        return NULL;
    cJSON_AddNumberToObject(doc, "schema", NTM_LIVE_SCHEMA);
    cJSON_AddNumberToObject(doc, "pid", (double)getpid());
    cJSON_AddNumberToObject(doc, "written_ms", (double)in->written_ms);
    cJSON_AddNumberToObject(doc, "started_ms", (double)in->started_ms);
    cJSON_AddBoolToObject(doc, "ready", in->ready);
    add_str_or_null(doc, "gateway_id", in->gateway_id);
    add_str_or_null(doc, "version", in->version);
    cJSON_AddBoolToObject(doc, "clock_synced", in->clock_synced);

    cJSON *b = cJSON_AddObjectToObject(doc, "broker");
    if (b) {
        add_str_or_null(b, "state", in->broker.state);
        cJSON_AddNumberToObject(b, "since_ms", (double)in->broker.since_ms);
        add_str_or_null(b, "last_error", in->broker.last_error);
        add_str_or_null(b, "host", in->broker.host);
        cJSON_AddNumberToObject(b, "port", in->broker.port);
    }
    cJSON *g = cJSON_AddObjectToObject(doc, "ingest");
    if (g) {
        cJSON_AddNumberToObject(g, "rate_per_s", in->ingest.rate_per_s);
        cJSON_AddNumberToObject(g, "accepted_total", (double)in->ingest.accepted_total);
        cJSON_AddNumberToObject(g, "rejected_total", (double)in->ingest.rejected_total);
    }
    cJSON *ups = cJSON_AddArrayToObject(doc, "uplinks");
    for (size_t i = 0; ups && i < in->n_uplinks; i++) {
        const struct ntm_live_uplink *u = &in->uplinks[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(ups, o)) {
            cJSON_Delete(o);
            break;
        }
        add_str_or_null(o, "name", u->name);
        add_str_or_null(o, "plugin", u->plugin);
        add_str_or_null(o, "state", u->state);
        add_ms_or_null(o, "last_ok_ms", u->last_ok_ms);
        add_ms_or_null(o, "failing_since_ms", u->failing_since_ms);
        add_str_or_null(o, "last_error", u->last_error);
        add_ms_or_null(o, "next_try_ms", u->next_try_ms);
        cJSON_AddNumberToObject(o, "waiting_batches", (double)u->waiting_batches);
    }
    cJSON *src = cJSON_AddObjectToObject(doc, "sources");
    for (size_t i = 0; src && i < l->n_sections; i++)
        l->sections[i].fn(l->sections[i].arg, src);
    return doc;
}

int ntm_live_write(struct ntm_live *l, const struct ntm_live_info *info)
{
    cJSON *doc = build(l, info);
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) {
        errno = ENOMEM;
        return -1;
    }
    FILE *f = fopen(l->tmp, "we");
    int rc = -1;
    if (f) {
        size_t n = strlen(text);
        bool ok = fwrite(text, 1, n, f) == n && fputc('\n', f) != EOF;
        ok = (fclose(f) == 0) && ok;
        if (ok && rename(l->tmp, l->path) == 0)
            rc = 0;
        else {
            int e = errno;
            unlink(l->tmp);
            errno = e;
        }
    }
    cJSON_free(text);
    return rc;
}

void ntm_live_free(struct ntm_live *l, bool unlink_file)
{
    if (!l)
        return;
    if (unlink_file && l->path)
        unlink(l->path);
    free(l->path);
    free(l->tmp);
    free(l->sections);
    free(l);
}

/* ---- readers ------------------------------------------------------------------ */

static cJSON *load(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            if (cap > (16u << 20))
                break; /* not ours: no live state is that large */
            char *nb = realloc(buf, cap);
            if (!nb)
                break;
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    cJSON *doc = NULL;
    if (buf) {
        buf[len] = '\0';
        doc = cJSON_Parse(buf);
    }
    free(buf);
    if (doc && !cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        doc = NULL;
    }
    return doc;
}

cJSON *ntm_live_read(const char *explicit_path, const char *storage_path, int64_t now_ms,
                     bool *stale, char *path_out, size_t path_len)
{
    char alt[4096];
    snprintf(alt, sizeof alt, "%s.state.json", storage_path ? storage_path : "");
    const char *paths[] = {explicit_path, explicit_path ? NULL : NTM_LIVE_SYSTEM_PATH,
                           explicit_path || !storage_path ? NULL : alt};
    *stale = true;
    for (size_t i = 0; i < 3; i++) {
        if (!paths[i])
            continue;
        cJSON *doc = load(paths[i]);
        if (!doc)
            continue;
        if (path_out)
            snprintf(path_out, path_len, "%s", paths[i]);
        const cJSON *pid = cJSON_GetObjectItemCaseSensitive(doc, "pid");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(doc, "written_ms");
        bool alive = cJSON_IsNumber(pid) && pid->valuedouble > 0 &&
                     (kill((pid_t)pid->valuedouble, 0) == 0 || errno == EPERM);
        bool fresh = cJSON_IsNumber(w) && now_ms - (int64_t)w->valuedouble <= NTM_LIVE_STALE_MS;
        *stale = !(alive && fresh);
        /* a stale system file may hide a fresher one by the buffer (a run by hand) */
        if (*stale && i == 1 && paths[2]) {
            bool s2 = true;
            char p2[4096];
            cJSON *d2 = ntm_live_read(paths[2], NULL, now_ms, &s2, p2, sizeof p2);
            if (d2 && !s2) {
                cJSON_Delete(doc);
                *stale = false;
                if (path_out)
                    snprintf(path_out, path_len, "%s", p2);
                return d2;
            }
            cJSON_Delete(d2);
        }
        return doc;
    }
    return NULL;
}
