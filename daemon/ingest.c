/* ingest.c: owns the daemon side of the device message contract (devices.md):
 * topic syntax, payload validation and normalization into struct ntm_record,
 * and the keyed hashing of client MACs. Pure: no I/O, no logging, no globals. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ingest.h"
#include "siphash.h"

/* Longest part of a value quoted in a `why` (device-controlled bytes). */
#define ECHO_MAX 40
/* Counters and uptime are integers that a double holds exactly. */
#define NTM_INT_MAX_EXACT 9007199254740992.0 /* 2^53 */

static const char *const reject_names[NTM_REJ_COUNT] = {
    "accepted",   "bad_topic",     "unknown_village", "bad_channel", "too_large",      "not_json",
    "not_object", "missing_field", "wrong_type",      "bad_value",   "device_conflict"};

const char *ntm_reject_name(enum ntm_reject r)
{
    return (unsigned)r < NTM_REJ_COUNT ? reject_names[r] : "unknown";
}

/* ---- `why` ---------------------------------------------------------------- */

__attribute__((format(printf, 4, 5))) static enum ntm_reject
fail(char *why, size_t whylen, enum ntm_reject r, const char *fmt, ...)
{
    if (why != NULL && whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return r;
}

/* Copies at most ECHO_MAX bytes of a device-controlled value into buf for
 * quoting in a `why`: bytes outside printable ASCII (and quotes, backslashes)
 * become '?', anything that parses as a MAC address becomes "<mac>", and a
 * longer value ends in "...". Only used on the rejection path. */
#define ECHO_BUF (ECHO_MAX + 16) /* "<mac>" may end past ECHO_MAX, then "..." */
static const char *echo(char buf[ECHO_BUF], const char *s, size_t len)
{
    size_t o = 0, i = 0;
    while (i < len && i < ECHO_MAX) {
        uint8_t mac[6];
        if (len - i >= 17 && ntm_mac_parse(s + i, 17, mac) == 0) {
            explicit_bzero(mac, sizeof mac);
            memcpy(buf + o, "<mac>", 5);
            o += 5;
            i += 17;
            continue;
        }
        unsigned char c = (unsigned char)s[i++];
        buf[o++] = (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') ? (char)c : '?';
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* ---- topic ---------------------------------------------------------------- */

/* Whether a kind has a channel (devices.md: a speaker has no stats, a wifi
 * access point no event). Bit c set = channel c exists. */
static const uint8_t kind_channels[NTM_KIND_COUNT] = {
    [NTM_KIND_SPEAKER] = 1u << NTM_CH_STATE | 1u << NTM_CH_HEARTBEAT | 1u << NTM_CH_EVENT,
    [NTM_KIND_CAMERA] =
        1u << NTM_CH_STATE | 1u << NTM_CH_HEARTBEAT | 1u << NTM_CH_EVENT | 1u << NTM_CH_STATS,
    [NTM_KIND_WIFI] = 1u << NTM_CH_STATE | 1u << NTM_CH_HEARTBEAT | 1u << NTM_CH_STATS,
};

static bool kind_has_channel(unsigned kind, unsigned channel)
{
    return kind < NTM_KIND_COUNT && channel < NTM_CH_COUNT &&
           (kind_channels[kind] >> channel & 1u) != 0;
}

static enum ntm_reject channel_missing(unsigned kind, unsigned channel, char *why, size_t whylen)
{
    if (kind >= NTM_KIND_COUNT || channel >= NTM_CH_COUNT)
        return fail(why, whylen, NTM_REJ_CHANNEL, "kind %u has no channel %u", kind, channel);
    char list[48];
    size_t o = 0;
    for (unsigned c = 0; c < NTM_CH_COUNT; c++)
        if (kind_has_channel(kind, c))
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "",
                                  ntm_channel_name((enum ntm_channel)c));
    return fail(why, whylen, NTM_REJ_CHANNEL, "a %s has no '%s' channel (only %s)",
                ntm_kind_name((enum ntm_kind)kind), ntm_channel_name((enum ntm_channel)channel),
                list);
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

static const char *kind_name_i(int i)
{
    return ntm_kind_name((enum ntm_kind)i);
}
static const char *channel_name_i(int i)
{
    return ntm_channel_name((enum ntm_channel)i);
}
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

enum ntm_reject ntm_topic_parse(const char *topic, size_t len, struct ntm_topic *out, char *why,
                                size_t whylen)
{
    char e[ECHO_BUF];
    const char *part[6];
    size_t plen[6];
    size_t n = 0;

    memset(out, 0, sizeof *out);
    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (topic == NULL || len == 0)
        return fail(why, whylen, NTM_REJ_TOPIC, "topic does not start with ntm/v1/");

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
        return fail(why, whylen, NTM_REJ_TOPIC, "topic does not start with ntm/v1/");
    if (n != 6)
        return fail(why, whylen, NTM_REJ_TOPIC,
                    "topic has %zu levels, not 6 (ntm/v1/<village>/<kind>/<device>/<channel>)", n);

    /* village */
    if (plen[2] == 0)
        return fail(why, whylen, NTM_REJ_TOPIC, "village id is empty");
    if (plen[2] > NTM_VILLAGE_ID_MAX)
        return fail(why, whylen, NTM_REJ_TOPIC, "village id is %zu characters, more than %d",
                    plen[2], NTM_VILLAGE_ID_MAX);
    if (ntm_village_id_span(part[2], plen[2]) != plen[2])
        return fail(why, whylen, NTM_REJ_TOPIC, "village id '%s' has a character outside [a-z0-9-]",
                    echo(e, part[2], plen[2]));

    /* kind */
    int kind = match_name(part[3], plen[3], kind_name_i, NTM_KIND_COUNT);
    if (kind < 0)
        return fail(why, whylen, NTM_REJ_TOPIC, "kind '%s' is not speaker, camera or wifi",
                    echo(e, part[3], plen[3]));

    /* device */
    if (plen[4] == 0)
        return fail(why, whylen, NTM_REJ_TOPIC, "device id is empty");
    if (plen[4] > NTM_DEVICE_ID_MAX)
        return fail(why, whylen, NTM_REJ_TOPIC, "device id is %zu characters, more than %d",
                    plen[4], NTM_DEVICE_ID_MAX);
    if (ntm_device_id_span(part[4], plen[4]) != plen[4])
        return fail(why, whylen, NTM_REJ_TOPIC,
                    "device id '%s' has a character outside [A-Za-z0-9_.-]",
                    echo(e, part[4], plen[4]));

    /* channel */
    int channel = match_name(part[5], plen[5], channel_name_i, NTM_CH_COUNT);
    if (channel < 0)
        return fail(why, whylen, NTM_REJ_TOPIC,
                    "channel '%s' is not state, heartbeat, event or stats",
                    echo(e, part[5], plen[5]));

    memcpy(out->village, part[2], plen[2]);
    memcpy(out->device, part[4], plen[4]);
    out->kind = (uint8_t)kind;
    out->channel = (uint8_t)channel;
    if (!kind_has_channel((unsigned)kind, (unsigned)channel))
        return channel_missing((unsigned)kind, (unsigned)channel, why, whylen);
    return NTM_ACCEPT;
}

/* ---- MAC addresses -------------------------------------------------------- */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* lower case */
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int ntm_mac_parse(const char *s, size_t len, uint8_t mac[6])
{
    if (s == NULL || len != 17)
        return -1;
    const char sep = s[2];
    if (sep != ':' && sep != '-')
        return -1;
    for (int i = 0; i < 6; i++) {
        const char *p = s + 3 * i;
        if (i > 0 && p[-1] != sep)
            return -1;
        int hi = hexval((unsigned char)p[0]), lo = hexval((unsigned char)p[1]);
        if (hi < 0 || lo < 0)
            return -1;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

uint64_t ntm_mac_hash(const uint8_t key[16], const uint8_t mac[6])
{
    return ntm_siphash24(key, mac, 6);
}

/* ---- payload -------------------------------------------------------------- */

/* Offset of the first byte that makes `s` not acceptable as UTF-8 JSON text
 * (invalid UTF-8: overlong, surrogate, above U+10FFFF, truncated; a NUL
 * byte; a \u0000 escape, which would silently cut a C string short), or n
 * when there is none. `what` says which. cJSON checks none of these. */
static size_t text_problem(const uint8_t *s, size_t n, const char **what)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    const uint64_t bslash = ones * '\\';
    size_t i = 0;

    while (i < n) {
        /* fast path: 8 bytes of ASCII without NUL or backslash at a time */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            uint64_t wb = w ^ bslash;
            if (((w | ((w - ones) & ~w) | ((wb - ones) & ~wb)) & highs) != 0)
                break;
            i += 8;
        }
        if (i >= n)
            break;

        const uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0) {
                *what = "a NUL byte";
                return i;
            }
            if (c == '\\' && i + 1 < n && s[i + 1] < 0x80) {
                if (s[i + 1] == 'u' && n - i >= 6 && memcmp(s + i + 2, "0000", 4) == 0) {
                    *what = "an escaped NUL (\\u0000)";
                    return i;
                }
                i += 2; /* so that the escaped byte is not read as an escape */
                continue;
            }
            i++;
            continue;
        }

        /* multi-byte sequence: lead byte, allowed range of the 2nd byte */
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            *what = "invalid UTF-8";
            return i;
        }
        if (n - i <= need || s[i + 1] < lo || s[i + 1] > hi) {
            *what = "invalid UTF-8";
            return i;
        }
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xc0) != 0x80) {
                *what = "invalid UTF-8";
                return i;
            }
        i += need + 1;
    }
    return n;
}

