/* SPDX-License-Identifier: GPL-3.0-or-later */
/* sources_wire.c: starts, reconfigures (SIGHUP) and stops the sources built
 * into the daemon (ping; MQTT mappings), from the configuration, handing
 * each the one gate (gate.c). It must not handle any message itself. */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "gate.h"
#include "sources/ping.h"

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

int ntm_daemon_sources_start(struct ntm_daemon *d, char *err, size_t errlen)
{
    const char *round = getenv("NTM_TEST_PING_ROUND_MS"); /* tests only: see ping.h */
    int64_t round_ms = round ? strtoll(round, NULL, 10) : 0;
    bool any_ip = false;
    for (size_t i = 0; i < d->cfg->n_devices; i++)
        any_ip = any_ip || d->cfg->devices[i].ip != NULL;
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
    if (d->ping && configure_ping(d) != 0)
        ntm_log(&d->log, LOG_ERR, "SIGHUP: out of memory; the ping source keeps its old devices");
}

void ntm_daemon_sources_stop(struct ntm_daemon *d)
{
    ntm_ping_free(d->ping);
    d->ping = NULL;
}
