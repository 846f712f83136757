/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ingest_payload.c: a payload once parsed as JSON: the fields the device
 * contract knows (looked up once each), the typed getters that check a field's
 * type and range and say in the `why` what was wrong, and what each channel must
 * hold (state, heartbeat, speaker and camera events, camera and Wi-Fi stats),
 * normalized into struct ntm_record: the device ts or the receive time,
 * defaults, client MACs replaced by their keyed hashes. One file so that the
 * getters inline into the channels' parsers. Pure: no I/O, no logging, no globals. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ingest_impl.h"

/* Counters and uptime are integers that a double holds exactly. */
#define NTM_INT_MAX_EXACT 9007199254740992.0 /* 2^53 */

/* cJSON's type tests, inline (the library's own are calls into the .so) */
#define NTM_JSON_TYPE(j) ((j)->type & 0xff)
#define NTM_JSON_IS_NUMBER(j) (NTM_JSON_TYPE(j) == cJSON_Number)
#define NTM_JSON_IS_STRING(j) (NTM_JSON_TYPE(j) == cJSON_String && (j)->valuestring != NULL)
#define NTM_JSON_IS_BOOL(j) (NTM_JSON_TYPE(j) == cJSON_True || NTM_JSON_TYPE(j) == cJSON_False)
#define NTM_JSON_IS_ARRAY(j) (NTM_JSON_TYPE(j) == cJSON_Array)
#define NTM_JSON_IS_OBJECT(j) (NTM_JSON_TYPE(j) == cJSON_Object)

struct ntm_payload_ctx {
    const cJSON *f[NTM_FIELD_COUNT]; /* the first member of each known name, or NULL */
    char *why;
    size_t whylen;
    bool clock_trusted;
};

/* ---- the fields ---- */

const char *const ntm_ingest_field_names[NTM_FIELD_COUNT] = {
    [NTM_FIELD_TS] = "ts",
    [NTM_FIELD_ONLINE] = "online",
    [NTM_FIELD_INTERVAL_S] = "interval_s",
    [NTM_FIELD_UPTIME_S] = "uptime_s",
    [NTM_FIELD_TYPE] = "type",
    [NTM_FIELD_START] = "start",
    [NTM_FIELD_DURATION_S] = "duration_s",
    [NTM_FIELD_RESULT] = "result",
    [NTM_FIELD_PRIORITY] = "priority",
    [NTM_FIELD_SOURCE] = "source",
    [NTM_FIELD_PROGRAM] = "program",
    [NTM_FIELD_FAULT] = "fault",
    [NTM_FIELD_RECORDING] = "recording",
    [NTM_FIELD_STORAGE_FREE_PCT] = "storage_free_pct",
    [NTM_FIELD_CLIENTS] = "clients",
    [NTM_FIELD_NEW_SESSIONS] = "new_sessions",
    [NTM_FIELD_RX_BYTES] = "rx_bytes",
    [NTM_FIELD_TX_BYTES] = "tx_bytes",
    [NTM_FIELD_CLIENT_MACS] = "client_macs",
};

/* One switch on the first byte, then at most three strcmp: the members of a
 * payload are each looked up once. */
static inline int field_index(const char *k)
{
#define RETURN_IF_NAMED(name, f)                                                                   \
    if (strcmp(k + 1, (name) + 1) == 0)                                                            \
    return (f)
    if (k == NULL)
        return -1;
    switch (k[0]) {
    case 'c':
        RETURN_IF_NAMED("clients", NTM_FIELD_CLIENTS);
        RETURN_IF_NAMED("client_macs", NTM_FIELD_CLIENT_MACS);
        break;
    case 'd':
        RETURN_IF_NAMED("duration_s", NTM_FIELD_DURATION_S);
        break;
    case 'f':
        RETURN_IF_NAMED("fault", NTM_FIELD_FAULT);
        break;
    case 'i':
        RETURN_IF_NAMED("interval_s", NTM_FIELD_INTERVAL_S);
        break;
    case 'n':
        RETURN_IF_NAMED("new_sessions", NTM_FIELD_NEW_SESSIONS);
        break;
    case 'o':
        RETURN_IF_NAMED("online", NTM_FIELD_ONLINE);
        break;
    case 'p':
        RETURN_IF_NAMED("priority", NTM_FIELD_PRIORITY);
        RETURN_IF_NAMED("program", NTM_FIELD_PROGRAM);
        break;
    case 'r':
        RETURN_IF_NAMED("result", NTM_FIELD_RESULT);
        RETURN_IF_NAMED("recording", NTM_FIELD_RECORDING);
        RETURN_IF_NAMED("rx_bytes", NTM_FIELD_RX_BYTES);
        break;
    case 's':
        RETURN_IF_NAMED("start", NTM_FIELD_START);
        RETURN_IF_NAMED("source", NTM_FIELD_SOURCE);
        RETURN_IF_NAMED("storage_free_pct", NTM_FIELD_STORAGE_FREE_PCT);
        break;
    case 't':
        if (k[1] == 's' && k[2] == '\0')
            return NTM_FIELD_TS;
        RETURN_IF_NAMED("type", NTM_FIELD_TYPE);
        RETURN_IF_NAMED("tx_bytes", NTM_FIELD_TX_BYTES);
        break;
    case 'u':
        RETURN_IF_NAMED("uptime_s", NTM_FIELD_UPTIME_S);
        break;
    }
    return -1;
#undef RETURN_IF_NAMED
}