/* The payload fields this contract knows, looked up in one pass. */
enum field {
    F_TS,
    F_ONLINE,
    F_INTERVAL_S,
    F_UPTIME_S,
    F_TYPE,
    F_START,
    F_DURATION_S,
    F_RESULT,
    F_PRIORITY,
    F_SOURCE,
    F_PROGRAM,
    F_FAULT,
    F_RECORDING,
    F_STORAGE_FREE_PCT,
    F_CLIENTS,
    F_NEW_SESSIONS,
    F_RX_BYTES,
    F_TX_BYTES,
    F_CLIENT_MACS,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    [F_TS] = "ts",
    [F_ONLINE] = "online",
    [F_INTERVAL_S] = "interval_s",
    [F_UPTIME_S] = "uptime_s",
    [F_TYPE] = "type",
    [F_START] = "start",
    [F_DURATION_S] = "duration_s",
    [F_RESULT] = "result",
    [F_PRIORITY] = "priority",
    [F_SOURCE] = "source",
    [F_PROGRAM] = "program",
    [F_FAULT] = "fault",
    [F_RECORDING] = "recording",
    [F_STORAGE_FREE_PCT] = "storage_free_pct",
    [F_CLIENTS] = "clients",
    [F_NEW_SESSIONS] = "new_sessions",
    [F_RX_BYTES] = "rx_bytes",
    [F_TX_BYTES] = "tx_bytes",
    [F_CLIENT_MACS] = "client_macs",
};

