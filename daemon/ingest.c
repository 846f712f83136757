/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ingest.c: owns the daemon side of the device message contract (the rules users
 * see are in README.md, "What devices send, and what is rejected"): a payload
 * from its bytes to a record, through the text checks (ingest_text.c), JSON, and
 * the channel's fields (ingest_payload.c); the topic is ingest_topic.c's, MAC
 * hashing ingest_mac.c's. Pure: no I/O, no logging, no globals. */
#include <stddef.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ingest_impl.h"

static const char *const reject_names[NTM_REJ_COUNT] = {
    "accepted",   "bad_topic", "unknown_village", "bad_channel",
    "too_large",  "not_json",  "not_object",      "missing_field",
    "wrong_type", "bad_value", "device_conflict", "too_many_devices"};

const char *ntm_reject_name(enum ntm_reject r)
{
    return (unsigned)r < NTM_REJ_COUNT ? reject_names[r] : "unknown";
}

enum ntm_reject ntm_payload_parse(const struct ntm_topic *topic, const void *payload, size_t len,
                                  int64_t now_ms, const struct ntm_ingest_opts *opts,
                                  struct ntm_record *out, char *why, size_t whylen)
{
    if (why != NULL && whylen > 0)
        why[0] = '\0';

    /* the record header; `village` is the caller's */
    out->ts = 0;
    out->recv_ms = now_ms;
    out->kind = topic->kind;
    out->channel = topic->channel;
    out->event = NTM_EV_NONE;
    out->flags = 0;
    size_t dl = strnlen(topic->device, NTM_DEVICE_ID_MAX);
    memcpy(out->device, topic->device, dl);
    memset(out->device + dl, 0, sizeof out->device - dl);
    /* the union up to the MAC hashes, of which only n_macs are meaningful:
     * nothing of a previous message's fields survives */
    _Static_assert(sizeof out->u.broadcast >= offsetof(struct ntm_record, u.wifi.mac_hash) -
                                                  offsetof(struct ntm_record, u.wifi),
                   "broadcast is the largest union member but for the MAC hashes");
    memset(&out->u, 0, sizeof out->u.broadcast);

    if (!ntm_ingest_kind_has_channel(topic->kind, topic->channel))
        return ntm_ingest_channel_missing(topic->kind, topic->channel, why, whylen);
    if (len > opts->max_payload)
        return ntm_ingest_fail(why, whylen, NTM_REJ_TOO_LARGE,
                               "payload is %zu bytes, more than %zu", len, opts->max_payload);
    if (len == 0 || payload == NULL)
        return ntm_ingest_fail(why, whylen, NTM_REJ_NOT_JSON, "payload is empty");

    const char *what = "";
    size_t bad = ntm_ingest_text_problem(payload, len, &what);
    if (bad < len)
        return ntm_ingest_fail(why, whylen, NTM_REJ_NOT_JSON, "payload has %s at byte %zu", what,
                               bad);

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(payload, len, &end, 0);
    if (root == NULL) {
        size_t at = end != NULL ? (size_t)(end - (const char *)payload) : 0;
        return ntm_ingest_fail(why, whylen, NTM_REJ_NOT_JSON,
                               "payload is not valid JSON (at byte %zu)", at);
    }
    /* cJSON's own "require null terminated" wants a NUL inside `len`: check
     * instead that only whitespace follows the value. */
    for (const char *p = end, *pe = (const char *)payload + len; p < pe; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(root);
            return ntm_ingest_fail(why, whylen, NTM_REJ_NOT_JSON,
                                   "payload has data after the JSON value (at byte %zu)",
                                   (size_t)(p - (const char *)payload));
        }

    enum ntm_reject r = ntm_ingest_parse_object(root, topic, now_ms, opts, out, why, whylen);
    cJSON_Delete(root);
    if (r == NTM_ACCEPT && why != NULL && whylen > 0)
        why[0] = '\0';
    return r;
}
