/* SPDX-License-Identifier: GPL-3.0-or-later */
/* live.c: reads the daemon's state.json (live.h) with cJSON into a fixed
 * struct; a missing, unreadable or stale file is reported as such, never an
 * error. Must not write anything. */
#include "live.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_MAX (1024 * 1024)

static void copy_str(char *dst, size_t len, const cJSON *v)
{
    dst[0] = '\0';
    if (cJSON_IsString(v) && v->valuestring)
        snprintf(dst, len, "%s", v->valuestring);
}

static int64_t num(const cJSON *v)
{
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

bool web_live_parse(struct web_live *l, const char *text, size_t len, int64_t now_ms)
{
    cJSON *doc = cJSON_ParseWithLength(text, len);
    if (!cJSON_IsObject(doc) || num(cJSON_GetObjectItem(doc, "schema")) != 1) {
        cJSON_Delete(doc);
        return false;
    }
    l->found = true;
    l->written_ms = num(cJSON_GetObjectItem(doc, "written_ms"));
    l->started_ms = num(cJSON_GetObjectItem(doc, "started_ms"));
    l->clock_synced = cJSON_IsTrue(cJSON_GetObjectItem(doc, "clock_synced"));
    int64_t pid = num(cJSON_GetObjectItem(doc, "pid"));
    bool alive = pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
    l->stale = !alive || now_ms - l->written_ms > 10000;
    const cJSON *b = cJSON_GetObjectItem(doc, "broker");
    copy_str(l->broker_state, sizeof l->broker_state, cJSON_GetObjectItem(b, "state"));
    l->broker_since_ms = num(cJSON_GetObjectItem(b, "since_ms"));
    copy_str(l->broker_error, sizeof l->broker_error, cJSON_GetObjectItem(b, "last_error"));
    const cJSON *in = cJSON_GetObjectItem(doc, "ingest");
    const cJSON *rate = cJSON_GetObjectItem(in, "rate_per_s");
    l->rate_per_s = cJSON_IsNumber(rate) ? rate->valuedouble : 0;
    const cJSON *u;
    l->n_uplinks = 0;
    cJSON_ArrayForEach(u, cJSON_GetObjectItem(doc, "uplinks"))
    {
        if (l->n_uplinks >= WEB_LIVE_UPLINKS)
            break;
        struct web_live_uplink *o = &l->uplinks[l->n_uplinks++];
        copy_str(o->name, sizeof o->name, cJSON_GetObjectItem(u, "name"));
        copy_str(o->state, sizeof o->state, cJSON_GetObjectItem(u, "state"));
        o->last_ok_ms = num(cJSON_GetObjectItem(u, "last_ok_ms"));
        o->failing_since_ms = num(cJSON_GetObjectItem(u, "failing_since_ms"));
        copy_str(o->last_error, sizeof o->last_error, cJSON_GetObjectItem(u, "last_error"));
        o->waiting_batches = num(cJSON_GetObjectItem(u, "waiting_batches"));
    }
    cJSON_Delete(doc);
    return true;
}

static bool read_one(struct web_live *l, const char *path, int64_t now_ms)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char *text = malloc(STATE_MAX);
    size_t n = text ? fread(text, 1, STATE_MAX, f) : 0;
    fclose(f);
    bool ok = text && n > 0 && n < STATE_MAX && web_live_parse(l, text, n, now_ms);
    free(text);
    if (ok)
        snprintf(l->path, sizeof l->path, "%s", path);
    return ok;
}

void web_live_read(struct web_live *l, const char *runtime_path, const char *db_path,
                   int64_t now_ms)
{
    memset(l, 0, sizeof *l);
    char path[600];
    if (runtime_path) {
        if (read_one(l, runtime_path, now_ms))
            return;
    } else {
        if (read_one(l, "/run/ntm-gateway/state.json", now_ms))
            return;
    }
    snprintf(path, sizeof path, "%s.state.json", db_path);
    if (read_one(l, path, now_ms))
        return;
    memset(l, 0, sizeof *l);
}