int ntm_ingest_field_index(const char *name)
{
    return field_index(name);
}

/* Sets c->f[] to the first member of each known name in the object. */
static void find_fields(struct ntm_payload_ctx *c, const cJSON *object)
{
    for (const cJSON *m = object->child; m != NULL; m = m->next) {
        int f = field_index(m->string);
        if (f >= 0 && c->f[f] == NULL) /* first of duplicate names wins */
            c->f[f] = m;
    }
}

static const char *json_type_name(const cJSON *v)
{
    if (NTM_JSON_TYPE(v) == cJSON_String)
        return "a string";
    if (NTM_JSON_IS_NUMBER(v))
        return "a number";
    if (NTM_JSON_IS_BOOL(v))
        return "a boolean";
    if (NTM_JSON_TYPE(v) == cJSON_NULL)
        return "null";
    if (NTM_JSON_IS_ARRAY(v))
        return "an array";
    if (NTM_JSON_IS_OBJECT(v))
        return "an object";
    return "an invalid value";
}

static enum ntm_reject missing(struct ntm_payload_ctx *c, enum ntm_ingest_field f)
{
    return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_MISSING, "missing required field '%s'",
                           ntm_ingest_field_names[f]);
}

static enum ntm_reject wrong_type(struct ntm_payload_ctx *c, enum ntm_ingest_field f,
                                  const char *want)
{
    return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_TYPE, "field '%s' must be %s, got %s",
                           ntm_ingest_field_names[f], want, json_type_name(c->f[f]));
}

/* Each get_* leaves *v alone when the field is absent and not required. */

static enum ntm_reject get_bool(struct ntm_payload_ctx *c, enum ntm_ingest_field f, bool required,
                                bool *v)
{
    const cJSON *j = c->f[f];
    if (j == NULL)
        return required ? missing(c, f) : NTM_ACCEPT;
    if (!NTM_JSON_IS_BOOL(j))
        return wrong_type(c, f, "a boolean");
    *v = NTM_JSON_TYPE(j) == cJSON_True;
    return NTM_ACCEPT;
}

/* A finite number in [min, max]; integral too when `integer`. */
static enum ntm_reject get_number(struct ntm_payload_ctx *c, enum ntm_ingest_field f, bool required,
                                  double min, double max, bool integer, double *v)
{
    const cJSON *j = c->f[f];
    if (j == NULL)
        return required ? missing(c, f) : NTM_ACCEPT;
    if (!NTM_JSON_IS_NUMBER(j))
        return wrong_type(c, f, "a number");
    const double d = j->valuedouble;
    const char *what = integer ? "an integer" : "a number";
    if (isfinite(d) && d >= min && d <= max && (!integer || d == floor(d))) {
        *v = d + 0.0; /* no -0 */
        return NTM_ACCEPT;
    }
    if (max < NTM_INT_MAX_EXACT)
        return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_VALUE,
                               "field '%s' must be %s from %.15g to %.15g, got %.15g",
                               ntm_ingest_field_names[f], what, min, max, d);
    if (d > max)
        return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_VALUE,
                               "field '%s' must be at most 2^53, got %.15g",
                               ntm_ingest_field_names[f], d);
    return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_VALUE,
                           "field '%s' must be %s >= %.15g, got %.15g", ntm_ingest_field_names[f],
                           what, min, d);
}

