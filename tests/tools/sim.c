/* SPDX-License-Identifier: GPL-3.0-or-later */
/* sim.c: ntm-sim, a device simulator and load generator for tests and the demo.
 * It owns the test side of the device contract (README, "What devices send, and what is rejected"):
 * valid messages of every kind and channel, and one invalid message per rule break,
 * each tagged with the reject reason the gateway must give. It must not use the
 * daemon's ingest code: it is the independent other side of that contract. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <mosquitto.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef NTM_SIM_WITH_CONFIG
#include "config.h"
#endif

#define SIM_MAX_TOPIC 512
#define SIM_MAC_POOL 48
#define SIM_TZ_OFFSET_S (7 * 3600)

enum kind { K_SPEAKER, K_CAMERA, K_WIFI, K_COUNT };
static const char *const kind_names[K_COUNT] = {"speaker", "camera", "wifi"};

/* The gateway's reject reasons, with the names of daemon/ingest.h. */
enum reason {
    R_BAD_TOPIC,
    R_UNKNOWN_VILLAGE,
    R_BAD_CHANNEL,
    R_TOO_LARGE,
    R_NOT_JSON,
    R_NOT_OBJECT,
    R_MISSING,
    R_TYPE,
    R_VALUE,
    R_DEVICE_CONFLICT,
    R_COUNT
};
static const char *const reason_names[R_COUNT] = {
    "bad_topic",  "unknown_village", "bad_channel", "too_large", "not_json",
    "not_object", "missing_field",   "wrong_type",  "bad_value", "device_conflict",
};

/* Every rule break of devices.md that the simulator produces, in cycling order. */
enum bad_case {
    B_LEVELS_SHORT,
    B_LEVELS_LONG,
    B_EMPTY_DEVICE,
    B_VILLAGE_SYNTAX,
    B_VILLAGE_TOO_LONG,
    B_UNKNOWN_KIND,
    B_DEVICE_SYNTAX,
    B_DEVICE_TOO_LONG,
    B_UNKNOWN_CHANNEL,
    B_VILLAGE_NOT_CONFIGURED,
    B_SPEAKER_STATS,
    B_WIFI_EVENT,
    B_TOO_LARGE,
    B_NOT_JSON,
    B_EMPTY_PAYLOAD,
    B_INVALID_UTF8,
    B_ARRAY,
    B_NUMBER,
    B_STATE_MISSING_ONLINE,
    B_STATE_ONLINE_STRING,
    B_TS_STRING,
    B_HEARTBEAT_INTERVAL_STRING,
    B_HEARTBEAT_INTERVAL_0,
    B_HEARTBEAT_INTERVAL_TOO_BIG,
    B_SPEAKER_UNKNOWN_EVENT,
    B_CAMERA_UNKNOWN_EVENT,
    B_EVENT_MISSING_TYPE,
    B_BROADCAST_MISSING_START,
    B_BROADCAST_BAD_RESULT,
    B_BROADCAST_BAD_PRIORITY,
    B_BROADCAST_BAD_SOURCE,
    B_BROADCAST_NEGATIVE_DURATION,
    B_FAULT_BAD_FAULT,
    B_CAMERA_RECORDING_INT,
    B_CAMERA_STORAGE_101,
    B_WIFI_NEGATIVE_COUNTER,
    B_WIFI_CLIENTS_FLOAT,
    B_WIFI_MISSING_TX_BYTES,
    B_WIFI_BAD_MAC,
    B_WIFI_MACS_NOT_ARRAY,
    B_DEVICE_CONFLICT, /* only with --conflicts */
    B_COUNT
};

static const struct {
    const char *name;
    enum reason reason;
    const char *what;
} bad_cases[B_COUNT] = {
    [B_LEVELS_SHORT] = {"levels_short", R_BAD_TOPIC, "topic with 5 levels (no channel)"},
    [B_LEVELS_LONG] = {"levels_long", R_BAD_TOPIC, "topic with 7 levels"},
    [B_EMPTY_DEVICE] = {"empty_device", R_BAD_TOPIC, "empty device level"},
    [B_VILLAGE_SYNTAX] = {"village_syntax", R_BAD_TOPIC, "village 'Thon_1' breaks [a-z0-9-]"},
    [B_VILLAGE_TOO_LONG] = {"village_too_long", R_BAD_TOPIC, "village of 33 characters"},
    [B_UNKNOWN_KIND] = {"unknown_kind", R_BAD_TOPIC, "kind 'radio'"},
    [B_DEVICE_SYNTAX] = {"device_syntax", R_BAD_TOPIC, "device id 'bad@dev'"},
    [B_DEVICE_TOO_LONG] = {"device_too_long", R_BAD_TOPIC, "device id of 65 characters"},
    [B_UNKNOWN_CHANNEL] = {"unknown_channel", R_BAD_TOPIC, "channel 'telemetry'"},
    [B_VILLAGE_NOT_CONFIGURED] = {"village_not_configured", R_UNKNOWN_VILLAGE,
                                  "well-formed village that is not configured"},
    [B_SPEAKER_STATS] = {"speaker_stats", R_BAD_CHANNEL, "stats from a speaker"},
    [B_WIFI_EVENT] = {"wifi_event", R_BAD_CHANNEL, "event from a wifi access point"},
    [B_TOO_LARGE] = {"too_large", R_TOO_LARGE, "JSON object 1 KiB over --max-payload"},
    [B_NOT_JSON] = {"not_json", R_NOT_JSON, "'{not json'"},
    [B_EMPTY_PAYLOAD] = {"empty_payload", R_NOT_JSON, "a payload of 0 bytes"},
    [B_INVALID_UTF8] = {"invalid_utf8", R_NOT_JSON, "bytes 0xff 0xfe inside a JSON string"},
    [B_ARRAY] = {"array", R_NOT_OBJECT, "'[1,2]'"},
    [B_NUMBER] = {"number", R_NOT_OBJECT, "'42'"},
    [B_STATE_MISSING_ONLINE] = {"state_missing_online", R_MISSING, "state without 'online'"},
    [B_STATE_ONLINE_STRING] = {"state_online_string", R_TYPE, "state with online: \"yes\""},
    [B_TS_STRING] = {"ts_string", R_TYPE, "heartbeat with ts: \"now\""},
    [B_HEARTBEAT_INTERVAL_STRING] = {"heartbeat_interval_string", R_TYPE,
                                     "heartbeat with interval_s: \"60\""},
    [B_HEARTBEAT_INTERVAL_0] = {"heartbeat_interval_0", R_VALUE, "heartbeat with interval_s: 0"},
    [B_HEARTBEAT_INTERVAL_TOO_BIG] = {"heartbeat_interval_too_big", R_VALUE,
                                      "heartbeat with interval_s: 86401"},
    [B_SPEAKER_UNKNOWN_EVENT] = {"speaker_unknown_event", R_VALUE, "speaker event type 'karaoke'"},
    [B_CAMERA_UNKNOWN_EVENT] = {"camera_unknown_event", R_VALUE, "camera event type 'explosion'"},
    [B_EVENT_MISSING_TYPE] = {"event_missing_type", R_MISSING, "camera event without 'type'"},
    [B_BROADCAST_MISSING_START] = {"broadcast_missing_start", R_MISSING,
                                   "broadcast without 'start'"},
    [B_BROADCAST_BAD_RESULT] = {"broadcast_bad_result", R_VALUE, "broadcast result 'skipped'"},
    [B_BROADCAST_BAD_PRIORITY] = {"broadcast_bad_priority", R_VALUE, "broadcast priority 'urgent'"},
    [B_BROADCAST_BAD_SOURCE] = {"broadcast_bad_source", R_VALUE, "broadcast source 'district'"},
    [B_BROADCAST_NEGATIVE_DURATION] = {"broadcast_negative_duration", R_VALUE,
                                       "broadcast duration_s: -5"},
    [B_FAULT_BAD_FAULT] = {"fault_bad_fault", R_VALUE, "speaker fault 'overheat'"},
    [B_CAMERA_RECORDING_INT] = {"camera_recording_int", R_TYPE, "camera stats recording: 1"},
    [B_CAMERA_STORAGE_101] = {"camera_storage_101", R_VALUE, "camera storage_free_pct: 101"},
    [B_WIFI_NEGATIVE_COUNTER] = {"wifi_negative_counter", R_VALUE, "wifi rx_bytes: -1"},
    [B_WIFI_CLIENTS_FLOAT] = {"wifi_clients_float", R_VALUE,
                              "wifi clients: 1.5 (a number, not an integer)"},
    [B_WIFI_MISSING_TX_BYTES] = {"wifi_missing_tx_bytes", R_MISSING, "wifi stats without tx_bytes"},
    [B_WIFI_BAD_MAC] = {"wifi_bad_mac", R_VALUE, "client_macs with '02:00:00:zz:00:01'"},
    [B_WIFI_MACS_NOT_ARRAY] = {"wifi_macs_not_array", R_TYPE, "client_macs as a string"},
    [B_DEVICE_CONFLICT] = {"device_conflict", R_DEVICE_CONFLICT,
                           "an already seen device id under another kind (--conflicts)"},
};