/* One switch on the first byte, then at most three strcmp: the members of a
 * payload are each looked up once. */
static int field_index(const char *k)
{
#define IS(name, f)                                                                                \
    if (strcmp(k + 1, (name) + 1) == 0)                                                            \
    return (f)
    if (k == NULL)
        return -1;
    switch (k[0]) {
    case 'c':
        IS("clients", F_CLIENTS);
        IS("client_macs", F_CLIENT_MACS);
        break;
    case 'd':
        IS("duration_s", F_DURATION_S);
        break;
    case 'f':
        IS("fault", F_FAULT);
        break;
    case 'i':
        IS("interval_s", F_INTERVAL_S);
        break;
    case 'n':
        IS("new_sessions", F_NEW_SESSIONS);
        break;
    case 'o':
        IS("online", F_ONLINE);
        break;
    case 'p':
        IS("priority", F_PRIORITY);
        IS("program", F_PROGRAM);
        break;
    case 'r':
        IS("result", F_RESULT);
        IS("recording", F_RECORDING);
        IS("rx_bytes", F_RX_BYTES);
        break;
    case 's':
        IS("start", F_START);
        IS("source", F_SOURCE);
        IS("storage_free_pct", F_STORAGE_FREE_PCT);
        break;
    case 't':
        if (k[1] == 's' && k[2] == '\0')
            return F_TS;
        IS("type", F_TYPE);
        IS("tx_bytes", F_TX_BYTES);
        break;
    case 'u':
        IS("uptime_s", F_UPTIME_S);
        break;
    }
    return -1;
#undef IS
}

