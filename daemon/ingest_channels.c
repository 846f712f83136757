/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ingest_channels.c: what each channel's payload must hold (state, heartbeat,
 * speaker and camera events, camera and Wi-Fi stats) and its normalization into
 * struct ntm_record: the device ts or the receive time, defaults, client MACs
 * replaced by their keyed hashes. Pure: no I/O, no logging, no globals. */
#include <math.h>
#include <string.h>

#include "ingest_impl.h"

/* The record.h names by index, for ntm_ingest_get_enum(). */
static const char *result_name_i(int i)
{
    return ntm_result_name((enum ntm_result)i);
}
static const char *priority_name_i(int i)
{
    return ntm_priority_name((enum ntm_priority)i);
}
static const char *source_name_i(int i)
{
    return ntm_source_name((enum ntm_source)i);
}
static const char *fault_name_i(int i)
{
    return ntm_fault_name((enum ntm_fault)i);
}
static const char *event_name_i(int i)
{
    return ntm_event_name((enum ntm_event)i);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static enum ntm_reject parse_ts(struct ntm_payload_ctx *c, int64_t now_ms, struct ntm_record *out)
{
    const cJSON *j = c->f[NTM_FIELD_TS];
    if (j != NULL && !NTM_JSON_IS_NUMBER(j))
        return ntm_ingest_wrong_type(c, NTM_FIELD_TS, "a number");
    /* missing, never set (before 2024) or too far ahead: receive time. How far
     * is too far depends on what the gateway's own clock is worth: with a
     * synchronized clock, 10 minutes (NTM_TS_MAX_AHEAD_S); with a set but
     * unsynchronized one (a board without a battery boots in the past, and
     * then the devices' clocks are the better ones), 30 days; with one never
     * set, up to 5 years after this daemon was built. There is always a
     * bound: one absurd ts must not close decades of windows. */
    double now_s = (double)now_ms / 1000.0, limit;
    if (now_s >= NTM_TS_MIN && c->clock_trusted)
        limit = now_s + NTM_TS_MAX_AHEAD_S;
    else if (now_s >= NTM_TS_MIN)
        limit = now_s + NTM_TS_UNSYNCED_AHEAD_S;
    else
        limit = (double)NTM_BUILD_TS + NTM_TS_UNSET_AHEAD_S;
    if (j == NULL || !(j->valuedouble >= NTM_TS_MIN) || !(j->valuedouble <= limit)) {
        out->ts = floor_div(now_ms, 1000);
        out->flags |= NTM_REC_CLOCK_FALLBACK;
    } else {
        out->ts = (int64_t)floor(j->valuedouble);
    }
    return NTM_ACCEPT;
}

static enum ntm_reject parse_heartbeat(struct ntm_payload_ctx *c, struct ntm_record *out)
{
    double interval = NTM_HEARTBEAT_INTERVAL_DEFAULT_S;
    out->u.heartbeat.interval_s = NTM_HEARTBEAT_INTERVAL_DEFAULT_S;
    out->u.heartbeat.uptime_s = -1;
    enum ntm_reject r = ntm_ingest_get_number(c, NTM_FIELD_INTERVAL_S, false, 1,
                                              NTM_HEARTBEAT_INTERVAL_MAX_S, true, &interval);
    if (r != NTM_ACCEPT)
        return r;
    out->u.heartbeat.interval_s = (int32_t)interval;
    return ntm_ingest_get_count(c, NTM_FIELD_UPTIME_S, false, &out->u.heartbeat.uptime_s);
}

static enum ntm_reject parse_speaker_event(struct ntm_payload_ctx *c, struct ntm_record *out)
{
    int type = 0;
    enum ntm_reject r = ntm_ingest_get_enum(c, NTM_FIELD_TYPE, true, event_name_i, NTM_EV_BROADCAST,
                                            NTM_EV_FAULT + 1, &type);
    if (r != NTM_ACCEPT)
        return r;
    out->event = (uint8_t)type;

    if (type == NTM_EV_FAULT) {
        int fault = NTM_FAULT_OTHER;
        r = ntm_ingest_get_enum(c, NTM_FIELD_FAULT, false, fault_name_i, 0, NTM_FAULT_COUNT,
                                &fault);
        out->u.fault.fault = (uint8_t)fault;
        return r;
    }

    double start = 0, duration = 0;
    int result = 0, priority = NTM_PRIO_NORMAL, source = NTM_SRC_OTHER;
    if ((r = ntm_ingest_get_number(c, NTM_FIELD_START, true, 0, NTM_INT_MAX_EXACT, false,
                                   &start)) != NTM_ACCEPT ||
        (r = ntm_ingest_get_number(c, NTM_FIELD_DURATION_S, true, 0, NTM_INT_MAX_EXACT, false,
                                   &duration)) != NTM_ACCEPT ||
        (r = ntm_ingest_get_enum(c, NTM_FIELD_RESULT, true, result_name_i, 0, NTM_RESULT_COUNT,
                                 &result)) != NTM_ACCEPT ||
        (r = ntm_ingest_get_enum(c, NTM_FIELD_PRIORITY, false, priority_name_i, 0, NTM_PRIO_COUNT,
                                 &priority)) != NTM_ACCEPT ||
        (r = ntm_ingest_get_enum(c, NTM_FIELD_SOURCE, false, source_name_i, 0, NTM_SRC_COUNT,
                                 &source)) != NTM_ACCEPT)
        return r;
    out->u.broadcast.start = (int64_t)floor(start);
    out->u.broadcast.duration_s = duration;
    out->u.broadcast.result = (uint8_t)result;
    out->u.broadcast.priority = (uint8_t)priority;
    out->u.broadcast.source = (uint8_t)source;

    const cJSON *p = c->f[NTM_FIELD_PROGRAM];
    if (p != NULL) {
        if (!NTM_JSON_IS_STRING(p))
            return ntm_ingest_wrong_type(c, NTM_FIELD_PROGRAM, "a string");
        size_t n = strnlen(p->valuestring, NTM_PROGRAM_MAX + 1);
        if (n > NTM_PROGRAM_MAX)
            return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_VALUE,
                                   "field 'program' is longer than %d bytes", NTM_PROGRAM_MAX);
        memcpy(out->u.broadcast.program, p->valuestring, n); /* NUL from the memset */
    }
    return NTM_ACCEPT;
}