static enum ntm_reject get_count(struct ntm_payload_ctx *c, enum ntm_ingest_field f, bool required,
                                 int64_t *v)
{
    double d;
    enum ntm_reject r = get_number(c, f, required, 0, NTM_INT_MAX_EXACT, true, &d);
    if (r == NTM_ACCEPT && c->f[f] != NULL)
        *v = (int64_t)d;
    return r;
}

/* A string that is one of name(0..n): its index in *v. */
static enum ntm_reject get_enum(struct ntm_payload_ctx *c, enum ntm_ingest_field f, bool required,
                                const char *(*name)(int), int first, int n, int *v)
{
    const cJSON *j = c->f[f];
    if (j == NULL)
        return required ? missing(c, f) : NTM_ACCEPT;
    if (!NTM_JSON_IS_STRING(j))
        return wrong_type(c, f, "a string");
    const char *s = j->valuestring;
    for (int i = first; i < n; i++)
        if (strcmp(s, name(i)) == 0) {
            *v = i;
            return NTM_ACCEPT;
        }
    /* "played, interrupted or failed" */
    char list[96], e[NTM_INGEST_ECHO_BUF];
    size_t o = 0;
    list[0] = '\0';
    for (int i = first; i < n && o < sizeof list; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
                              i == first   ? ""
                              : i + 1 == n ? " or "
                                           : ", ",
                              name(i));
    return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_VALUE, "field '%s' must be %s, got '%s'",
                           ntm_ingest_field_names[f], list, ntm_ingest_echo(e, s, strlen(s)));
}

/* ---- the channels ---- */

/* The record.h names by index, for get_enum(). */
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
        return wrong_type(c, NTM_FIELD_TS, "a number");
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
    enum ntm_reject r = get_number(c, NTM_FIELD_INTERVAL_S, false, 1, NTM_HEARTBEAT_INTERVAL_MAX_S,
                                   true, &interval);
    if (r != NTM_ACCEPT)
        return r;
    out->u.heartbeat.interval_s = (int32_t)interval;
    return get_count(c, NTM_FIELD_UPTIME_S, false, &out->u.heartbeat.uptime_s);
}

static enum ntm_reject parse_speaker_event(struct ntm_payload_ctx *c, struct ntm_record *out)
{
    int type = 0;
    enum ntm_reject r =
        get_enum(c, NTM_FIELD_TYPE, true, event_name_i, NTM_EV_BROADCAST, NTM_EV_FAULT + 1, &type);
    if (r != NTM_ACCEPT)
        return r;
    out->event = (uint8_t)type;

    if (type == NTM_EV_FAULT) {
        int fault = NTM_FAULT_OTHER;
        r = get_enum(c, NTM_FIELD_FAULT, false, fault_name_i, 0, NTM_FAULT_COUNT, &fault);
        out->u.fault.fault = (uint8_t)fault;
        return r;
    }

    double start = 0, duration = 0;
    int result = 0, priority = NTM_PRIO_NORMAL, source = NTM_SRC_OTHER;
    if ((r = get_number(c, NTM_FIELD_START, true, 0, NTM_INT_MAX_EXACT, false, &start)) !=
            NTM_ACCEPT ||
        (r = get_number(c, NTM_FIELD_DURATION_S, true, 0, NTM_INT_MAX_EXACT, false, &duration)) !=
            NTM_ACCEPT ||
        (r = get_enum(c, NTM_FIELD_RESULT, true, result_name_i, 0, NTM_RESULT_COUNT, &result)) !=
            NTM_ACCEPT ||
        (r = get_enum(c, NTM_FIELD_PRIORITY, false, priority_name_i, 0, NTM_PRIO_COUNT,
                      &priority)) != NTM_ACCEPT ||
        (r = get_enum(c, NTM_FIELD_SOURCE, false, source_name_i, 0, NTM_SRC_COUNT, &source)) !=
            NTM_ACCEPT)
        return r;
    out->u.broadcast.start = (int64_t)floor(start);
    out->u.broadcast.duration_s = duration;
    out->u.broadcast.result = (uint8_t)result;
    out->u.broadcast.priority = (uint8_t)priority;
    out->u.broadcast.source = (uint8_t)source;

