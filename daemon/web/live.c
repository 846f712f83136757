/* SPDX-License-Identifier: GPL-3.0-or-later */
/* live.c: reads the daemon's state.json (live.h; the daemon's reader,
 * live_state.c, finds and parses it) into a fixed struct; a missing, unreadable or stale file is
 * reported as such, never an error. Must not write anything. */
#include "live.h"

#include "live_state.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static bool web_live_from(struct web_live *l, const cJSON *doc)
{
    if (!cJSON_IsObject(doc) || num(cJSON_GetObjectItem(doc, "schema")) != 1)
        return false;
    l->found = true;
    l->written_ms = num(cJSON_GetObjectItem(doc, "written_ms"));
    l->started_ms = num(cJSON_GetObjectItem(doc, "started_ms"));
    l->clock_synced = cJSON_IsTrue(cJSON_GetObjectItem(doc, "clock_synced"));
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
    return true;
}

void web_live_read(struct web_live *l, const char *runtime_path, const char *db_path,
                   int64_t now_ms)
{
    memset(l, 0, sizeof *l);
    bool stale = true;
    char path[512] = "";
    cJSON *doc = ntm_live_read(runtime_path, db_path, now_ms, &stale, path, sizeof path);
    if (doc && web_live_from(l, doc)) {
        l->stale = stale;
        snprintf(l->path, sizeof l->path, "%s", path);
    } else {
        memset(l, 0, sizeof *l);
    }
    cJSON_Delete(doc);
}
