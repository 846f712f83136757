/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ingest_topic.c: the MQTT topic of a device message,
 * ntm/v1/<village>/<kind>/<device>/<channel>, and which channels each kind has.
 * Pure: no I/O, no logging, no globals; whether the village is configured is
 * the caller's question, the payload ingest.c's. */
#include <stdio.h>
#include <string.h>

#include "ingest_impl.h"

/* A speaker has no stats channel, a Wi-Fi access point no event channel. */
const uint8_t ntm_ingest_kind_channels[NTM_KIND_COUNT] = {
    [NTM_KIND_SPEAKER] = 1u << NTM_CH_STATE | 1u << NTM_CH_HEARTBEAT | 1u << NTM_CH_EVENT,
    [NTM_KIND_CAMERA] =
        1u << NTM_CH_STATE | 1u << NTM_CH_HEARTBEAT | 1u << NTM_CH_EVENT | 1u << NTM_CH_STATS,
    [NTM_KIND_WIFI] = 1u << NTM_CH_STATE | 1u << NTM_CH_HEARTBEAT | 1u << NTM_CH_STATS,
};

enum ntm_reject ntm_ingest_channel_missing(unsigned kind, unsigned channel, char *why,
                                           size_t whylen)
{
    if (kind >= NTM_KIND_COUNT || channel >= NTM_CH_COUNT)
        return ntm_ingest_fail(why, whylen, NTM_REJ_CHANNEL, "kind %u has no channel %u", kind,
                               channel);
    char list[48];
    size_t o = 0;
    for (unsigned c = 0; c < NTM_CH_COUNT; c++)
        if (ntm_ingest_kind_has_channel(kind, c))
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "",
                                  ntm_channel_name((enum ntm_channel)c));
    return ntm_ingest_fail(why, whylen, NTM_REJ_CHANNEL, "a %s has no '%s' channel (only %s)",
                           ntm_kind_name((enum ntm_kind)kind),
                           ntm_channel_name((enum ntm_channel)channel), list);
}

/* The kind and channel names by index, for match_name(). */
static const char *kind_name_i(int i)
{
    return ntm_kind_name((enum ntm_kind)i);
}
static const char *channel_name_i(int i)
{
    return ntm_channel_name((enum ntm_channel)i);
}

/* Index of the name in names[0..n) equal to the n bytes at s, or -1. */
static int match_name(const char *s, size_t len, const char *(*name)(int), int n)
{
    for (int i = 0; i < n; i++) {
        const char *v = name(i);
        if (len > 0 && v[0] == s[0] && strlen(v) == len && memcmp(v, s, len) == 0)
            return i;
    }
    return -1;
}

enum ntm_reject ntm_topic_parse(const char *topic, size_t len, struct ntm_topic *out, char *why,
                                size_t whylen)
{
    char e[NTM_INGEST_ECHO_BUF];
    const char *part[6];
    size_t plen[6];
    size_t n = 0;

    memset(out, 0, sizeof *out);
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (topic == NULL || len == 0)
        return ntm_ingest_fail(why, whylen, NTM_REJ_TOPIC, "topic does not start with ntm/v1/");

    /* split on '/', counting every level but keeping only the first six */
    const char *p = topic, *end = topic + len;
    for (;;) {
        const char *slash = p == end ? NULL : memchr(p, '/', (size_t)(end - p));
        const char *stop = slash ? slash : end;
        if (n < 6) {
            part[n] = p;
            plen[n] = (size_t)(stop - p);
        }
        n++;
        if (slash == NULL)
            break;
        p = slash + 1;
    }

    if (n < 3 || plen[0] != 3 || memcmp(part[0], "ntm", 3) != 0 || plen[1] != 2 ||
        memcmp(part[1], "v1", 2) != 0)
        return ntm_ingest_fail(why, whylen, NTM_REJ_TOPIC, "topic does not start with ntm/v1/");
    if (n != 6)
        return ntm_ingest_fail(
            why, whylen, NTM_REJ_TOPIC,
            "topic has %zu levels, not 6 (ntm/v1/<village>/<kind>/<device>/<channel>)", n);

    /* village */
    if (plen[2] == 0)
        return ntm_ingest_fail(why, whylen, NTM_REJ_TOPIC, "village id is empty");
    if (plen[2] > NTM_VILLAGE_ID_MAX)
        return ntm_ingest_fail(why, whylen, NTM_REJ_TOPIC,
                               "village id is %zu characters, more than %d", plen[2],
                               NTM_VILLAGE_ID_MAX);
    if (ntm_village_id_span(part[2], plen[2]) != plen[2])
        return ntm_ingest_fail(why, whylen, NTM_REJ_TOPIC,
                               "village id '%s' has a character outside [a-z0-9-]",
                               ntm_ingest_echo(e, part[2], plen[2]));

    /* kind */
    int kind = match_name(part[3], plen[3], kind_name_i, NTM_KIND_COUNT);
    if (kind < 0)
        return ntm_ingest_fail(why, whylen, NTM_REJ_TOPIC,
                               "kind '%s' is not speaker, camera or wifi",
                               ntm_ingest_echo(e, part[3], plen[3]));

    /* device */
    if (plen[4] == 0)
        return ntm_ingest_fail(why, whylen, NTM_REJ_TOPIC, "device id is empty");
    if (plen[4] > NTM_DEVICE_ID_MAX)
        return ntm_ingest_fail(why, whylen, NTM_REJ_TOPIC,
                               "device id is %zu characters, more than %d", plen[4],
                               NTM_DEVICE_ID_MAX);
    if (ntm_device_id_span(part[4], plen[4]) != plen[4])
        return ntm_ingest_fail(why, whylen, NTM_REJ_TOPIC,
                               "device id '%s' has a character outside [A-Za-z0-9_.-]",
                               ntm_ingest_echo(e, part[4], plen[4]));

    /* channel */
    int channel = match_name(part[5], plen[5], channel_name_i, NTM_CH_COUNT);
    if (channel < 0)
        return ntm_ingest_fail(why, whylen, NTM_REJ_TOPIC,
                               "channel '%s' is not state, heartbeat, event or stats",
                               ntm_ingest_echo(e, part[5], plen[5]));

    memcpy(out->village, part[2], plen[2]);
    memcpy(out->device, part[4], plen[4]);
    out->kind = (uint8_t)kind;
    out->channel = (uint8_t)channel;
    if (!ntm_ingest_kind_has_channel((unsigned)kind, (unsigned)channel))
        return ntm_ingest_channel_missing((unsigned)kind, (unsigned)channel, why, whylen);
    return NTM_ACCEPT;
}
