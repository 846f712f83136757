/* SPDX-License-Identifier: GPL-3.0-or-later */
/* sources_wire.c: starts, reconfigures (SIGHUP) and stops the sources built
 * into the daemon (ping; MQTT mappings), from the configuration, handing
 * each the one gate (gate.c). It must not handle any message itself. */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "gate.h"
#include "sources/mapping.h"
#include "sources/mappings.h"
#include "sources/ping.h"

static int by_id_cmp(const void *a, const void *b)
{
    const struct ntm_device_decl *const *x = a, *const *y = b;
    return strcmp((*x)->id, (*y)->id);
}

/* The inventory sorted by id (the devices list only changes with a restart). */
static int index_devices(struct ntm_daemon *d)
{
    const struct ntm_config *c = d->cfg;
    free(d->by_id);
    d->by_id = calloc(c->n_devices ? c->n_devices : 1, sizeof *d->by_id);
    if (!d->by_id)
        return -1;
    for (size_t i = 0; i < c->n_devices; i++)
        d->by_id[i] = &c->devices[i];
    qsort(d->by_id, c->n_devices, sizeof *d->by_id, by_id_cmp);
    return 0;
}

const struct ntm_device_decl *ntm_daemon_device(const struct ntm_daemon *d, const char *id)
{
    if (!d->by_id)
        return ntm_config_device(d->cfg, id);
    size_t lo = 0, hi = d->cfg->n_devices;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(d->by_id[mid]->id, id);
        if (r == 0)
            return d->by_id[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The ping targets of the inventory: the devices with `ip`. */
static int configure_ping(struct ntm_daemon *d)
{
    const struct ntm_config *c = d->cfg;
    struct ntm_ping_target *t = calloc(c->n_devices ? c->n_devices : 1, sizeof *t);
    if (!t)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < c->n_devices; i++)
        if (c->devices[i].ip && c->devices[i].ip[0])
            t[n++] = (struct ntm_ping_target){c->devices[i].id, c->devices[i].ip};
    int rc = ntm_ping_configure(d->ping, t, n, c->ping.interval_s, c->ping.timeout_ms);
    free(t);
    return rc;
}

/* The mappings' counters and the broker's subscriptions, from cfg->mappings. */
static int configure_mappings(struct ntm_daemon *d)
{
    const struct ntm_config *c = d->cfg;
    if (ntm_mappings_configure(&d->maps, c->mappings, c->n_mappings) != 0)
        return -1;
    const char **f = calloc(c->n_mappings ? c->n_mappings : 1, sizeof *f);
    if (!f)
        return -1;
    for (size_t i = 0; i < c->n_mappings; i++)
        f[i] = c->mappings[i].filter;
    int rc = d->mqtt ? ntm_mqtt_set_filters(d->mqtt, f, c->n_mappings) : 0;
    free(f);
    return rc;
}

bool ntm_daemon_mapped(struct ntm_daemon *d, const char *topic, const void *payload, size_t len)
{
    const struct ntm_config *c = d->cfg;
    bool any = false;
    for (size_t i = 0; i < c->n_mappings; i++) {
        const struct ntm_mapping *m = &c->mappings[i];
        if (!ntm_mapping_matches(m, topic))
            continue;
        any = true;
        struct ntm_map_out out;
        enum ntm_reject r;
        char why[200], via[160];
        snprintf(via, sizeof via, "mapping '%s' on %.80s", m->name, topic);
        enum ntm_map_result res = ntm_mapping_eval(m, topic, payload, len, d->ingest.max_payload,
                                                   &out, &r, why, sizeof why);
        ntm_mappings_note(&d->maps, i, res, out.device, ntm_clock_wall_ms(&d->clock), why);
        if (res == NTM_MAP_OK) {
            struct ntm_gate_msg g = {.device = out.device,
                                     .village = out.village[0] ? out.village : NULL,
                                     .kind = m->kind,
                                     .channel = (enum ntm_channel)m->channel,
                                     .payload = out.payload,
                                     .len = out.len,
                                     .flags = out.flags,
                                     .via = via,
                                     .topic = topic};
            ntm_gate_submit(d, &g);
        } else if (res == NTM_MAP_REJECT) {
            ntm_gate_refuse(d, topic, out.device[0] ? out.device : NULL, r, why, len, via);
        }
        free(out.payload);
    }
    if (!any)
        d->maps.unmatched++;
    return any;
}

int ntm_daemon_sources_start(struct ntm_daemon *d, char *err, size_t errlen)
{
    const char *round = getenv("NTM_TEST_PING_ROUND_MS"); /* tests only: see ping.h */
    int64_t round_ms = round ? strtoll(round, NULL, 10) : 0;
    bool any_ip = false;
    for (size_t i = 0; i < d->cfg->n_devices; i++)
        any_ip = any_ip || d->cfg->devices[i].ip != NULL;
    if (index_devices(d) != 0 || configure_mappings(d) != 0) {
        snprintf(err, errlen, "out of memory setting up the mappings");
        return -1;
    }
    if (any_ip || round) {
        if (ntm_ping_new(&d->ping, &d->loop, &d->log, &d->clock, round_ms, ntm_gate_emit, d) != 0 ||
            configure_ping(d) != 0) {
            snprintf(err, errlen, "out of memory starting the ping source");
            return -1;
        }
    }
    return 0;
}

void ntm_daemon_sources_reload(struct ntm_daemon *d)
{
    bool any_ip = false;
    for (size_t i = 0; i < d->cfg->n_devices; i++)
        any_ip = any_ip || d->cfg->devices[i].ip != NULL;
    if (!d->ping && any_ip)
        ntm_ping_new(&d->ping, &d->loop, &d->log, &d->clock, 0, ntm_gate_emit, d);
    if (configure_mappings(d) != 0)
        ntm_logf(&d->log, LOG_ERR, "SIGHUP: out of memory; the mappings' subscriptions may lag");
    if (d->ping && configure_ping(d) != 0)
        ntm_logf(&d->log, LOG_ERR, "SIGHUP: out of memory; the ping source keeps its old devices");
}

void ntm_daemon_sources_stop(struct ntm_daemon *d)
{
    ntm_ping_free(d->ping);
    d->ping = NULL;
}

void ntm_daemon_sources_free(struct ntm_daemon *d)
{
    ntm_daemon_sources_stop(d);
    ntm_mappings_free(&d->maps);
    free(d->by_id);
    d->by_id = NULL;
}

void ntm_daemon_sources_live(void *daemon, cJSON *sources)
{
    struct ntm_daemon *d = daemon;
    ntm_ping_live(d->ping, sources); /* NULL-safe: no section without ping */
    ntm_mappings_live(&d->maps, sources);
}