    const cJSON *p = c->f[NTM_FIELD_PROGRAM];
    if (p != NULL) {
        if (!NTM_JSON_IS_STRING(p))
            return wrong_type(c, NTM_FIELD_PROGRAM, "a string");
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
    enum ntm_reject r = get_enum(c, NTM_FIELD_TYPE, true, event_name_i, NTM_EV_MOTION,
                                 NTM_EV_STORAGE_ERROR + 1, &type);
    if (r != NTM_ACCEPT)
        return r;
    out->event = (uint8_t)type;
    out->u.camera_event.duration_s = -1;
    return get_number(c, NTM_FIELD_DURATION_S, false, 0, NTM_INT_MAX_EXACT, false,
                      &out->u.camera_event.duration_s);
}

static enum ntm_reject parse_camera_stats(struct ntm_payload_ctx *c, struct ntm_record *out)
{
    out->u.camera_stats.recording = false;
    out->u.camera_stats.storage_free_pct = -1;
    enum ntm_reject r = get_bool(c, NTM_FIELD_RECORDING, true, &out->u.camera_stats.recording);
    if (r != NTM_ACCEPT)
        return r;
    return get_number(c, NTM_FIELD_STORAGE_FREE_PCT, false, 0, 100, false,
                      &out->u.camera_stats.storage_free_pct);
}

static enum ntm_reject parse_client_macs(struct ntm_payload_ctx *c,
                                         const struct ntm_ingest_opts *opts, struct ntm_record *out)
{
    const cJSON *a = c->f[NTM_FIELD_CLIENT_MACS];
    if (a == NULL)
        return NTM_ACCEPT;
    if (!NTM_JSON_IS_ARRAY(a))
        return wrong_type(c, NTM_FIELD_CLIENT_MACS, "an array of strings");
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
                                json_type_name(e));
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
    if ((r = get_count(c, NTM_FIELD_CLIENTS, true, &out->u.wifi.clients)) != NTM_ACCEPT ||
        (r = get_count(c, NTM_FIELD_NEW_SESSIONS, true, &out->u.wifi.new_sessions)) != NTM_ACCEPT ||
        (r = get_count(c, NTM_FIELD_RX_BYTES, true, &out->u.wifi.rx_bytes)) != NTM_ACCEPT ||
        (r = get_count(c, NTM_FIELD_TX_BYTES, true, &out->u.wifi.tx_bytes)) != NTM_ACCEPT)
        return r;
    return parse_client_macs(c, opts, out);
}

/* Overwrites the MAC strings that cJSON copied out of the payload before the
 * tree is freed, so that no raw MAC lingers in freed heap memory. */
static void wipe_macs(const cJSON *a)
{
    if (a == NULL || !NTM_JSON_IS_ARRAY(a))
        return;
    for (const cJSON *e = a->child; e != NULL; e = e->next)
        if (NTM_JSON_IS_STRING(e))
            explicit_bzero(e->valuestring, strlen(e->valuestring));
}

static enum ntm_reject parse_fields(struct ntm_payload_ctx *c, const struct ntm_topic *topic,
                                    int64_t now_ms, const struct ntm_ingest_opts *opts,
                                    struct ntm_record *out)
{
    enum ntm_reject r = parse_ts(c, now_ms, out);
    if (r != NTM_ACCEPT)
        return r;
    switch (topic->channel) {
    case NTM_CH_STATE:
        out->u.state.online = false;
        return get_bool(c, NTM_FIELD_ONLINE, true, &out->u.state.online);
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

enum ntm_reject ntm_ingest_parse_object(const cJSON *root, const struct ntm_topic *topic,
                                        int64_t now_ms, const struct ntm_ingest_opts *opts,
                                        struct ntm_record *out, char *why, size_t whylen)
{
    struct ntm_payload_ctx c = {.why = why, .whylen = whylen, .clock_trusted = opts->clock_trusted};
    enum ntm_reject r;
    if (!NTM_JSON_IS_OBJECT(root)) {
        r = ntm_ingest_fail(why, whylen, NTM_REJ_NOT_OBJECT, "payload is %s, not a JSON object",
                            json_type_name(root));
    } else {
        find_fields(&c, root);
        r = parse_fields(&c, topic, now_ms, opts, out);
    }
    wipe_macs(c.f[NTM_FIELD_CLIENT_MACS]);
    return r;
}