struct device {
    char id[96];
    char village[64];
    enum kind kind;
    uint64_t valid; /* valid messages published */
    uint64_t seq;   /* messages generated, for the channel rotation */
};

/* distinct pool MACs per (village, local day) */
struct uniq {
    int village;
    int64_t day;
    uint64_t mask;
};

struct opts {
    const char *host;
    int port;
    int qos;
    const char *client_id;
    const char *config;
    const char *villages;
    long devices;
    long long count;
    long long invalid;
    uint64_t seed;
    int64_t start_ts;
    bool start_ts_set;
    long step_ms;
    double rate;
    long inflight;
    double duration;
    bool live;
    const char *expect;
    long max_payload;
    double ack_timeout;
    bool conflicts;
    bool dry_run;
    bool verbose;
    bool quiet;
};

struct sim {
    struct opts o;
    char **villages;
    size_t n_villages;
    struct device *devs;
    size_t n_devs;
    size_t *by_kind[K_COUNT];
    size_t n_by_kind[K_COUNT];
    size_t next_of_kind[K_COUNT];
    char ghost_village[64];

    uint64_t rng;
    char *buf; /* payload buffer */
    size_t bufsize;

    uint64_t valid_total, invalid_total;
    uint64_t invalid_by_reason[R_COUNT];
    uint64_t invalid_by_case[B_COUNT];
    int next_case;
    int64_t first_ts, last_ts;
    struct uniq *uniq;
    size_t n_uniq, cap_uniq;