static enum ntm_reject parse_camera_event(struct ntm_payload_ctx *c, struct ntm_record *out)
{
    int type = 0;
    enum ntm_reject r = ntm_ingest_get_enum(c, NTM_FIELD_TYPE, true, event_name_i, NTM_EV_MOTION,
                                            NTM_EV_STORAGE_ERROR + 1, &type);
    if (r != NTM_ACCEPT)
        return r;
    out->event = (uint8_t)type;
    out->u.camera_event.duration_s = -1;
    return ntm_ingest_get_number(c, NTM_FIELD_DURATION_S, false, 0, NTM_INT_MAX_EXACT, false,
                                 &out->u.camera_event.duration_s);
}

static enum ntm_reject parse_camera_stats(struct ntm_payload_ctx *c, struct ntm_record *out)
{
    out->u.camera_stats.recording = false;
    out->u.camera_stats.storage_free_pct = -1;
    enum ntm_reject r =
        ntm_ingest_get_bool(c, NTM_FIELD_RECORDING, true, &out->u.camera_stats.recording);
    if (r != NTM_ACCEPT)
        return r;
    return ntm_ingest_get_number(c, NTM_FIELD_STORAGE_FREE_PCT, false, 0, 100, false,
                                 &out->u.camera_stats.storage_free_pct);
}

