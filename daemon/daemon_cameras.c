/* SPDX-License-Identifier: GPL-3.0-or-later */
/* daemon_cameras.c: wires the camera source (sources/camera.h) into the daemon:
 * its device list from the configuration, its messages into the one gate
 * (ntm_gate_emit), its life with the daemon's (start, SIGHUP, stop). It reads
 * no stream and writes no row itself. */
#include "daemon_cameras.h"

#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "sources/camera.h"

/* The cameras with `events:` in cfg, into out (cfg->n_devices entries; the
 * strings are cfg's); their number. */
static size_t camera_list(const struct ntm_config *cfg, struct ntm_camera_device *out)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_devices; i++) {
        const struct ntm_device_decl *dd = &cfg->devices[i];
        const struct ntm_device_events *e = &dd->events;
        if (e->api == NTM_EVENTS_NONE || dd->kind != NTM_KIND_CAMERA)
            continue;
        out[n++] = (struct ntm_camera_device){
            .device = dd->id,
            .village = cfg->villages[dd->village].id,
            .api = e->api == NTM_EVENTS_DAHUA ? NTM_CAMERA_DAHUA : NTM_CAMERA_HIKVISION,
            .host = e->host ? e->host : dd->ip,
            .port = e->port,
            .https = e->https,
            .ca_file = e->ca_file,
            .user = e->user,
            .password_file = e->password_file,
            .channel = e->channel,
            .keepalive_s = e->keepalive_s,
        };
    }
    return n;
}

static int configure(struct ntm_daemon *d, char *err, size_t errlen)
{
    const struct ntm_config *cfg = d->cfg;
    struct ntm_camera_device *devs = calloc(cfg->n_devices ? cfg->n_devices : 1, sizeof *devs);
    if (devs == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = camera_list(cfg, devs);
    int rc = 0;
    if (n > 0 && d->cameras == NULL &&
        ntm_cameras_new(&d->cameras, &d->loop, d->http, &d->log, &d->clock, NULL, ntm_gate_emit,
                        d) != 0) {
        snprintf(err, errlen, "cannot start the camera source (out of memory)");
        rc = -1;
    }
    if (rc == 0 && d->cameras != NULL)
        rc = ntm_cameras_configure(d->cameras, devs, n, err, errlen);
    free(devs);
    return rc;
}

int ntm_daemon_cameras_start(struct ntm_daemon *d, char *err, size_t errlen)
{
    int rc = configure(d, err, errlen);
    if (rc == 0 && d->cameras != NULL)
        ntm_logf(&d->log, LOG_INFO,
                 "camera source started: reading the event streams of the "
                 "cameras with events: in the inventory");
    return rc;
}

void ntm_daemon_cameras_apply(struct ntm_daemon *d)
{
    char err[512];
    if (d->stopping)
        return;
    if (configure(d, err, sizeof err) != 0)
        ntm_logf(&d->log, LOG_ERR,
                 "SIGHUP: the cameras' event streams could not follow the new configuration: %s; "
                 "they run on as they were",
                 err);
}

void ntm_daemon_cameras_live(void *daemon, struct cJSON *sources_obj)
{
    const struct ntm_daemon *d = daemon;
    ntm_cameras_live(d->cameras, sources_obj);
}

void ntm_daemon_cameras_stop(struct ntm_daemon *d)
{
    ntm_cameras_free(d->cameras);
    d->cameras = NULL;
}