    struct mosquitto *mosq;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t published; /* accepted by mosquitto_publish */
    uint64_t acked;     /* on_publish callbacks */
    int connected;      /* 1 connected, 0 not yet, -1 refused */
    int connack_rc;
    uint64_t disconnects;
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop++;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("ntm-sim: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static double now_mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* splitmix64: small, deterministic for a given --seed */
static uint64_t rnd(struct sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned rndn(struct sim *s, unsigned n)
{
    return (unsigned)(rnd(s) % n);
}

/* ---------------------------------------------------------------- MACs */

static void mac_bytes(int i, uint8_t m[6])
{
    m[0] = 0x02; /* locally administered, unicast */
    m[1] = 0x00;
    m[2] = 0x00;
    m[3] = 0x5a;
    m[4] = (uint8_t)(0x10 + i * 37);
    m[5] = (uint8_t)(0xa0 + i);
}

/* form 0: "02:00:00:5a:35:a1"; form 1: "02-00-00-5A-35-A1" (both in devices.md) */
static void mac_text(int i, int form, char out[18])
{
    uint8_t m[6];
    mac_bytes(i, m);
    const char *fmt = form ? "%02X-%02X-%02X-%02X-%02X-%02X" : "%02x:%02x:%02x:%02x:%02x:%02x";
    snprintf(out, 18, fmt, m[0], m[1], m[2], m[3], m[4], m[5]);
}

static int64_t local_day(int64_t ts)
{
    int64_t t = ts + SIM_TZ_OFFSET_S;
    return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

static void note_macs(struct sim *s, int village, int64_t ts, uint64_t mask)
{
    int64_t day = local_day(ts);
    for (size_t i = 0; i < s->n_uniq; i++) {
        if (s->uniq[i].village == village && s->uniq[i].day == day) {
            s->uniq[i].mask |= mask;
            return;
        }
    }
    if (s->n_uniq == s->cap_uniq) {
        s->cap_uniq = s->cap_uniq ? 2 * s->cap_uniq : 16;
        s->uniq = realloc(s->uniq, s->cap_uniq * sizeof *s->uniq);
        if (!s->uniq)
            die("out of memory");
    }
    s->uniq[s->n_uniq++] = (struct uniq){village, day, mask};
}

/* ---------------------------------------------------------------- devices */

static int village_index(const struct sim *s, const char *v)
{
    for (size_t i = 0; i < s->n_villages; i++)
        if (strcmp(s->villages[i], v) == 0)
            return (int)i;
    return -1;
}

static bool valid_village_id(const char *v)
{
    size_t n = strlen(v);
    if (n < 1 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '-'))
            return false;
    return true;
}

static void add_village(struct sim *s, const char *v)
{
    if (!valid_village_id(v))
        die("village id '%s' is not [a-z0-9-]{1,32}", v);
    if (village_index(s, v) >= 0)
        die("village '%s' given twice", v);
    s->villages = realloc(s->villages, (s->n_villages + 1) * sizeof *s->villages);
    if (!s->villages || !(s->villages[s->n_villages] = strdup(v)))
        die("out of memory");
    s->n_villages++;
}

static void add_device(struct sim *s, const char *id, const char *village, enum kind k)
{
    s->devs = realloc(s->devs, (s->n_devs + 1) * sizeof *s->devs);
    if (!s->devs)
        die("out of memory");
    struct device *d = &s->devs[s->n_devs++];
    memset(d, 0, sizeof *d);
    snprintf(d->id, sizeof d->id, "%s", id);
    snprintf(d->village, sizeof d->village, "%s", village);
    d->kind = k;
}

/* N devices round-robin over villages first, then over kinds, so that every
 * (village, kind) pair gets devices: sim-<village>-<kind>-<NNN>. */
static void generate_devices(struct sim *s, long n)
{
    for (long i = 0; i < n; i++) {
        size_t v = (size_t)i % s->n_villages;
        enum kind k = (enum kind)(((size_t)i / s->n_villages) % K_COUNT);
        char id[128];
        snprintf(id, sizeof id, "sim-%s-%s-%03ld", s->villages[v], kind_names[k], i + 1);
        if (strlen(id) > 64)
            die("generated device id '%s' is longer than 64 characters", id);
        add_device(s, id, s->villages[v], k);
    }
}

static void load_config(struct sim *s, const char *path)
{
#ifdef NTM_SIM_WITH_CONFIG
    char err[4096] = "";
    struct ntm_config *cfg = ntm_config_load(path, err, sizeof err);
    if (!cfg)
        die("cannot load %s:\n%s", path, err);
    for (size_t i = 0; i < cfg->n_villages; i++)
        add_village(s, cfg->villages[i].id);
    for (size_t i = 0; i < cfg->n_devices; i++) {
        const struct ntm_device_decl *d = &cfg->devices[i];
        if (d->kind >= K_COUNT || d->village >= cfg->n_villages)
            die("%s: device '%s' has a bad kind or village", path, d->id);
        add_device(s, d->id, cfg->villages[d->village].id, (enum kind)d->kind);
    }
    if (s->o.port <= 0 && cfg->mqtt.port > 0)
        s->o.port = cfg->mqtt.port;
    if (!s->o.host && cfg->mqtt.host && !(s->o.host = strdup(cfg->mqtt.host)))
        die("out of memory");
    ntm_config_free(cfg);
#else
    (void)s;
    die("--config %s: this ntm-sim was built without the configuration loader; use --villages",
        path);
#endif
}

static void setup_devices(struct sim *s)
{
    if (s->o.config)
        load_config(s, s->o.config);
    if (s->o.villages) {
        char *list = strdup(s->o.villages), *save = NULL;
        if (!list)
            die("out of memory");
        for (char *v = strtok_r(list, ",", &save); v; v = strtok_r(NULL, ",", &save))
            add_village(s, v);
        free(list);
    }
    if (s->n_villages == 0)
        die("no villages: give --config FILE or --villages a,b,c");
    if (s->o.devices > 0)
        generate_devices(s, s->o.devices);
    else if (s->n_devs == 0)
        generate_devices(s, (long)(s->n_villages * K_COUNT));
    for (size_t i = 0; i < s->n_devs; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->devs[i].id, s->devs[j].id) == 0)
                die("device id '%s' given twice", s->devs[i].id);
    }
    for (int k = 0; k < K_COUNT; k++) {
        s->by_kind[k] = calloc(s->n_devs + 1, sizeof(size_t));
        if (!s->by_kind[k])
            die("out of memory");
        for (size_t i = 0; i < s->n_devs; i++)
            if (s->devs[i].kind == (enum kind)k)
                s->by_kind[k][s->n_by_kind[k]++] = i;
    }
    /* a well-formed village id that is not configured */
    for (int i = 0;; i++) {
        snprintf(s->ghost_village, sizeof s->ghost_village,
                 i ? "no-such-village-%d" : "no-such-village", i);
        if (village_index(s, s->ghost_village) < 0)
            break;
    }
}

/* ---------------------------------------------------------------- messages */

struct msg {
    char topic[SIM_MAX_TOPIC];
    size_t len; /* payload in s->buf */
};

static void set_topic(struct msg *m, const char *village, const char *kind, const char *device,
                      const char *channel)
{
    snprintf(m->topic, sizeof m->topic, "ntm/v1/%s/%s/%s/%s", village, kind, device, channel);
}

static void set_payload(struct sim *s, struct msg *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->buf, s->bufsize, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= s->bufsize)
        die("internal error: payload too long");
    m->len = (size_t)n;
}

static const char *const results[] = {"played", "played", "played", "interrupted", "failed"};
static const char *const priorities[] = {"normal", "normal", "normal", "priority", "emergency"};
static const char *const sources[] = {"commune", "province", "national", "other"};
static const char *const programs[] = {"ban-tin-sang", "ban-tin-chieu", "thong-bao-xa",
                                       "phong-chong-bao-lu", "am-nhac"};
static const char *const faults[] = {"amplifier", "power", "fan", "network", "other"};
static const char *const cam_events[] = {"motion", "motion",     "motion",       "motion",
                                         "tamper", "video_loss", "storage_error"};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum vmsg { V_STATE, V_HEARTBEAT, V_BROADCAST, V_FAULT, V_CAM_EVENT, V_CAM_STATS, V_WIFI_STATS };
/* the rotating channel mix of each kind */
static const enum vmsg mix_speaker[] = {V_HEARTBEAT, V_BROADCAST, V_STATE,    V_BROADCAST,
                                        V_FAULT,     V_HEARTBEAT, V_BROADCAST};
static const enum vmsg mix_camera[] = {V_HEARTBEAT, V_CAM_STATS, V_CAM_EVENT,
                                       V_STATE,     V_CAM_STATS, V_CAM_EVENT};
static const enum vmsg mix_wifi[] = {V_WIFI_STATS, V_HEARTBEAT, V_WIFI_STATS, V_STATE,
                                     V_WIFI_STATS};