/* cJSON's type tests, inline (the library's own are calls into the .so) */
#define J_TYPE(j) ((j)->type & 0xff)
#define J_IS_NUMBER(j) (J_TYPE(j) == cJSON_Number)
#define J_IS_STRING(j) (J_TYPE(j) == cJSON_String && (j)->valuestring != NULL)
#define J_IS_BOOL(j) (J_TYPE(j) == cJSON_True || J_TYPE(j) == cJSON_False)
#define J_IS_ARRAY(j) (J_TYPE(j) == cJSON_Array)
#define J_IS_OBJECT(j) (J_TYPE(j) == cJSON_Object)

struct ctx {
    const cJSON *f[F_COUNT]; /* the first member of each known name, or NULL */
    char *why;
    size_t whylen;
    bool clock_trusted;
};

static const char *json_type_name(const cJSON *v)
{
    if (J_TYPE(v) == cJSON_String)
        return "a string";
    if (J_IS_NUMBER(v))
        return "a number";
    if (J_IS_BOOL(v))
        return "a boolean";
    if (J_TYPE(v) == cJSON_NULL)
        return "null";
    if (J_IS_ARRAY(v))
        return "an array";
    if (J_IS_OBJECT(v))
        return "an object";
    return "an invalid value";
}

static enum ntm_reject missing(struct ctx *c, enum field f)
{
    return fail(c->why, c->whylen, NTM_REJ_MISSING, "missing required field '%s'", field_names[f]);
}

static enum ntm_reject wrong_type(struct ctx *c, enum field f, const char *want)
{
    return fail(c->why, c->whylen, NTM_REJ_TYPE, "field '%s' must be %s, got %s", field_names[f],
                want, json_type_name(c->f[f]));
}

/* Each get_* leaves *v alone when the field is absent and not required. */

static enum ntm_reject get_bool(struct ctx *c, enum field f, bool required, bool *v)
{
    const cJSON *j = c->f[f];
    if (j == NULL)
        return required ? missing(c, f) : NTM_ACCEPT;
    if (!J_IS_BOOL(j))
        return wrong_type(c, f, "a boolean");
    *v = J_TYPE(j) == cJSON_True;
    return NTM_ACCEPT;
}

/* A finite number in [min, max]; integral too when `integer`. */
static enum ntm_reject get_number(struct ctx *c, enum field f, bool required, double min,
                                  double max, bool integer, double *v)
{
    const cJSON *j = c->f[f];
    if (j == NULL)
        return required ? missing(c, f) : NTM_ACCEPT;
    if (!J_IS_NUMBER(j))
        return wrong_type(c, f, "a number");
    const double d = j->valuedouble;
    const char *what = integer ? "an integer" : "a number";
    if (isfinite(d) && d >= min && d <= max && (!integer || d == floor(d))) {
        *v = d + 0.0; /* no -0 */
        return NTM_ACCEPT;
    }
    if (max < NTM_INT_MAX_EXACT)
        return fail(c->why, c->whylen, NTM_REJ_VALUE,
                    "field '%s' must be %s from %.15g to %.15g, got %.15g", field_names[f], what,
                    min, max, d);
    if (d > max)
        return fail(c->why, c->whylen, NTM_REJ_VALUE, "field '%s' must be at most 2^53, got %.15g",
                    field_names[f], d);
    return fail(c->why, c->whylen, NTM_REJ_VALUE, "field '%s' must be %s >= %.15g, got %.15g",
                field_names[f], what, min, d);
}

