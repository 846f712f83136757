/* SPDX-License-Identifier: GPL-3.0-or-later */
/* gate.h: the one gate's fuller form, for the sources inside the daemon that
 * need more than ntm_gate_emit (sources/source.h): MQTT mappings name
 * themselves and the topic a message came on, may declare a device's village
 * and kind, and refuse messages they cannot map. Only daemon code includes it. */
#ifndef NTM_GATE_H
#define NTM_GATE_H

#include <stddef.h>

#include "ingest.h"
#include "record.h"
#include "sources/source.h"

struct ntm_daemon;

struct ntm_gate_msg {
    const char *device;  /* the device id */
    const char *village; /* NULL: the inventory's; used only for a device not declared */
    int kind;            /* -1: the inventory's; used only for a device not declared */
    enum ntm_channel channel;
    const char *payload; /* JSON object text, `len` bytes */
    size_t len;
    unsigned flags;    /* NTM_SOURCE_* */
    const char *via;   /* "mapping 'frigate-events' on frigate/events": in rejections; or NULL */
    const char *topic; /* the topic it came on, for a device that cannot be placed; or NULL */
};

/* Hands one message to the pipeline (ntm_daemon_deliver). */
void ntm_gate_submit(struct ntm_daemon *d, const struct ntm_gate_msg *m);

/* A message a source could not turn into a device-contract message: stored in
 * the quarantine under `topic` (the one it came on) and counted with reason r,
 * logged as any rejection, with `via` in front of `why`. */
void ntm_gate_refuse(struct ntm_daemon *d, const char *topic, const char *device, enum ntm_reject r,
                     const char *why, size_t len, const char *via);

#endif