static void make_valid(struct sim *s, struct device *d, size_t dev_index, int64_t ts, struct msg *m)
{
    const enum vmsg *mix;
    size_t n;
    switch (d->kind) {
    case K_SPEAKER:
        mix = mix_speaker, n = NELEM(mix_speaker);
        break;
    case K_CAMERA:
        mix = mix_camera, n = NELEM(mix_camera);
        break;
    default:
        mix = mix_wifi, n = NELEM(mix_wifi);
        break;
    }
    enum vmsg v = mix[(d->seq + dev_index) % n];
    d->seq++;
    const char *kind = kind_names[d->kind];
    switch (v) {
    case V_STATE:
        set_topic(m, d->village, kind, d->id, "state");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"online\":%s}", ts, rndn(s, 8) ? "true" : "false");
        break;
    case V_HEARTBEAT:
        set_topic(m, d->village, kind, d->id, "heartbeat");
        if (rndn(s, 4) == 0)
            set_payload(s, m, "{\"ts\":%" PRId64 "}", ts);
        else
            set_payload(s, m, "{\"ts\":%" PRId64 ",\"interval_s\":%d,\"uptime_s\":%u}", ts,
                        rndn(s, 2) ? 60 : 30, 60 + rndn(s, 900000));
        break;
    case V_BROADCAST: {
        unsigned dur = 60 + rndn(s, 1800);
        set_topic(m, d->village, kind, d->id, "event");
        set_payload(s, m,
                    "{\"ts\":%" PRId64 ",\"type\":\"broadcast\",\"start\":%" PRId64
                    ",\"duration_s\":%u,\"result\":\"%s\",\"priority\":\"%s\",\"source\":\"%s\","
                    "\"program\":\"%s\"}",
                    ts, ts - dur, dur, results[rndn(s, NELEM(results))],
                    priorities[rndn(s, NELEM(priorities))], sources[rndn(s, NELEM(sources))],
                    programs[rndn(s, NELEM(programs))]);
        break;
    }
    case V_FAULT:
        set_topic(m, d->village, kind, d->id, "event");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"type\":\"fault\",\"fault\":\"%s\"}", ts,
                    faults[rndn(s, NELEM(faults))]);
        break;
    case V_CAM_EVENT: {
        const char *ev = cam_events[rndn(s, NELEM(cam_events))];
        set_topic(m, d->village, kind, d->id, "event");
        if (strcmp(ev, "motion") == 0)
            set_payload(s, m, "{\"ts\":%" PRId64 ",\"type\":\"motion\",\"duration_s\":%.1f}", ts,
                        (double)rndn(s, 1200) / 10.0);
        else
            set_payload(s, m, "{\"ts\":%" PRId64 ",\"type\":\"%s\"}", ts, ev);
        break;
    }
    case V_CAM_STATS:
        set_topic(m, d->village, kind, d->id, "stats");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"recording\":%s,\"storage_free_pct\":%u}", ts,
                    rndn(s, 10) ? "true" : "false", rndn(s, 101));
        break;
    case V_WIFI_STATS: {
        unsigned nm = rndn(s, 6);
        uint64_t mask = 0;
        char macs[6 * 24] = "";
        size_t off = 0;
        for (unsigned i = 0; i < nm; i++) {
            int j;
            do
                j = (int)rndn(s, SIM_MAC_POOL);
            while (mask & (1ULL << j));
            mask |= 1ULL << j;
            char t[18];
            mac_text(j, (int)rndn(s, 4) == 0, t);
            off += (size_t)snprintf(macs + off, sizeof macs - off, "%s\"%s\"", i ? "," : "", t);
        }
        unsigned clients = nm + rndn(s, 3);
        set_topic(m, d->village, kind, d->id, "stats");
        set_payload(s, m,
                    "{\"ts\":%" PRId64 ",\"clients\":%u,\"new_sessions\":%u,\"rx_bytes\":%" PRIu64
                    ",\"tx_bytes\":%" PRIu64 ",\"client_macs\":[%s]}",
                    ts, clients, rndn(s, nm + 1), (uint64_t)rndn(s, 50000000),
                    (uint64_t)rndn(s, 20000000), macs);
        note_macs(s, village_index(s, d->village), ts, mask);
        break;
    }
    }
}

static struct device *pick_kind(struct sim *s, enum kind k)
{
    if (s->n_by_kind[k] == 0)
        return NULL;
    size_t i = s->by_kind[k][s->next_of_kind[k]++ % s->n_by_kind[k]];
    return &s->devs[i];
}

/* Fills m with invalid message case c. Returns false when the case cannot be
 * made right now (device_conflict before any device was seen). */