static enum ntm_reject get_count(struct ctx *c, enum field f, bool required, int64_t *v)
{
    double d;
    enum ntm_reject r = get_number(c, f, required, 0, NTM_INT_MAX_EXACT, true, &d);
    if (r == NTM_ACCEPT && c->f[f] != NULL)
        *v = (int64_t)d;
    return r;
}

/* A string that is one of name(0..n): its index in *v. */
static enum ntm_reject get_enum(struct ctx *c, enum field f, bool required,
                                const char *(*name)(int), int first, int n, int *v)
{
    const cJSON *j = c->f[f];
    if (j == NULL)
        return required ? missing(c, f) : NTM_ACCEPT;
    if (!J_IS_STRING(j))
        return wrong_type(c, f, "a string");
    const char *s = j->valuestring;
    for (int i = first; i < n; i++)
        if (strcmp(s, name(i)) == 0) {
            *v = i;
            return NTM_ACCEPT;
        }
    /* "played, interrupted or failed" */
    char list[96], e[ECHO_BUF];
    size_t o = 0;
    list[0] = '\0';
    for (int i = first; i < n && o < sizeof list; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
                              i == first   ? ""
                              : i + 1 == n ? " or "
                                           : ", ",
                              name(i));
    return fail(c->why, c->whylen, NTM_REJ_VALUE, "field '%s' must be %s, got '%s'", field_names[f],
                list, echo(e, s, strlen(s)));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static enum ntm_reject parse_ts(struct ctx *c, int64_t now_ms, struct ntm_record *out)
{
    const cJSON *j = c->f[F_TS];
    if (j != NULL && !J_IS_NUMBER(j))
        return wrong_type(c, F_TS, "a number");
    /* missing, never set (before 2024) or too far ahead: receive time. How far
     * is too far depends on what the gateway's own clock is worth: with a
     * synchronized clock, the contract's 10 minutes; with a set but
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

static enum ntm_reject parse_heartbeat(struct ctx *c, struct ntm_record *out)
{
    double interval = 60;
    out->u.heartbeat.interval_s = 60;
    out->u.heartbeat.uptime_s = -1;
    enum ntm_reject r = get_number(c, F_INTERVAL_S, false, 1, 86400, true, &interval);
    if (r != NTM_ACCEPT)
        return r;
    out->u.heartbeat.interval_s = (int32_t)interval;
    return get_count(c, F_UPTIME_S, false, &out->u.heartbeat.uptime_s);
}

static enum ntm_reject parse_speaker_event(struct ctx *c, struct ntm_record *out)
{
    int type = 0;
    enum ntm_reject r =
        get_enum(c, F_TYPE, true, event_name_i, NTM_EV_BROADCAST, NTM_EV_FAULT + 1, &type);
    if (r != NTM_ACCEPT)
        return r;
    out->event = (uint8_t)type;

    if (type == NTM_EV_FAULT) {
        int fault = NTM_FAULT_OTHER;
        r = get_enum(c, F_FAULT, false, fault_name_i, 0, NTM_FAULT_COUNT, &fault);
        out->u.fault.fault = (uint8_t)fault;
        return r;
    }

    double start = 0, duration = 0;
    int result = 0, priority = NTM_PRIO_NORMAL, source = NTM_SRC_OTHER;
    if ((r = get_number(c, F_START, true, 0, NTM_INT_MAX_EXACT, false, &start)) != NTM_ACCEPT ||
        (r = get_number(c, F_DURATION_S, true, 0, NTM_INT_MAX_EXACT, false, &duration)) !=
            NTM_ACCEPT ||
        (r = get_enum(c, F_RESULT, true, result_name_i, 0, NTM_RESULT_COUNT, &result)) !=
            NTM_ACCEPT ||
        (r = get_enum(c, F_PRIORITY, false, priority_name_i, 0, NTM_PRIO_COUNT, &priority)) !=
            NTM_ACCEPT ||
        (r = get_enum(c, F_SOURCE, false, source_name_i, 0, NTM_SRC_COUNT, &source)) != NTM_ACCEPT)
        return r;
    out->u.broadcast.start = (int64_t)floor(start);
    out->u.broadcast.duration_s = duration;
    out->u.broadcast.result = (uint8_t)result;
    out->u.broadcast.priority = (uint8_t)priority;
    out->u.broadcast.source = (uint8_t)source;

    const cJSON *p = c->f[F_PROGRAM];
    if (p != NULL) {
        if (!J_IS_STRING(p))
            return wrong_type(c, F_PROGRAM, "a string");
        size_t n = strnlen(p->valuestring, NTM_PROGRAM_MAX + 1);
        if (n > NTM_PROGRAM_MAX)
            return fail(c->why, c->whylen, NTM_REJ_VALUE, "field 'program' is longer than %d bytes",
                        NTM_PROGRAM_MAX);
        memcpy(out->u.broadcast.program, p->valuestring, n); /* NUL from the memset */
    }
    return NTM_ACCEPT;
}

