/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mappings.c: the counts of the MQTT mappings while the daemon runs (mapped,
 * unmapped, rejected; the devices heard through each) and their live-state
 * section. It must not evaluate or deliver messages (mapping.c, the gate). */
#include "mappings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ntm_mappings_configure(struct ntm_mappings *s, const struct ntm_mapping *m, size_t n)
{
    struct ntm_mapping_count *c = calloc(n ? n : 1, sizeof *c);
    if (!c)
        return -1;
    for (size_t i = 0; i < n; i++) {
        snprintf(c[i].name, sizeof c[i].name, "%s", m[i].name ? m[i].name : "");
        for (size_t j = 0; j < s->n; j++)
            if (strcmp(s->c[j].name, c[i].name) == 0) {
                c[i] = s->c[j];
                break;
            }
    }
    free(s->c);
    s->c = c;
    s->n = n;
    return 0;
}

static struct ntm_mapping_heard *heard(struct ntm_mappings *s, const char *device)
{
    for (size_t i = 0; i < s->n_d; i++)
        if (strcmp(s->d[i].device, device) == 0)
            return &s->d[i];
    if (s->n_d == NTM_MAPPINGS_DEVICES_MAX)
        return NULL;
    if (s->n_d == s->cap_d) {
        size_t cap = s->cap_d ? s->cap_d * 2 : 16;
        struct ntm_mapping_heard *d = realloc(s->d, cap * sizeof *d);
        if (!d)
            return NULL;
        s->d = d;
        s->cap_d = cap;
    }
    struct ntm_mapping_heard *h = &s->d[s->n_d++];
    memset(h, 0, sizeof *h);
    snprintf(h->device, sizeof h->device, "%s", device);
    return h;
}

void ntm_mappings_note(struct ntm_mappings *s, size_t i, enum ntm_map_result r, const char *device,
                       int64_t now_ms, const char *why)
{
    if (i >= s->n)
        return;
    struct ntm_mapping_count *c = &s->c[i];
    c->last_ms = now_ms;
    if (r == NTM_MAP_OK)
        c->mapped++;
    else if (r == NTM_MAP_UNMAPPED)
        c->unmapped++;
    else {
        c->rejected++;
        snprintf(c->last_error, sizeof c->last_error, "%s", why ? why : "");
    }
    if (!device || !device[0] || r == NTM_MAP_UNMAPPED)
        return;
    struct ntm_mapping_heard *h = heard(s, device);
    if (!h)
        return;
    snprintf(h->mapping, sizeof h->mapping, "%s", c->name);
    if (!h->first_ms)
        h->first_ms = now_ms;
    h->last_ms = now_ms;
    snprintf(h->last_error, sizeof h->last_error, "%s", r == NTM_MAP_OK ? "" : (why ? why : ""));
}

void ntm_mappings_live(void *mappings, cJSON *sources)
{
    struct ntm_mappings *s = mappings;
    if (!s || !sources || (s->n == 0 && s->n_d == 0))
        return; /* no mappings: no section */
    cJSON *sec = cJSON_AddObjectToObject(sources, "mappings");
    for (size_t i = 0; sec && i < s->n_d; i++) {
        const struct ntm_mapping_heard *h = &s->d[i];
        cJSON *d = cJSON_AddObjectToObject(sec, h->device);
        if (!d)
            continue;
        cJSON_AddStringToObject(d, "state", h->last_error[0] ? "rejected" : "heard");
        cJSON_AddNumberToObject(d, "since_ms", (double)h->first_ms);
        cJSON_AddNumberToObject(d, "last_ms", (double)h->last_ms);
        if (h->last_error[0])
            cJSON_AddStringToObject(d, "last_error", h->last_error);
        else
            cJSON_AddNullToObject(d, "last_error");
        cJSON_AddStringToObject(d, "mapping", h->mapping);
    }
    cJSON *all = sec ? cJSON_AddObjectToObject(sec, "(mappings)") : NULL;
    for (size_t i = 0; all && i < s->n; i++) {
        const struct ntm_mapping_count *c = &s->c[i];
        cJSON *o = cJSON_AddObjectToObject(all, c->name);
        if (!o)
            continue;
        cJSON_AddNumberToObject(o, "mapped", (double)c->mapped);
        cJSON_AddNumberToObject(o, "unmapped", (double)c->unmapped);
        cJSON_AddNumberToObject(o, "rejected", (double)c->rejected);
        cJSON_AddNumberToObject(o, "last_ms", (double)c->last_ms);
        if (c->last_error[0])
            cJSON_AddStringToObject(o, "last_error", c->last_error);
        else
            cJSON_AddNullToObject(o, "last_error");
    }
    if (sec)
        cJSON_AddNumberToObject(sec, "(unmatched)", (double)s->unmatched);
}

void ntm_mappings_free(struct ntm_mappings *s)
{
    if (!s)
        return;
    free(s->c);
    free(s->d);
    memset(s, 0, sizeof *s);
}