static bool make_invalid(struct sim *s, enum bad_case c, int64_t ts, struct msg *m)
{
    /* a device of the kind the case needs; a made-up id when there is none */
    enum kind need = K_CAMERA;
    switch (c) {
    case B_SPEAKER_STATS:
    case B_SPEAKER_UNKNOWN_EVENT:
    case B_BROADCAST_MISSING_START:
    case B_BROADCAST_BAD_RESULT:
    case B_BROADCAST_BAD_PRIORITY:
    case B_BROADCAST_BAD_SOURCE:
    case B_BROADCAST_NEGATIVE_DURATION:
    case B_FAULT_BAD_FAULT:
        need = K_SPEAKER;
        break;
    case B_WIFI_EVENT:
    case B_WIFI_NEGATIVE_COUNTER:
    case B_WIFI_CLIENTS_FLOAT:
    case B_WIFI_MISSING_TX_BYTES:
    case B_WIFI_BAD_MAC:
    case B_WIFI_MACS_NOT_ARRAY:
    case B_VILLAGE_NOT_CONFIGURED:
        need = K_WIFI;
        break;
    default:
        need = (enum kind)((s->invalid_total) % K_COUNT);
        break;
    }
    struct device *d = pick_kind(s, need);
    char made_up[96];
    const char *dev, *vil = s->villages[s->invalid_total % s->n_villages];
    if (d) {
        dev = d->id;
        vil = d->village;
    } else {
        snprintf(made_up, sizeof made_up, "sim-%s-x", kind_names[need]);
        dev = made_up;
    }
    const char *kind = kind_names[need];
    char valid_state[64];
    snprintf(valid_state, sizeof valid_state, "{\"ts\":%" PRId64 ",\"online\":true}", ts);
    const char *wifi_fmt = "{\"ts\":%" PRId64 ",\"clients\":%s,\"new_sessions\":1,\"rx_bytes\":%s,"
                           "\"tx_bytes\":100%s}";
    const char *bc_fmt = "{\"ts\":%" PRId64 ",\"type\":\"broadcast\",\"start\":%" PRId64
                         ",\"duration_s\":%s,\"result\":\"%s\",\"priority\":\"%s\","
                         "\"source\":\"%s\"}";
    char longname[80];

    switch (c) {
    case B_LEVELS_SHORT:
        snprintf(m->topic, sizeof m->topic, "ntm/v1/%s/%s/%s", vil, kind, dev);
        set_payload(s, m, "%s", valid_state);
        break;
    case B_LEVELS_LONG:
        snprintf(m->topic, sizeof m->topic, "ntm/v1/%s/%s/%s/state/extra", vil, kind, dev);
        set_payload(s, m, "%s", valid_state);
        break;
    case B_EMPTY_DEVICE:
        set_topic(m, vil, kind, "", "state");
        set_payload(s, m, "%s", valid_state);
        break;
    case B_VILLAGE_SYNTAX:
        set_topic(m, "Thon_1", kind, dev, "state");
        set_payload(s, m, "%s", valid_state);
        break;
    case B_VILLAGE_TOO_LONG:
        memset(longname, 'v', 33);
        longname[33] = 0;
        set_topic(m, longname, kind, dev, "state");
        set_payload(s, m, "%s", valid_state);
        break;
    case B_UNKNOWN_KIND:
        set_topic(m, vil, "radio", dev, "state");
        set_payload(s, m, "%s", valid_state);
        break;
    case B_DEVICE_SYNTAX:
        set_topic(m, vil, kind, "bad@dev", "state");
        set_payload(s, m, "%s", valid_state);
        break;
    case B_DEVICE_TOO_LONG:
        memset(longname, 'd', 65);
        longname[65] = 0;
        set_topic(m, vil, kind, longname, "state");
        set_payload(s, m, "%s", valid_state);
        break;
    case B_UNKNOWN_CHANNEL:
        set_topic(m, vil, kind, dev, "telemetry");
        set_payload(s, m, "%s", valid_state);
        break;
    case B_VILLAGE_NOT_CONFIGURED:
        set_topic(m, s->ghost_village, "wifi", "sim-ghost-wifi-001", "state");
        set_payload(s, m, "%s", valid_state);
        break;
    case B_SPEAKER_STATS:
        set_topic(m, vil, "speaker", dev, "stats");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"recording\":true}", ts);
        break;
    case B_WIFI_EVENT:
        set_topic(m, vil, "wifi", dev, "event");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"type\":\"motion\"}", ts);
        break;
    case B_TOO_LARGE: {
        set_topic(m, vil, kind, dev, "state");
        size_t total = (size_t)s->o.max_payload + 1024;
        int n = snprintf(s->buf, s->bufsize, "{\"ts\":%" PRId64 ",\"online\":true,\"pad\":\"", ts);
        size_t pad = total - (size_t)n - 2;
        memset(s->buf + n, 'x', pad);
        memcpy(s->buf + n + pad, "\"}", 2);
        m->len = total;
        break;
    }
    case B_NOT_JSON:
        set_topic(m, vil, kind, dev, "state");
        set_payload(s, m, "{not json");
        break;
    case B_EMPTY_PAYLOAD:
        set_topic(m, vil, kind, dev, "heartbeat");
        s->buf[0] = '\0';
        m->len = 0;
        break;
    case B_INVALID_UTF8:
        set_topic(m, vil, kind, dev, "state");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"online\":true,\"note\":\"caf\xff\xfe\"}", ts);
        break;
    case B_ARRAY:
        set_topic(m, vil, kind, dev, "state");
        set_payload(s, m, "[1,2]");
        break;
    case B_NUMBER:
        set_topic(m, vil, kind, dev, "heartbeat");
        set_payload(s, m, "42");
        break;
    case B_STATE_MISSING_ONLINE:
        set_topic(m, vil, kind, dev, "state");
        set_payload(s, m, "{\"ts\":%" PRId64 "}", ts);
        break;
    case B_STATE_ONLINE_STRING:
        set_topic(m, vil, kind, dev, "state");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"online\":\"yes\"}", ts);
        break;
    case B_TS_STRING:
        set_topic(m, vil, kind, dev, "heartbeat");
        set_payload(s, m, "{\"ts\":\"now\",\"interval_s\":60}");
        break;
    case B_HEARTBEAT_INTERVAL_STRING:
        set_topic(m, vil, kind, dev, "heartbeat");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"interval_s\":\"60\"}", ts);
        break;
    case B_HEARTBEAT_INTERVAL_0:
        set_topic(m, vil, kind, dev, "heartbeat");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"interval_s\":0}", ts);
        break;
    case B_HEARTBEAT_INTERVAL_TOO_BIG:
        set_topic(m, vil, kind, dev, "heartbeat");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"interval_s\":86401}", ts);
        break;
    case B_SPEAKER_UNKNOWN_EVENT:
        set_topic(m, vil, "speaker", dev, "event");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"type\":\"karaoke\"}", ts);
        break;
    case B_CAMERA_UNKNOWN_EVENT:
        set_topic(m, vil, "camera", dev, "event");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"type\":\"explosion\"}", ts);
        break;
    case B_EVENT_MISSING_TYPE:
        set_topic(m, vil, "camera", dev, "event");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"duration_s\":3}", ts);
        break;
    case B_BROADCAST_MISSING_START:
        set_topic(m, vil, "speaker", dev, "event");
        set_payload(s, m,
                    "{\"ts\":%" PRId64 ",\"type\":\"broadcast\",\"duration_s\":60,"
                    "\"result\":\"played\"}",
                    ts);
        break;
    case B_BROADCAST_BAD_RESULT:
        set_topic(m, vil, "speaker", dev, "event");
        set_payload(s, m, bc_fmt, ts, ts - 60, "60", "skipped", "normal", "commune");
        break;
    case B_BROADCAST_BAD_PRIORITY:
        set_topic(m, vil, "speaker", dev, "event");
        set_payload(s, m, bc_fmt, ts, ts - 60, "60", "played", "urgent", "commune");
        break;
    case B_BROADCAST_BAD_SOURCE:
        set_topic(m, vil, "speaker", dev, "event");
        set_payload(s, m, bc_fmt, ts, ts - 60, "60", "played", "normal", "district");
        break;
    case B_BROADCAST_NEGATIVE_DURATION:
        set_topic(m, vil, "speaker", dev, "event");
        set_payload(s, m, bc_fmt, ts, ts - 60, "-5", "played", "normal", "commune");
        break;
    case B_FAULT_BAD_FAULT:
        set_topic(m, vil, "speaker", dev, "event");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"type\":\"fault\",\"fault\":\"overheat\"}", ts);
        break;
    case B_CAMERA_RECORDING_INT:
        set_topic(m, vil, "camera", dev, "stats");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"recording\":1,\"storage_free_pct\":50}", ts);
        break;
    case B_CAMERA_STORAGE_101:
        set_topic(m, vil, "camera", dev, "stats");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"recording\":true,\"storage_free_pct\":101}", ts);
        break;
    case B_WIFI_NEGATIVE_COUNTER:
        set_topic(m, vil, "wifi", dev, "stats");
        set_payload(s, m, wifi_fmt, ts, "3", "-1", "");
        break;
    case B_WIFI_CLIENTS_FLOAT:
        set_topic(m, vil, "wifi", dev, "stats");
        set_payload(s, m, wifi_fmt, ts, "1.5", "1000", "");
        break;
    case B_WIFI_MISSING_TX_BYTES:
        set_topic(m, vil, "wifi", dev, "stats");
        set_payload(s, m, "{\"ts\":%" PRId64 ",\"clients\":2,\"new_sessions\":1,\"rx_bytes\":1000}",
                    ts);
        break;
    case B_WIFI_BAD_MAC:
        set_topic(m, vil, "wifi", dev, "stats");
        set_payload(s, m, wifi_fmt, ts, "1", "1000", ",\"client_macs\":[\"02:00:00:zz:00:01\"]");
        break;
    case B_WIFI_MACS_NOT_ARRAY:
        set_topic(m, vil, "wifi", dev, "stats");
        set_payload(s, m, wifi_fmt, ts, "1", "1000", ",\"client_macs\":\"02:00:00:5a:10:a0\"");
        break;
    case B_DEVICE_CONFLICT: {
        /* a device that has already sent a valid message, under another kind */
        struct device *seen = NULL;
        for (size_t i = 0; i < s->n_devs && !seen; i++) {
            struct device *x = &s->devs[(i + s->invalid_total) % s->n_devs];
            if (x->valid > 0)
                seen = x;
        }
        if (!seen)
            return false;
        set_topic(m, seen->village, kind_names[(seen->kind + 1) % K_COUNT], seen->id, "heartbeat");
        set_payload(s, m, "{\"ts\":%" PRId64 "}", ts);
        break;
    }
    case B_COUNT:
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- MQTT */

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    struct sim *s = obj;
    pthread_mutex_lock(&s->lock);
    s->connack_rc = rc;
    s->connected = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    struct sim *s = obj;
    pthread_mutex_lock(&s->lock);
    if (rc != 0)
        s->disconnects++;
    s->connected = 0;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
    (void)mosq;
    (void)mid;
    struct sim *s = obj;
    pthread_mutex_lock(&s->lock);
    s->acked++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void abs_deadline(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_REALTIME, ts);
    double whole = floor(seconds);
    ts->tv_sec += (time_t)whole;
    ts->tv_nsec += (long)((seconds - whole) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void mqtt_start(struct sim *s)
{
    mosquitto_lib_init();
    char cid[64];
    const char *id = s->o.client_id;
    if (!id) {
        snprintf(cid, sizeof cid, "ntm-sim-%ld", (long)getpid());
        id = cid;
    }
    s->mosq = mosquitto_new(id, true, s);
    if (!s->mosq)
        die("mosquitto_new: %s", strerror(errno));
    mosquitto_connect_callback_set(s->mosq, on_connect);
    mosquitto_disconnect_callback_set(s->mosq, on_disconnect);
    mosquitto_publish_callback_set(s->mosq, on_publish);
    mosquitto_int_option(s->mosq, MOSQ_OPT_SEND_MAXIMUM, (int)s->o.inflight);
    mosquitto_reconnect_delay_set(s->mosq, 1, 5, true);
    int rc = mosquitto_connect(s->mosq, s->o.host, s->o.port, 60);
    if (rc != MOSQ_ERR_SUCCESS) {
        const char *why = rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
        fprintf(stderr, "ntm-sim: cannot connect to the MQTT broker at %s:%d: %s\n", s->o.host,
                s->o.port, why);
        exit(3);
    }
    rc = mosquitto_loop_start(s->mosq);
    if (rc != MOSQ_ERR_SUCCESS)
        die("mosquitto_loop_start: %s", mosquitto_strerror(rc));
    struct timespec dl;
    abs_deadline(&dl, 10);
    pthread_mutex_lock(&s->lock);
    while (s->connected == 0 && !g_stop)
        if (pthread_cond_timedwait(&s->cond, &s->lock, &dl) == ETIMEDOUT)
            break;
    int c = s->connected, crc = s->connack_rc;
    pthread_mutex_unlock(&s->lock);
    if (c != 1) {
        fprintf(stderr, "ntm-sim: the MQTT broker at %s:%d did not accept the connection: %s\n",
                s->o.host, s->o.port,
                c == 0 ? "no CONNACK within 10 s" : mosquitto_connack_string(crc));
        exit(3);
    }
}

/* Waits until fewer than `limit` messages are unacknowledged. Returns false
 * when no acknowledgement came for --ack-timeout seconds, or on a second signal. */
static bool wait_window(struct sim *s, uint64_t limit, int stop_level)
{
    pthread_mutex_lock(&s->lock);
    uint64_t last = s->acked;
    double since = now_mono();
    bool ok = true;
    while (s->published - s->acked >= limit && limit != UINT64_MAX) {
        if (g_stop > stop_level) {
            ok = false;
            break;
        }
        struct timespec dl;
        abs_deadline(&dl, 0.2);
        pthread_cond_timedwait(&s->cond, &s->lock, &dl);
        if (s->acked != last) {
            last = s->acked;
            since = now_mono();
        } else if (now_mono() - since > s->o.ack_timeout) {
            ok = false;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

static bool publish(struct sim *s, const struct msg *m)
{
    if (s->o.verbose || s->o.dry_run) {
        printf("%s ", m->topic);
        fwrite(s->buf, 1, m->len, stdout);
        putchar('\n');
    }
    if (s->o.dry_run) {
        s->published++;
        s->acked++;
        return true;
    }
    if (!wait_window(s, (uint64_t)s->o.inflight, 1)) {
        fprintf(stderr, "ntm-sim: gave up waiting for acknowledgements (%.0f s without one)\n",
                s->o.ack_timeout);
        return false;
    }
    /* counted before the call, so that its acknowledgement cannot come first */
    pthread_mutex_lock(&s->lock);
    s->published++;
    pthread_mutex_unlock(&s->lock);
    int rc = mosquitto_publish(s->mosq, NULL, m->topic, (int)m->len, s->buf, s->o.qos, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        pthread_mutex_lock(&s->lock);
        s->published--;
        pthread_mutex_unlock(&s->lock);
        fprintf(stderr, "ntm-sim: publish to %s failed: %s\n", m->topic, mosquitto_strerror(rc));
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- output */

static void write_expect(struct sim *s, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        die("cannot write %s: %s", path, strerror(errno));
    fprintf(f, "{\n  \"valid\": {");
    bool first = true;
    for (size_t i = 0; i < s->n_devs; i++) {
        if (!s->devs[i].valid)
            continue;
        fprintf(f, "%s\n    \"%s\": %" PRIu64, first ? "" : ",", s->devs[i].id, s->devs[i].valid);
        first = false;
    }
    fprintf(f, "%s},\n  \"valid_total\": %" PRIu64 ",\n  \"invalid\": {", first ? "" : "\n  ",
            s->valid_total);
    first = true;
    for (int r = 0; r < R_COUNT; r++) {
        if (!s->invalid_by_reason[r])
            continue;
        fprintf(f, "%s\n    \"%s\": %" PRIu64, first ? "" : ",", reason_names[r],
                s->invalid_by_reason[r]);
        first = false;
    }
    fprintf(f, "%s},\n  \"invalid_total\": %" PRIu64 ",\n", first ? "" : "\n  ", s->invalid_total);
    fprintf(f, "  \"acked\": %" PRIu64 ",\n  \"published\": %" PRIu64 ",\n  \"qos\": %d,\n",
            s->acked, s->published, s->o.qos);
    fprintf(f, "  \"invalid_cases\": {");
    first = true;
    for (int c = 0; c < B_COUNT; c++) {
        if (!s->invalid_by_case[c])
            continue;
        fprintf(f, "%s\n    \"%s\": %" PRIu64, first ? "" : ",", bad_cases[c].name,
                s->invalid_by_case[c]);
        first = false;
    }
    fprintf(f, "%s},\n  \"devices\": {", first ? "" : "\n  ");
    for (size_t i = 0; i < s->n_devs; i++)
        fprintf(f, "%s\n    \"%s\": {\"village\": \"%s\", \"kind\": \"%s\"}", i ? "," : "",
                s->devs[i].id, s->devs[i].village, kind_names[s->devs[i].kind]);
    fprintf(f, "%s},\n  \"mac_pool\": [", s->n_devs ? "\n  " : "");
    for (int i = 0; i < SIM_MAC_POOL; i++) {
        char t[18];
        mac_text(i, 0, t);
        fprintf(f, "%s\"%s\"", i ? ", " : "", t);
    }
    fprintf(f, "],\n  \"unique_clients\": {");
    for (size_t v = 0; v < s->n_villages; v++) {
        fprintf(f, "%s\n    \"%s\": {", v ? "," : "", s->villages[v]);
        bool f2 = true;
        for (size_t i = 0; i < s->n_uniq; i++) {
            if (s->uniq[i].village != (int)v)
                continue;
            time_t day0 = (time_t)(s->uniq[i].day * 86400);
            struct tm tm;
            gmtime_r(&day0, &tm);
            fprintf(f, "%s\"%04d-%02d-%02d\": %d", f2 ? "" : ", ", tm.tm_year + 1900, tm.tm_mon + 1,
                    tm.tm_mday, __builtin_popcountll(s->uniq[i].mask));
            f2 = false;
        }
        fprintf(f, "}");
    }
    fprintf(f, "%s},\n", s->n_villages ? "\n  " : "");
    fprintf(f, "  \"first_ts\": %" PRId64 ",\n  \"last_ts\": %" PRId64 "\n}\n", s->first_ts,
            s->last_ts);
    if (fclose(f) != 0)
        die("cannot write %s: %s", path, strerror(errno));
}

/* clang-format off */
static void usage(FILE *f)
{
    fputs(
"Usage: ntm-sim [OPTION]...\n"
"Simulates the devices of a commune (speakers, cameras, Wi-Fi access points) publishing\n"
"to the gateway's MQTT broker, following the device contract (devices.md), version 1.\n"
"\n"
"Broker:\n"
"  --host H             broker host (default 127.0.0.1, or mqtt.host of --config)\n"
"  --port P             broker port (default 1883, or mqtt.port of --config)\n"
"  --qos 0|1            QoS of every publish (default 1)\n"
"  --client-id ID       MQTT client id (default ntm-sim-<pid>; clean session)\n"
"\n"
"Devices:\n"
"  --config FILE        villages and declared devices of a gateway YAML\n"
"  --villages a,b,c     village ids (added to those of --config)\n"
"  --devices N          generate N devices (added to those of --config), round-robin over\n"
"                       the villages, then over the kinds speaker, camera, wifi; ids like\n"
"                       sim-a-wifi-007 (default: the devices of --config, else one per\n"
"                       village and kind)\n"
"\n"
"Messages:\n"
"  --count N            valid messages in total, round-robin over the devices (default 100;\n"
"                       in live mode: per cycle of --count valid + --invalid invalid)\n"
"  --invalid N          invalid messages interleaved evenly among the valid ones, cycling\n"
"                       through every rule break (see --list-invalid) (default 0)\n"
"  --conflicts          also send device_conflict messages (a seen device id under another\n"
"                       kind); off by default\n"
"  --seed S             seed of the deterministic message sequence (default 1)\n"
"  --max-payload BYTES  the gateway's payload limit; the too_large message is 1 KiB over it\n"
"                       (default 16384)\n"
"  --list-invalid       print the invalid cases and their expected reject reasons, and exit\n"
"\n"
"Time:\n"
"  --start-ts T         ts of the first message, Unix seconds (default: now)\n"
"  --step-ms M          ts advances by M ms per message (valid or invalid); 0 = wall clock at\n"
"                       publish time, offset by --start-ts if given (default 0)\n"
"\n"
"Pace and delivery:\n"
"  --rate R             messages per second (default 0 = as fast as possible; 10 in live mode)\n"
"  --inflight K         most unacknowledged messages at a time (default 100)\n"
"  --ack-timeout S      give up when no PUBACK arrives for S seconds (default 30)\n"
"  --duration S         live mode: publish at --rate with ts = now for S seconds\n"
"                       (0 = until SIGINT/SIGTERM); the --count/--invalid cycle repeats.\n"
"                       Without --duration, SIGINT/SIGTERM also stop cleanly (exit 1).\n"
"\n"
"Output:\n"
"  --expect FILE        write the expected outcome as JSON: {\"valid\": {device: n},\n"
"                       \"valid_total\", \"invalid\": {reason: n}, \"invalid_total\", \"acked\",\n"
"                       \"published\", \"qos\", \"invalid_cases\": {case: n}, \"devices\":\n"
"                       {id: {village, kind}}, \"mac_pool\", \"unique_clients\": {village:\n"
"                       {local date: distinct pool MACs}}, \"first_ts\", \"last_ts\"}\n"
"  --dry-run            print the messages (topic payload) instead of publishing\n"
"  -v, --verbose        print every message published\n"
"  -q, --quiet          no summary line\n"
"  -h, --help           this help\n"
"\n"
"A publish counts as acknowledged when the broker's PUBACK arrives (QoS 1) or when it is\n"
"written to the socket (QoS 0); all are waited for before disconnecting. Exit status:\n"
"0 all published and acknowledged; 1 not every message was acknowledged, or interrupted\n"
"before the end of --count; 2 usage error; 3 broker unreachable or connection refused.\n",
          f);
}
/* clang-format on */

static double parse_num(const char *opt, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || isnan(d) || d < lo || d > hi)
        die("%s: '%s' is not a number from %g to %g", opt, v, lo, hi);
    return d;
}

static long long parse_int(const char *opt, const char *v, long long lo, long long hi)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        die("%s: '%s' is not an integer from %lld to %lld", opt, v, lo, hi);
    return n;
}

static void list_invalid(void)
{
    for (int c = 0; c < B_COUNT; c++)
        printf("%-28s %-16s %s\n", bad_cases[c].name, reason_names[bad_cases[c].reason],
               bad_cases[c].what);
}

static void parse_args(struct sim *s, int argc, char **argv)
{
    enum {
        O_HOST = 256,
        O_PORT,
        O_QOS,
        O_CLIENT_ID,
        O_CONFIG,
        O_VILLAGES,
        O_DEVICES,
        O_COUNT,
        O_INVALID,
        O_SEED,
        O_START_TS,
        O_STEP_MS,
        O_RATE,
        O_INFLIGHT,
        O_DURATION,
        O_EXPECT,
        O_MAX_PAYLOAD,
        O_ACK_TIMEOUT,
        O_CONFLICTS,
        O_DRY_RUN,
        O_LIST_INVALID
    };
    static const struct option lo[] = {
        {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT},
        {"qos", required_argument, 0, O_QOS},
        {"client-id", required_argument, 0, O_CLIENT_ID},
        {"config", required_argument, 0, O_CONFIG},
        {"villages", required_argument, 0, O_VILLAGES},
        {"devices", required_argument, 0, O_DEVICES},
        {"count", required_argument, 0, O_COUNT},
        {"invalid", required_argument, 0, O_INVALID},
        {"seed", required_argument, 0, O_SEED},
        {"start-ts", required_argument, 0, O_START_TS},
        {"step-ms", required_argument, 0, O_STEP_MS},
        {"rate", required_argument, 0, O_RATE},
        {"inflight", required_argument, 0, O_INFLIGHT},
        {"duration", required_argument, 0, O_DURATION},
        {"expect", required_argument, 0, O_EXPECT},
        {"max-payload", required_argument, 0, O_MAX_PAYLOAD},
        {"ack-timeout", required_argument, 0, O_ACK_TIMEOUT},
        {"conflicts", no_argument, 0, O_CONFLICTS},
        {"dry-run", no_argument, 0, O_DRY_RUN},
        {"list-invalid", no_argument, 0, O_LIST_INVALID},
        {"verbose", no_argument, 0, 'v'},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct opts *o = &s->o;
    *o = (struct opts){.host = NULL,
                       .port = 0,
                       .qos = 1,
                       .count = 100,
                       .seed = 1,
                       .inflight = 100,
                       .max_payload = 16384,
                       .ack_timeout = 30};
    int c;
    while ((c = getopt_long(argc, argv, "vqh", lo, NULL)) != -1) {
        switch (c) {
        case O_HOST:
            o->host = optarg;
            break;
        case O_PORT:
            o->port = (int)parse_int("--port", optarg, 1, 65535);
            break;
        case O_QOS:
            o->qos = (int)parse_int("--qos", optarg, 0, 1);
            break;
        case O_CLIENT_ID:
            o->client_id = optarg;
            break;
        case O_CONFIG:
            o->config = optarg;
            break;
        case O_VILLAGES:
            o->villages = optarg;
            break;
        case O_DEVICES:
            o->devices = (long)parse_int("--devices", optarg, 1, 1000000);
            break;
        case O_COUNT:
            o->count = parse_int("--count", optarg, 0, INT64_MAX / 4);
            break;
        case O_INVALID:
            o->invalid = parse_int("--invalid", optarg, 0, INT64_MAX / 4);
            break;
        case O_SEED:
            o->seed = (uint64_t)parse_int("--seed", optarg, 0, INT64_MAX);
            break;
        case O_START_TS:
            o->start_ts = parse_int("--start-ts", optarg, 0, 4102444800LL);
            o->start_ts_set = true;
            break;
        case O_STEP_MS:
            o->step_ms = (long)parse_int("--step-ms", optarg, 0, 86400000);
            break;
        case O_RATE:
            o->rate = parse_num("--rate", optarg, 0, 1e7);
            break;
        case O_INFLIGHT:
            o->inflight = (long)parse_int("--inflight", optarg, 1, 65535);
            break;
        case O_DURATION:
            o->duration = parse_num("--duration", optarg, 0, 1e9);
            o->live = true;
            break;
        case O_EXPECT:
            o->expect = optarg;
            break;
        case O_MAX_PAYLOAD:
            o->max_payload = (long)parse_int("--max-payload", optarg, 64, 64L << 20);
            break;
        case O_ACK_TIMEOUT:
            o->ack_timeout = parse_num("--ack-timeout", optarg, 0.1, 1e6);
            break;
        case O_CONFLICTS:
            o->conflicts = true;
            break;
        case O_DRY_RUN:
            o->dry_run = true;
            break;
        case O_LIST_INVALID:
            list_invalid();
            exit(0);
        case 'v':
            o->verbose = true;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            fprintf(stderr, "Try 'ntm-sim --help'.\n");
            exit(2);
        }
    }
    if (optind < argc)
        die("unexpected argument '%s' (try --help)", argv[optind]);
    if (o->live && o->rate == 0)
        o->rate = 10;
    if (o->count == 0 && o->invalid == 0)
        die("nothing to send: --count and --invalid are both 0");
}

int main(int argc, char **argv)
{
    static struct sim sim;
    struct sim *s = &sim;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    parse_args(s, argc, argv);
    setup_devices(s);
    if (s->o.port <= 0)
        s->o.port = 1883;
    if (!s->o.host)
        s->o.host = "127.0.0.1";
    s->rng = s->o.seed;
    s->bufsize = (size_t)s->o.max_payload + 8192;
    s->buf = malloc(s->bufsize);
    if (!s->buf)
        die("out of memory");

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!s->o.dry_run)
        mqtt_start(s);

    const uint64_t period = (uint64_t)(s->o.count + s->o.invalid); /* interleaving pattern */
    const uint64_t total = s->o.live ? UINT64_MAX : period;
    int64_t t0_wall = (int64_t)time(NULL);
    int64_t start_ms = (s->o.start_ts_set ? s->o.start_ts : t0_wall) * 1000;
    double t0 = now_mono();
    bool failed = false;
    uint64_t idx;
    size_t next_dev = 0;
    int skipped_conflicts = 0;

    for (idx = 0; idx < total && !g_stop; idx++) {
        if (s->o.live && s->o.duration > 0 && now_mono() - t0 >= s->o.duration)
            break;
        if (s->o.rate > 0) {
            double due = t0 + (double)idx / s->o.rate, now = now_mono();
            if (due > now) {
                struct timespec d = {(time_t)(due - now), 0};
                d.tv_nsec = (long)(((due - now) - (double)d.tv_sec) * 1e9);
                nanosleep(&d, NULL);
                if (g_stop)
                    break;
            }
        }
        int64_t ts;
        if (s->o.step_ms > 0)
            ts = (start_ms + (int64_t)idx * s->o.step_ms) / 1000;
        else if (s->o.start_ts_set)
            ts = s->o.start_ts + ((int64_t)time(NULL) - t0_wall);
        else
            ts = (int64_t)time(NULL);

        /* message idx is invalid when the even spread of `invalid` over `period` steps up */
        bool invalid = false;
        if (s->o.invalid > 0) {
            uint64_t p = period ? idx % period : 0, n = (uint64_t)s->o.invalid;
            invalid = (p + 1) * n / period > p * n / period;
        }
        struct msg m;
        if (invalid) {
            int ncases = s->o.conflicts ? B_COUNT : B_DEVICE_CONFLICT;
            enum bad_case c = (enum bad_case)(s->next_case % ncases);
            if (!make_invalid(s, c, ts, &m)) {
                /* device_conflict before any device was seen: the next case instead */
                skipped_conflicts++;
                s->next_case++;
                c = (enum bad_case)(s->next_case % ncases);
                if (!make_invalid(s, c, ts, &m))
                    die("internal error: invalid case %d", (int)c);
            }
            s->next_case++;
            if (!publish(s, &m)) {
                failed = true;
                break;
            }
            s->invalid_total++;
            s->invalid_by_reason[bad_cases[c].reason]++;
            s->invalid_by_case[c]++;
        } else {
            size_t di = next_dev++ % s->n_devs;
            struct device *d = &s->devs[di];
            make_valid(s, d, di, ts, &m);
            if (!publish(s, &m)) {
                failed = true;
                break;
            }
            d->valid++;
            s->valid_total++;
        }
        if (s->valid_total + s->invalid_total == 1)
            s->first_ts = ts;
        s->last_ts = ts;
    }
    bool interrupted = g_stop && !s->o.live && idx < total;

    /* every QoS 1 message acknowledged before disconnecting */
    bool all_acked = true;
    if (!s->o.dry_run) {
        if (!wait_window(s, 1, 1))
            all_acked = false;
        pthread_mutex_lock(&s->lock);
        if (s->acked < s->published)
            all_acked = false;
        pthread_mutex_unlock(&s->lock);
        mosquitto_disconnect(s->mosq);
        mosquitto_loop_stop(s->mosq, false);
        mosquitto_destroy(s->mosq);
        mosquitto_lib_cleanup();
    }
    double elapsed = now_mono() - t0;

    if (s->o.expect)
        write_expect(s, s->o.expect);
    uint64_t sent = s->valid_total + s->invalid_total;
    if (!s->o.quiet)
        fprintf(stderr,
                "ntm-sim: %" PRIu64 " valid + %" PRIu64 " invalid to %s:%d qos %d from %zu devices"
                " in %.2f s (%.0f msg/s); acknowledged %" PRIu64 " of %" PRIu64 "%s\n",
                s->valid_total, s->invalid_total, s->o.host, s->o.port, s->o.qos, s->n_devs,
                elapsed, elapsed > 0 ? (double)sent / elapsed : 0.0, s->acked, s->published,
                s->disconnects ? " (the broker connection was lost at least once)" : "");
    if (!all_acked) {
        fprintf(stderr,
                "ntm-sim: error: only %" PRIu64 " of %" PRIu64
                " messages were acknowledged by the broker\n",
                s->acked, s->published);
        return 1;
    }
    if (failed)
        return 1;
    if (interrupted) {
        fprintf(stderr, "ntm-sim: interrupted after %" PRIu64 " of %" PRIu64 " messages\n", sent,
                total);
        return 1;
    }
    return 0;
}