static enum ntm_reject parse_camera_event(struct ctx *c, struct ntm_record *out)
{
    int type = 0;
    enum ntm_reject r =
        get_enum(c, F_TYPE, true, event_name_i, NTM_EV_MOTION, NTM_EV_STORAGE_ERROR + 1, &type);
    if (r != NTM_ACCEPT)
        return r;
    out->event = (uint8_t)type;
    out->u.camera_event.duration_s = -1;
    return get_number(c, F_DURATION_S, false, 0, NTM_INT_MAX_EXACT, false,
                      &out->u.camera_event.duration_s);
}

static enum ntm_reject parse_camera_stats(struct ctx *c, struct ntm_record *out)
{
    out->u.camera_stats.recording = false;
    out->u.camera_stats.storage_free_pct = -1;
    enum ntm_reject r = get_bool(c, F_RECORDING, true, &out->u.camera_stats.recording);
    if (r != NTM_ACCEPT)
        return r;
    return get_number(c, F_STORAGE_FREE_PCT, false, 0, 100, false,
                      &out->u.camera_stats.storage_free_pct);
}

static enum ntm_reject parse_client_macs(struct ctx *c, const struct ntm_ingest_opts *opts,
                                         struct ntm_record *out)
{
    const cJSON *a = c->f[F_CLIENT_MACS];
    if (a == NULL)
        return NTM_ACCEPT;
    if (!J_IS_ARRAY(a))
        return wrong_type(c, F_CLIENT_MACS, "an array of strings");
    if (a->child == NULL)
        return NTM_ACCEPT;

    uint8_t key[16], mac[6];
    if (opts->mac_key == NULL ||
        opts->mac_key(opts->mac_key_arg, ntm_local_day(out->ts), key) != 0) {
        explicit_bzero(key, sizeof key);
        return fail(c->why, c->whylen, NTM_REJ_VALUE,
                    "no MAC hashing key for local day %lld (client_macs)",
                    (long long)ntm_local_day(out->ts));
    }