static enum ntm_reject parse_client_macs(struct ntm_payload_ctx *c,
                                         const struct ntm_ingest_opts *opts, struct ntm_record *out)
{
    const cJSON *a = c->f[NTM_FIELD_CLIENT_MACS];
    if (a == NULL)
        return NTM_ACCEPT;
    if (!NTM_JSON_IS_ARRAY(a))
        return ntm_ingest_wrong_type(c, NTM_FIELD_CLIENT_MACS, "an array of strings");
    if (a->child == NULL)
        return NTM_ACCEPT;

    uint8_t key[16], mac[6];
    if (opts->mac_key == NULL ||
        opts->mac_key(opts->mac_key_arg, ntm_local_day(out->ts), key) != 0) {
        explicit_bzero(key, sizeof key);
        return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_VALUE,
                               "no MAC hashing key for local day %lld (client_macs)",
                               (long long)ntm_local_day(out->ts));
    }

    enum ntm_reject r = NTM_ACCEPT;
    uint32_t n = 0;
    for (const cJSON *e = a->child; e != NULL; e = e->next, n++) {
        if (n == NTM_MACS_MAX) {
            r = ntm_ingest_fail(c->why, c->whylen, NTM_REJ_VALUE,
                                "field 'client_macs' has more than %d entries", NTM_MACS_MAX);
            break;
        }
        if (!NTM_JSON_IS_STRING(e)) {
            r = ntm_ingest_fail(c->why, c->whylen, NTM_REJ_TYPE,
                                "client_macs[%u] must be a string, got %s", (unsigned)n,
                                ntm_ingest_json_type_name(e));
            break;
        }
        if (ntm_mac_parse(e->valuestring, strnlen(e->valuestring, 18), mac) != 0) {
            r = ntm_ingest_fail(c->why, c->whylen, NTM_REJ_VALUE,
                                "client_macs[%u] is not a MAC address", (unsigned)n);
            break;
        }
        out->u.wifi.mac_hash[n] = ntm_mac_hash(key, mac);
    }
    explicit_bzero(key, sizeof key);
    explicit_bzero(mac, sizeof mac);
    if (r == NTM_ACCEPT)
        out->u.wifi.n_macs = n;
    return r;
}

static enum ntm_reject parse_wifi_stats(struct ntm_payload_ctx *c,
                                        const struct ntm_ingest_opts *opts, struct ntm_record *out)
{
    enum ntm_reject r;
    if ((r = ntm_ingest_get_count(c, NTM_FIELD_CLIENTS, true, &out->u.wifi.clients)) !=
            NTM_ACCEPT ||
        (r = ntm_ingest_get_count(c, NTM_FIELD_NEW_SESSIONS, true, &out->u.wifi.new_sessions)) !=
            NTM_ACCEPT ||
        (r = ntm_ingest_get_count(c, NTM_FIELD_RX_BYTES, true, &out->u.wifi.rx_bytes)) !=
            NTM_ACCEPT ||
        (r = ntm_ingest_get_count(c, NTM_FIELD_TX_BYTES, true, &out->u.wifi.tx_bytes)) !=
            NTM_ACCEPT)
        return r;
    return parse_client_macs(c, opts, out);
}

/* Overwrites the MAC strings that cJSON copied out of the payload before the
 * tree is freed, so that no raw MAC lingers in freed heap memory. */
void ntm_ingest_wipe_macs(const cJSON *a)
{
    if (a == NULL || !NTM_JSON_IS_ARRAY(a))
        return;
    for (const cJSON *e = a->child; e != NULL; e = e->next)
        if (NTM_JSON_IS_STRING(e))
            explicit_bzero(e->valuestring, strlen(e->valuestring));
}

enum ntm_reject ntm_ingest_parse_fields(struct ntm_payload_ctx *c, const struct ntm_topic *topic,
                                        int64_t now_ms, const struct ntm_ingest_opts *opts,
                                        struct ntm_record *out)
{
    enum ntm_reject r = parse_ts(c, now_ms, out);
    if (r != NTM_ACCEPT)
        return r;
    switch (topic->channel) {
    case NTM_CH_STATE:
        out->u.state.online = false;
        return ntm_ingest_get_bool(c, NTM_FIELD_ONLINE, true, &out->u.state.online);
    case NTM_CH_HEARTBEAT:
        return parse_heartbeat(c, out);
    case NTM_CH_EVENT:
        return topic->kind == NTM_KIND_SPEAKER ? parse_speaker_event(c, out)
                                               : parse_camera_event(c, out);
    default: /* NTM_CH_STATS */
        return topic->kind == NTM_KIND_CAMERA ? parse_camera_stats(c, out)
                                              : parse_wifi_stats(c, opts, out);
    }
}
