/* SPDX-License-Identifier: GPL-3.0-or-later */
/* gate.c: the one gate between the sources (ping, MQTT mappings, camera event
 * streams) and the message pipeline: a source's message becomes the device
 * contract's topic of its inventory device and goes on as an MQTT message of
 * that topic would. It must not validate, store or count anything itself. */
#include "gate.h"

#include <stdio.h>
#include <string.h>

#include "daemon.h"

static void refuse_device(struct ntm_daemon *d, const struct ntm_gate_msg *m, enum ntm_reject r,
                          const char *what)
{
    char why[256], topic[256];
    if (m->topic)
        snprintf(topic, sizeof topic, "%s", m->topic);
    else
        snprintf(topic, sizeof topic, "ntm/v1/?/?/%.64s/%s", m->device ? m->device : "",
                 ntm_channel_name(m->channel));
    snprintf(why, sizeof why, "%s%sdevice '%.64s' %s", m->via ? m->via : "", m->via ? ": " : "",
             m->device ? m->device : "", what);
    struct ntm_topic t;
    memset(&t, 0, sizeof t);
    ntm_daemon_reject(d, ntm_clock_wall_ms(&d->clock), topic, &t, r, why, m->len, m->via);
}

void ntm_gate_submit(struct ntm_daemon *d, const struct ntm_gate_msg *m)
{
    size_t dl = m->device ? strlen(m->device) : 0;
    if (dl == 0 || dl > NTM_DEVICE_ID_MAX || !ntm_valid_device_id(m->device, dl)) {
        refuse_device(d, m, NTM_REJ_TOPIC, "is not a valid device id ([A-Za-z0-9_.-], 1 to 64)");
        return;
    }
    struct ntm_topic t;
    memset(&t, 0, sizeof t);
    memcpy(t.device, m->device, dl);
    t.channel = (uint8_t)m->channel;
    const struct ntm_device_decl *decl = ntm_daemon_device(d, m->device);
    if (decl) {
        snprintf(t.village, sizeof t.village, "%s", d->cfg->villages[decl->village].id);
        t.kind = decl->kind;
    } else if (m->kind >= 0 && m->kind < NTM_KIND_COUNT && m->village &&
               ntm_valid_village_id(m->village, strlen(m->village))) {
        snprintf(t.village, sizeof t.village, "%s", m->village);
        t.kind = (uint8_t)m->kind;
    } else {
        refuse_device(d, m, NTM_REJ_TOPIC, "is not in the inventory (devices:)");
        return;
    }
    char topic[160];
    snprintf(topic, sizeof topic, "ntm/v1/%s/%s/%s/%s", t.village,
             ntm_kind_name((enum ntm_kind)t.kind), t.device, ntm_channel_name(m->channel));
    ntm_daemon_deliver(d, ntm_clock_wall_ms(&d->clock), topic, &t, m->payload, m->len, m->flags,
                       m->via);
}

void ntm_gate_emit(void *daemon, const char *device, enum ntm_channel ch, const char *payload,
                   size_t len, unsigned flags)
{
    struct ntm_gate_msg m = {.device = device,
                             .kind = -1,
                             .channel = ch,
                             .payload = payload,
                             .len = len,
                             .flags = flags};
    ntm_gate_submit(daemon, &m);
}

void ntm_gate_refuse(struct ntm_daemon *d, const char *topic, const char *device, enum ntm_reject r,
                     const char *why, size_t len, const char *via)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s%s", via ? via : "", via ? ": " : "", why);
    struct ntm_topic t;
    memset(&t, 0, sizeof t);
    if (device)
        snprintf(t.device, sizeof t.device, "%s", device);
    ntm_daemon_reject(d, ntm_clock_wall_ms(&d->clock), topic, &t, r, full, len, via);
}