    enum ntm_reject r = NTM_ACCEPT;
    uint32_t n = 0;
    for (const cJSON *e = a->child; e != NULL; e = e->next, n++) {
        if (n == NTM_MACS_MAX) {
            r = fail(c->why, c->whylen, NTM_REJ_VALUE,
                     "field 'client_macs' has more than %d entries", NTM_MACS_MAX);
            break;
        }
        if (!J_IS_STRING(e)) {
            r = fail(c->why, c->whylen, NTM_REJ_TYPE, "client_macs[%u] must be a string, got %s",
                     (unsigned)n, json_type_name(e));
            break;
        }
        if (ntm_mac_parse(e->valuestring, strnlen(e->valuestring, 18), mac) != 0) {
            r = fail(c->why, c->whylen, NTM_REJ_VALUE, "client_macs[%u] is not a MAC address",
                     (unsigned)n);
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

static enum ntm_reject parse_wifi_stats(struct ctx *c, const struct ntm_ingest_opts *opts,
                                        struct ntm_record *out)
{
    enum ntm_reject r;
    if ((r = get_count(c, F_CLIENTS, true, &out->u.wifi.clients)) != NTM_ACCEPT ||
        (r = get_count(c, F_NEW_SESSIONS, true, &out->u.wifi.new_sessions)) != NTM_ACCEPT ||
        (r = get_count(c, F_RX_BYTES, true, &out->u.wifi.rx_bytes)) != NTM_ACCEPT ||
        (r = get_count(c, F_TX_BYTES, true, &out->u.wifi.tx_bytes)) != NTM_ACCEPT)
        return r;
    return parse_client_macs(c, opts, out);
}

/* Overwrites the MAC strings that cJSON copied out of the payload before the
 * tree is freed, so that no raw MAC lingers in freed heap memory. */
static void wipe_macs(const cJSON *a)
{
    if (a == NULL || !J_IS_ARRAY(a))
        return;
    for (const cJSON *e = a->child; e != NULL; e = e->next)
        if (J_IS_STRING(e))
            explicit_bzero(e->valuestring, strlen(e->valuestring));
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

    if (!kind_has_channel(topic->kind, topic->channel))
        return channel_missing(topic->kind, topic->channel, why, whylen);
    if (len > opts->max_payload)
        return fail(why, whylen, NTM_REJ_TOO_LARGE, "payload is %zu bytes, more than %zu", len,
                    opts->max_payload);
    if (len == 0 || payload == NULL)
        return fail(why, whylen, NTM_REJ_NOT_JSON, "payload is empty");

    const char *what = "";
    size_t bad = text_problem(payload, len, &what);
    if (bad < len)
        return fail(why, whylen, NTM_REJ_NOT_JSON, "payload has %s at byte %zu", what, bad);

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(payload, len, &end, 0);
    if (root == NULL) {
        size_t at = end != NULL ? (size_t)(end - (const char *)payload) : 0;
        return fail(why, whylen, NTM_REJ_NOT_JSON, "payload is not valid JSON (at byte %zu)", at);
    }
    /* cJSON's own "require null terminated" wants a NUL inside `len`: check
     * instead that only whitespace follows the value. */
    for (const char *p = end, *pe = (const char *)payload + len; p < pe; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(root);
            return fail(why, whylen, NTM_REJ_NOT_JSON,
                        "payload has data after the JSON value (at byte %zu)",
                        (size_t)(p - (const char *)payload));
        }

    enum ntm_reject r;
    struct ctx c = {.why = why, .whylen = whylen, .clock_trusted = opts->clock_trusted};
    if (!J_IS_OBJECT(root)) {
        r = fail(why, whylen, NTM_REJ_NOT_OBJECT, "payload is %s, not a JSON object",
                 json_type_name(root));
        goto done;
    }
    for (const cJSON *m = root->child; m != NULL; m = m->next) {
        int f = field_index(m->string);
        if (f >= 0 && c.f[f] == NULL) /* first of duplicate names wins */
            c.f[f] = m;
    }

    if ((r = parse_ts(&c, now_ms, out)) != NTM_ACCEPT)
        goto done;

    switch (topic->channel) {
    case NTM_CH_STATE:
        out->u.state.online = false;
        r = get_bool(&c, F_ONLINE, true, &out->u.state.online);
        break;
    case NTM_CH_HEARTBEAT:
        r = parse_heartbeat(&c, out);
        break;
    case NTM_CH_EVENT:
        r = topic->kind == NTM_KIND_SPEAKER ? parse_speaker_event(&c, out)
                                            : parse_camera_event(&c, out);
        break;
    default: /* NTM_CH_STATS */
        r = topic->kind == NTM_KIND_CAMERA ? parse_camera_stats(&c, out)
                                           : parse_wifi_stats(&c, opts, out);
        break;
    }

done:
    wipe_macs(c.f[F_CLIENT_MACS]);
    cJSON_Delete(root);
    if (r == NTM_ACCEPT && why != NULL && whylen > 0)
        why[0] = '\0';
    return r;
}
