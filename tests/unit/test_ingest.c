/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_ingest.c: unit tests of ingest (daemon/ingest*.c), record.c and siphash.c
 * against the device message contract: topics, payload rules, time rules, MAC
 * hashing. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "record.h"
#include "siphash.h"

#include "check.h"

/* CHECK with the last `why` shown on failure */
#define CHECKW(e)                                                                                  \
    do {                                                                                           \
        if (e) {                                                                                   \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: CHECK(%s) failed (why: \"%s\")\n", __FILE__, __LINE__, #e,     \
                    why);                                                                          \
        }                                                                                          \
    } while (0)

#define SP NTM_KIND_SPEAKER
#define CA NTM_KIND_CAMERA
#define WI NTM_KIND_WIFI
#define ST NTM_CH_STATE
#define HB NTM_CH_HEARTBEAT
#define EV NTM_CH_EVENT
#define STS NTM_CH_STATS

/* 2026-11-21T17:00:00Z = 2026-11-22T00:00:00+07:00, plus 123 ms */
#define NOW_S INT64_C(1795280400)
#define NOW_MS (NOW_S * 1000 + 123)
#define DAY_20261122 20779

/* ---- fixtures ------------------------------------------------------------ */

static struct ntm_record rec;
static char why[256];
static int key_calls, key_fail;
static int64_t key_last_day;

static void day_key(int64_t day, uint8_t key[16])
{
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)(day * 31 + i * 7 + 1);
}

static int test_key(void *arg, int64_t day, uint8_t key[16])
{
    (void)arg;
    key_calls++;
    key_last_day = day;
    if (key_fail)
        return -1;
    day_key(day, key);
    return 0;
}

static struct ntm_ingest_opts opts = {
    .max_payload = 16384, .mac_key = test_key, .clock_trusted = true};

/* Parses `len` bytes copied into a heap block of exactly that size, so that
 * ASan sees any read past the payload (it is not NUL-terminated). */
static enum ntm_reject pln(int kind, int channel, const void *buf, size_t len, int64_t now_ms)
{
    struct ntm_topic t;
    memset(&t, 0, sizeof t);
    strcpy(t.village, "thon-dong");
    strcpy(t.device, "dev-1");
    t.kind = (uint8_t)kind;
    t.channel = (uint8_t)channel;
    char *copy = malloc(len ? len : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, buf, len);
    memset(why, 'X', sizeof why);
    enum ntm_reject r = ntm_payload_parse(&t, copy, len, now_ms, &opts, &rec, why, sizeof why);
    free(copy);
    CHECK(memchr(why, '\0', sizeof why) != NULL);
    if (r == NTM_ACCEPT) {
        CHECK(why[0] == '\0');
        CHECK(rec.kind == kind && rec.channel == channel);
        CHECK(strcmp(rec.device, "dev-1") == 0);
        CHECK(rec.recv_ms == now_ms);
    }
    return r;
}

static enum ntm_reject pl(int kind, int channel, const char *json)
{
    return pln(kind, channel, json, strlen(json), NOW_MS);
}

static struct ntm_topic topic;

static enum ntm_reject tp(const char *s)
{
    /* copied without its NUL, with garbage behind it in a bigger block */
    size_t len = strlen(s);
    char *copy = malloc(len + 8);
    if (copy == NULL)
        abort();
    memcpy(copy, s, len);
    memcpy(copy + len, "/x/y/z#!", 8);
    memset(why, 'X', sizeof why);
    enum ntm_reject r = ntm_topic_parse(copy, len, &topic, why, sizeof why);
    free(copy);
    CHECK(memchr(why, '\0', sizeof why) != NULL);
    return r;
}

static int has(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

/* ---- names ---------------------------------------------------------------- */

static void test_names(void)
{
    static const char *const rej[] = {"accepted",    "bad_topic",       "unknown_village",
                                      "bad_channel", "too_large",       "not_json",
                                      "not_object",  "missing_field",   "wrong_type",
                                      "bad_value",   "device_conflict", "too_many_devices"};
    CHECK(sizeof rej / sizeof rej[0] == NTM_REJ_COUNT);
    for (int i = 0; i < NTM_REJ_COUNT; i++)
        CHECK(strcmp(ntm_reject_name((enum ntm_reject)i), rej[i]) == 0);
    CHECK(ntm_reject_name(NTM_REJ_COUNT) != NULL);

    CHECK(strcmp(ntm_kind_name(NTM_KIND_SPEAKER), "speaker") == 0);
    CHECK(strcmp(ntm_kind_name(NTM_KIND_CAMERA), "camera") == 0);
    CHECK(strcmp(ntm_kind_name(NTM_KIND_WIFI), "wifi") == 0);
    CHECK(ntm_kind_name(NTM_KIND_COUNT) != NULL);
    CHECK(ntm_kind_parse("speaker") == NTM_KIND_SPEAKER);
    CHECK(ntm_kind_parse("camera") == NTM_KIND_CAMERA);
    CHECK(ntm_kind_parse("wifi") == NTM_KIND_WIFI);
    CHECK(ntm_kind_parse("radio") == -1);
    CHECK(ntm_kind_parse("Wifi") == -1);
    CHECK(ntm_kind_parse("") == -1);
    CHECK(ntm_kind_parse(NULL) == -1);

    CHECK(strcmp(ntm_channel_name(NTM_CH_STATE), "state") == 0);
    CHECK(strcmp(ntm_channel_name(NTM_CH_HEARTBEAT), "heartbeat") == 0);
    CHECK(strcmp(ntm_channel_name(NTM_CH_EVENT), "event") == 0);
    CHECK(strcmp(ntm_channel_name(NTM_CH_STATS), "stats") == 0);

    CHECK(strcmp(ntm_event_name(NTM_EV_NONE), "") == 0);
    CHECK(strcmp(ntm_event_name(NTM_EV_BROADCAST), "broadcast") == 0);
    CHECK(strcmp(ntm_event_name(NTM_EV_FAULT), "fault") == 0);
    CHECK(strcmp(ntm_event_name(NTM_EV_MOTION), "motion") == 0);
    CHECK(strcmp(ntm_event_name(NTM_EV_TAMPER), "tamper") == 0);
    CHECK(strcmp(ntm_event_name(NTM_EV_VIDEO_LOSS), "video_loss") == 0);
    CHECK(strcmp(ntm_event_name(NTM_EV_STORAGE_ERROR), "storage_error") == 0);

    CHECK(strcmp(ntm_result_name(NTM_RESULT_PLAYED), "played") == 0);
    CHECK(strcmp(ntm_result_name(NTM_RESULT_INTERRUPTED), "interrupted") == 0);
    CHECK(strcmp(ntm_result_name(NTM_RESULT_FAILED), "failed") == 0);
    CHECK(strcmp(ntm_priority_name(NTM_PRIO_NORMAL), "normal") == 0);
    CHECK(strcmp(ntm_priority_name(NTM_PRIO_PRIORITY), "priority") == 0);
    CHECK(strcmp(ntm_priority_name(NTM_PRIO_EMERGENCY), "emergency") == 0);
    CHECK(strcmp(ntm_source_name(NTM_SRC_COMMUNE), "commune") == 0);
    CHECK(strcmp(ntm_source_name(NTM_SRC_PROVINCE), "province") == 0);
    CHECK(strcmp(ntm_source_name(NTM_SRC_NATIONAL), "national") == 0);
    CHECK(strcmp(ntm_source_name(NTM_SRC_OTHER), "other") == 0);
    CHECK(strcmp(ntm_fault_name(NTM_FAULT_AMPLIFIER), "amplifier") == 0);
    CHECK(strcmp(ntm_fault_name(NTM_FAULT_POWER), "power") == 0);
    CHECK(strcmp(ntm_fault_name(NTM_FAULT_FAN), "fan") == 0);
    CHECK(strcmp(ntm_fault_name(NTM_FAULT_NETWORK), "network") == 0);
    CHECK(strcmp(ntm_fault_name(NTM_FAULT_OTHER), "other") == 0);
    CHECK(ntm_fault_name(NTM_FAULT_COUNT) != NULL);
}

static void test_local_day(void)
{
    /* 2026-11-21T17:00:00Z is 2026-11-22T00:00:00+07:00 */
    CHECK(ntm_local_day(NOW_S) == DAY_20261122);
    CHECK(ntm_local_day(NOW_S - 1) == DAY_20261122 - 1);
    CHECK(ntm_local_day(NOW_S + 86399) == DAY_20261122);
    CHECK(ntm_local_day(NOW_S + 86400) == DAY_20261122 + 1);
    CHECK(ntm_local_day(0) == 0);
    CHECK(ntm_local_day(17 * 3600 - 1) == 0);
    CHECK(ntm_local_day(17 * 3600) == 1);
    CHECK(ntm_local_day(-7 * 3600) == 0);
    CHECK(ntm_local_day(-7 * 3600 - 1) == -1);
    CHECK(ntm_local_day(-86400 - 7 * 3600) == -1);
    CHECK(ntm_local_day(-86400 - 7 * 3600 - 1) == -2);
    CHECK(ntm_local_day(INT64_MAX) == (INT64_MAX - 86400 + 7 * 3600) / 86400 + 1);
    CHECK(ntm_local_day(INT64_MIN) < 0);
}

/* ---- SipHash -------------------------------------------------------------- */

/* SipHash-2-4 64-bit outputs for key 00 01 .. 0f and the messages 00 01 .. of
 * lengths 0..63: the reference vectors (vectors_sip64 of the reference code,
 * as u64 little-endian), reproduced with OpenSSL 3 `openssl mac SIPHASH`. */
static const uint64_t sip_vectors[64] = {
    0x726fdb47dd0e0e31u, 0x74f839c593dc67fdu, 0x0d6c8009d9a94f5au, 0x85676696d7fb7e2du,
    0xcf2794e0277187b7u, 0x18765564cd99a68du, 0xcbc9466e58fee3ceu, 0xab0200f58b01d137u,
    0x93f5f5799a932462u, 0x9e0082df0ba9e4b0u, 0x7a5dbbc594ddb9f3u, 0xf4b32f46226bada7u,
    0x751e8fbc860ee5fbu, 0x14ea5627c0843d90u, 0xf723ca908e7af2eeu, 0xa129ca6149be45e5u,
    0x3f2acc7f57c29bdbu, 0x699ae9f52cbe4794u, 0x4bc1b3f0968dd39cu, 0xbb6dc91da77961bdu,
    0xbed65cf21aa2ee98u, 0xd0f2cbb02e3b67c7u, 0x93536795e3a33e88u, 0xa80c038ccd5ccec8u,
    0xb8ad50c6f649af94u, 0xbce192de8a85b8eau, 0x17d835b85bbb15f3u, 0x2f2e6163076bcfadu,
    0xde4daaaca71dc9a5u, 0xa6a2506687956571u, 0xad87a3535c49ef28u, 0x32d892fad841c342u,
    0x7127512f72f27cceu, 0xa7f32346f95978e3u, 0x12e0b01abb051238u, 0x15e034d40fa197aeu,
    0x314dffbe0815a3b4u, 0x027990f029623981u, 0xcadcd4e59ef40c4du, 0x9abfd8766a33735cu,
    0x0e3ea96b5304a7d0u, 0xad0c42d6fc585992u, 0x187306c89bc215a9u, 0xd4a60abcf3792b95u,
    0xf935451de4f21df2u, 0xa9538f0419755787u, 0xdb9acddff56ca510u, 0xd06c98cd5c0975ebu,
    0xe612a3cb9ecba951u, 0xc766e62cfcadaf96u, 0xee64435a9752fe72u, 0xa192d576b245165au,
    0x0a8787bf8ecb74b2u, 0x81b3e73d20b49b6fu, 0x7fa8220ba3b2eceau, 0x245731c13ca42499u,
    0xb78dbfaf3a8d83bdu, 0xea1ad565322a1a0bu, 0x60e61c23a3795013u, 0x6606d7e446282b93u,
    0x6ca4ecb15c5f91e1u, 0x9f626da15c9625f3u, 0xe51b38608ef25f57u, 0x958a324ceb064572u,
};

static void test_siphash(void)
{
    uint8_t key[16], msg[64];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    int bad = 0;
    for (size_t len = 0; len < 64; len++)
        if (ntm_siphash24(key, msg, len) != sip_vectors[len]) {
            fprintf(stderr, "siphash length %zu: got %016llx\n", len,
                    (unsigned long long)ntm_siphash24(key, msg, len));
            bad++;
        }
    CHECK(bad == 0);
    /* the lengths the brief names, one by one */
    CHECK(ntm_siphash24(key, msg, 0) == UINT64_C(0x726fdb47dd0e0e31));
    CHECK(ntm_siphash24(key, msg, 1) == UINT64_C(0x74f839c593dc67fd));
    CHECK(ntm_siphash24(key, msg, 7) == UINT64_C(0xab0200f58b01d137));
    CHECK(ntm_siphash24(key, msg, 8) == UINT64_C(0x93f5f5799a932462));
    CHECK(ntm_siphash24(key, msg, 15) == UINT64_C(0xa129ca6149be45e5)); /* the paper's example */
    CHECK(ntm_siphash24(key, msg, 63) == UINT64_C(0x958a324ceb064572));
    /* a MAC is a 6-byte message */
    CHECK(ntm_mac_hash(key, msg) == sip_vectors[6]);
    /* unaligned input */
    uint8_t shifted[65];
    memcpy(shifted + 1, msg, 64);
    CHECK(ntm_siphash24(key, shifted + 1, 63) == sip_vectors[63]);
}

/* ---- MAC parsing ---------------------------------------------------------- */

static int mac_ok(const char *s, const uint8_t want[6])
{
    uint8_t mac[6];
    return ntm_mac_parse(s, strlen(s), mac) == 0 && memcmp(mac, want, 6) == 0;
}

static int mac_bad(const char *s)
{
    uint8_t mac[6];
    return ntm_mac_parse(s, strlen(s), mac) == -1;
}

static void test_mac(void)
{
    static const uint8_t m[6] = {0xa4, 0x5e, 0x60, 0x12, 0x34, 0x56};
    static const uint8_t f[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK(mac_ok("a4:5e:60:12:34:56", m));
    CHECK(mac_ok("A4:5E:60:12:34:56", m));
    CHECK(mac_ok("a4-5e-60-12-34-56", m));
    CHECK(mac_ok("A4-5e-60-12-34-56", m));
    CHECK(mac_ok("ff:FF:ff:FF:ff:FF", f));
    CHECK(mac_bad(""));
    CHECK(mac_bad("a4:5e:60:12:34"));
    CHECK(mac_bad("a4:5e:60:12:34:5"));
    CHECK(mac_bad("a4:5e:60:12:34:567"));
    CHECK(mac_bad("a4:5e:60:12:34:56:"));
    CHECK(mac_bad("a4:5e:60:12:34:56 "));
    CHECK(mac_bad(" a4:5e:60:12:34:56"));
    CHECK(mac_bad("a45e60123456"));
    CHECK(mac_bad("a45e.6012.3456"));
    CHECK(mac_bad("a4:5e-60:12:34:56"));
    CHECK(mac_bad("a4-5e-60-12-34:56"));
    CHECK(mac_bad("a4.5e.60.12.34.56"));
    CHECK(mac_bad("a4:5e:60:12:34:5g"));
    CHECK(mac_bad("g4:5e:60:12:34:56"));
    CHECK(mac_bad("a4:5e:60:1:234:56"));
    CHECK(mac_bad("+4:5e:60:12:34:56"));
    CHECK(mac_bad("a4::5e:60:12:34:5"));
    uint8_t mac[6];
    CHECK(ntm_mac_parse(NULL, 0, mac) == -1);
    /* `len` bounds the string: a longer buffer is fine */
    CHECK(ntm_mac_parse("a4:5e:60:12:34:56trailing", 17, mac) == 0 && memcmp(mac, m, 6) == 0);
    CHECK(ntm_mac_parse("a4:5e:60:12:34:56", 16, mac) == -1);

    /* the hash: keyed, same MAC same key same hash, another key another hash */
    uint8_t k1[16], k2[16];
    day_key(DAY_20261122, k1);
    day_key(DAY_20261122 + 1, k2);
    CHECK(ntm_mac_hash(k1, m) == ntm_mac_hash(k1, m));
    CHECK(ntm_mac_hash(k1, m) == ntm_siphash24(k1, m, 6));
    CHECK(ntm_mac_hash(k1, m) != ntm_mac_hash(k2, m));
    CHECK(ntm_mac_hash(k1, m) != ntm_mac_hash(k1, f));
}

/* ---- topics --------------------------------------------------------------- */

static void test_topics(void)
{
    static const struct {
        const char *kind, *channel;
        int k, c, ok;
    } combos[] = {
        {"speaker", "state", SP, ST, 1}, {"speaker", "heartbeat", SP, HB, 1},
        {"speaker", "event", SP, EV, 1}, {"speaker", "stats", SP, STS, 0},
        {"camera", "state", CA, ST, 1},  {"camera", "heartbeat", CA, HB, 1},
        {"camera", "event", CA, EV, 1},  {"camera", "stats", CA, STS, 1},
        {"wifi", "state", WI, ST, 1},    {"wifi", "heartbeat", WI, HB, 1},
        {"wifi", "event", WI, EV, 0},    {"wifi", "stats", WI, STS, 1},
    };
    for (size_t i = 0; i < sizeof combos / sizeof combos[0]; i++) {
        char t[128];
        snprintf(t, sizeof t, "ntm/v1/thon-dong/%s/dev-01/%s", combos[i].kind, combos[i].channel);
        enum ntm_reject r = tp(t);
        if (combos[i].ok) {
            CHECKW(r == NTM_ACCEPT);
            CHECK(why[0] == '\0');
        } else {
            CHECKW(r == NTM_REJ_CHANNEL);
            CHECKW(has(why, combos[i].kind) && has(why, combos[i].channel));
        }
        CHECK(topic.kind == combos[i].k && topic.channel == combos[i].c);
        CHECK(strcmp(topic.village, "thon-dong") == 0);
        CHECK(strcmp(topic.device, "dev-01") == 0);
    }
    CHECKW(tp("ntm/v1/thon-dong/speaker/loa_01/stats") == NTM_REJ_CHANNEL);
    CHECKW(strcmp(why, "a speaker has no 'stats' channel (only state, heartbeat, event)") == 0);
    CHECKW(tp("ntm/v1/thon-dong/wifi/ap-1/event") == NTM_REJ_CHANNEL);
    CHECKW(has(why, "a wifi has no 'event' channel"));

    /* ids at their limits */
    char t[256];
    snprintf(t, sizeof t, "ntm/v1/%s/camera/%s/state", "abcdefghijklmnopqrstuvwxyz-01234",
             "Aa0_.-567890123456789012345678901234567890123456789012345678901234");
    CHECK(strlen("Aa0_.-567890123456789012345678901234567890123456789012345678901234") == 66);
    CHECKW(tp(t) == NTM_REJ_TOPIC);
    CHECKW(has(why, "device id is 66 characters, more than 64"));
    snprintf(t, sizeof t, "ntm/v1/%s/camera/%s/state", "abcdefghijklmnopqrstuvwxyz-01234",
             "Aa0_.-5678901234567890123456789012345678901234567890123456789012");
    CHECKW(tp(t) == NTM_ACCEPT);
    CHECK(strcmp(topic.village, "abcdefghijklmnopqrstuvwxyz-01234") == 0);
    CHECK(strlen(topic.device) == 64);
    snprintf(t, sizeof t, "ntm/v1/%s/camera/cam/state", "abcdefghijklmnopqrstuvwxyz-012345");
    CHECKW(tp(t) == NTM_REJ_TOPIC);
    CHECKW(strcmp(why, "village id is 33 characters, more than 32") == 0);
    CHECKW(tp("ntm/v1/1/wifi/x/state") == NTM_ACCEPT);

    /* syntax errors, each saying which part */
    CHECKW(tp("") == NTM_REJ_TOPIC);
    CHECKW(has(why, "ntm/v1/"));
    CHECKW(tp("ntm") == NTM_REJ_TOPIC);
    CHECKW(tp("ntm/v1") == NTM_REJ_TOPIC);
    CHECKW(tp("ntm/v2/thon-dong/speaker/loa-1/state") == NTM_REJ_TOPIC);
    CHECKW(has(why, "does not start with ntm/v1/"));
    CHECKW(tp("NTM/v1/thon-dong/speaker/loa-1/state") == NTM_REJ_TOPIC);
    CHECKW(tp("/ntm/v1/thon-dong/speaker/loa-1/state") == NTM_REJ_TOPIC);
    CHECKW(tp("ntm/v1/thon-dong/speaker/loa-1") == NTM_REJ_TOPIC);
    CHECKW(has(why, "5 levels, not 6"));
    CHECKW(tp("ntm/v1/thon-dong/speaker/loa-1/state/") == NTM_REJ_TOPIC);
    CHECKW(has(why, "7 levels, not 6"));
    CHECKW(tp("ntm/v1/thon-dong/speaker/loa/1/state") == NTM_REJ_TOPIC);
    CHECKW(has(why, "7 levels"));
    CHECKW(tp("ntm/v1/thon-dong/speaker/loa-1/state/a/b/c/d/e/f/g") == NTM_REJ_TOPIC);
    CHECKW(has(why, "13 levels"));
    CHECKW(tp("ntm/v1//speaker/loa-1/state") == NTM_REJ_TOPIC);
    CHECKW(strcmp(why, "village id is empty") == 0);
    CHECKW(tp("ntm/v1/Thon-Dong/speaker/loa-1/state") == NTM_REJ_TOPIC);
    CHECKW(strcmp(why, "village id 'Thon-Dong' has a character outside [a-z0-9-]") == 0);
    CHECKW(tp("ntm/v1/thon_dong/speaker/loa-1/state") == NTM_REJ_TOPIC);
    CHECKW(has(why, "village id 'thon_dong'"));
    CHECKW(tp("ntm/v1/thon-dong/radio/loa-1/state") == NTM_REJ_TOPIC);
    CHECKW(strcmp(why, "kind 'radio' is not speaker, camera or wifi") == 0);
    CHECKW(tp("ntm/v1/thon-dong/Speaker/loa-1/state") == NTM_REJ_TOPIC);
    CHECKW(tp("ntm/v1/thon-dong/speakers/loa-1/state") == NTM_REJ_TOPIC);
    CHECKW(tp("ntm/v1/thon-dong/speake/loa-1/state") == NTM_REJ_TOPIC);
    CHECKW(tp("ntm/v1/thon-dong//loa-1/state") == NTM_REJ_TOPIC);
    CHECKW(has(why, "kind ''"));
    CHECKW(tp("ntm/v1/thon-dong/speaker//state") == NTM_REJ_TOPIC);
    CHECKW(strcmp(why, "device id is empty") == 0);
    CHECKW(tp("ntm/v1/thon-dong/speaker/a b/state") == NTM_REJ_TOPIC);
    CHECKW(strcmp(why, "device id 'a b' has a character outside [A-Za-z0-9_.-]") == 0);
    CHECKW(tp("ntm/v1/thon-dong/speaker/a+/state") == NTM_REJ_TOPIC);
    CHECKW(tp("ntm/v1/thon-dong/speaker/#/state") == NTM_REJ_TOPIC);
    CHECKW(tp("ntm/v1/thon-dong/speaker/lo\xc3\xa0/state") == NTM_REJ_TOPIC);
    CHECKW(has(why, "device id 'lo?"
                    "?'")); /* non-ASCII bytes are not echoed */
    CHECKW(tp("ntm/v1/thon-dong/speaker/loa-1/State") == NTM_REJ_TOPIC);
    CHECKW(strcmp(why, "channel 'State' is not state, heartbeat, event or stats") == 0);
    CHECKW(tp("ntm/v1/thon-dong/speaker/loa-1/") == NTM_REJ_TOPIC);
    CHECKW(has(why, "channel ''"));
    CHECKW(tp("ntm/v1/thon-dong/speaker/loa-1/events") == NTM_REJ_TOPIC);

    /* a NUL inside the topic is just a bad character; len rules, not the NUL */
    static const char nul_topic[] = "ntm/v1/thon-dong/speaker/lo\0a/state";
    CHECK(ntm_topic_parse(nul_topic, sizeof nul_topic - 1, &topic, why, sizeof why) ==
          NTM_REJ_TOPIC);
    CHECKW(has(why, "device id 'lo?a'"));
    static const char nul_channel[] = "ntm/v1/thon-dong/speaker/loa/state\0";
    CHECK(ntm_topic_parse(nul_channel, sizeof nul_channel - 1, &topic, why, sizeof why) ==
          NTM_REJ_TOPIC);
    /* a prefix of a longer string */
    static const char longer[] = "ntm/v1/thon-dong/wifi/ap-1/statsXYZ";
    CHECK(ntm_topic_parse(longer, sizeof longer - 4, &topic, why, sizeof why) == NTM_ACCEPT);
    CHECK(topic.channel == STS && strcmp(topic.device, "ap-1") == 0);
    CHECK(ntm_topic_parse(NULL, 0, &topic, why, sizeof why) == NTM_REJ_TOPIC);

    /* echoes are bounded and never carry a MAC */
    CHECKW(tp("ntm/v1/thon-dong/speaker/a4:5e:60:12:34:56/state") == NTM_REJ_TOPIC);
    CHECKW(!has(why, "a4:5e") && has(why, "<mac>"));
    CHECKW(tp("ntm/v1/thon-dong/speaker/x=A4-5E-60-12-34-56=y/state") == NTM_REJ_TOPIC);
    CHECKW(!has(why, "A4-5E") && has(why, "x=<mac>=y"));
    CHECKW(tp("ntm/v1/thon-dong/speaker/0123456789012345678901234567890123456789012345678901234 "
              "/state") == NTM_REJ_TOPIC);
    CHECKW(has(why, "'0123456789012345678901234567890123456789...'"));
    CHECKW(!has(why, "01234567890123456789012345678901234567890"));

    /* a short `why` buffer is still NUL-terminated and not overrun */
    char small[12];
    memset(small, 'Z', sizeof small);
    CHECK(ntm_topic_parse("ntm/v1/x/radio/d/state", 22, &topic, small, 8) == NTM_REJ_TOPIC);
    CHECK(strlen(small) == 7 && small[8] == 'Z');
    CHECK(ntm_topic_parse("ntm/v1/x/wifi/d/state", 21, &topic, NULL, 0) == NTM_ACCEPT);
}

/* ---- payloads ------------------------------------------------------------- */

static void test_state(void)
{
    CHECKW(pl(SP, ST, "{\"ts\": 1795280400, \"online\": true}") == NTM_ACCEPT);
    CHECK(rec.u.state.online == true && rec.ts == 1795280400 && rec.flags == 0);
    CHECK(rec.event == NTM_EV_NONE);
    CHECKW(pl(CA, ST, "{\"online\": false}") == NTM_ACCEPT); /* an MQTT last will */
    CHECK(rec.u.state.online == false && rec.ts == NOW_S && rec.flags == NTM_REC_CLOCK_FALLBACK);
    CHECKW(pl(WI, ST, "{\"ts\": 1795280400}") == NTM_REJ_MISSING);
    CHECKW(strcmp(why, "missing required field 'online'") == 0);
    CHECKW(pl(WI, ST, "{\"ts\": 1795280400, \"online\": \"true\"}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'online' must be a boolean, got a string") == 0);
    CHECKW(pl(WI, ST, "{\"online\": 1}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'online' must be a boolean, got a number") == 0);
    CHECKW(pl(WI, ST, "{\"online\": null}") == NTM_REJ_TYPE);
    CHECKW(has(why, "got null"));
    CHECKW(pl(WI, ST, "{\"online\": [true]}") == NTM_REJ_TYPE);
    CHECKW(has(why, "got an array"));
    CHECKW(pl(WI, ST, "{\"online\": {}}") == NTM_REJ_TYPE);
    CHECKW(has(why, "got an object"));
    CHECKW(pl(WI, ST, "{\"Online\": true}") == NTM_REJ_MISSING); /* names are case-sensitive */
    /* unknown fields, and fields of other channels, are ignored */
    CHECKW(pl(SP, ST,
              "{\"online\": true, \"fw\": \"1.2.3\", \"extra\": {\"a\": [1, 2, {\"b\": "
              "null}]}, \"interval_s\": \"not checked here\", \"x\": -1e999}") == NTM_ACCEPT);
    CHECK(rec.u.state.online == true);
    /* the first of duplicate names wins */
    CHECKW(pl(SP, ST, "{\"online\": true, \"online\": false}") == NTM_ACCEPT);
    CHECK(rec.u.state.online == true);
}

static void test_heartbeat(void)
{
    for (int k = 0; k < NTM_KIND_COUNT; k++) {
        CHECKW(pl(k, HB, "{\"ts\": 1795280400}") == NTM_ACCEPT);
        CHECK(rec.u.heartbeat.interval_s == 60 && rec.u.heartbeat.uptime_s == -1);
    }
    CHECKW(pl(SP, HB, "{}") == NTM_ACCEPT);
    CHECK(rec.u.heartbeat.interval_s == 60 && rec.u.heartbeat.uptime_s == -1);
    CHECK(rec.flags == NTM_REC_CLOCK_FALLBACK);
    CHECKW(pl(SP, HB, "{\"ts\": 1795280400, \"interval_s\": 30, \"uptime_s\": 86400}") ==
           NTM_ACCEPT);
    CHECK(rec.u.heartbeat.interval_s == 30 && rec.u.heartbeat.uptime_s == 86400);
    CHECKW(pl(SP, HB, "{\"interval_s\": 60.0, \"uptime_s\": 0}") == NTM_ACCEPT);
    CHECK(rec.u.heartbeat.interval_s == 60 && rec.u.heartbeat.uptime_s == 0);
    CHECKW(pl(SP, HB, "{\"interval_s\": 1}") == NTM_ACCEPT);
    CHECK(rec.u.heartbeat.interval_s == 1);
    CHECKW(pl(SP, HB, "{\"interval_s\": 86400}") == NTM_ACCEPT);
    CHECK(rec.u.heartbeat.interval_s == 86400);
    CHECKW(pl(SP, HB, "{\"interval_s\": 6e1}") == NTM_ACCEPT);
    CHECK(rec.u.heartbeat.interval_s == 60);
    CHECKW(pl(SP, HB, "{\"uptime_s\": 9007199254740992}") == NTM_ACCEPT);
    CHECK(rec.u.heartbeat.uptime_s == INT64_C(9007199254740992));

    CHECKW(pl(SP, HB, "{\"interval_s\": 0}") == NTM_REJ_VALUE);
    CHECKW(strcmp(why, "field 'interval_s' must be an integer from 1 to 86400, got 0") == 0);
    CHECKW(pl(SP, HB, "{\"interval_s\": 86401}") == NTM_REJ_VALUE);
    CHECKW(pl(SP, HB, "{\"interval_s\": -60}") == NTM_REJ_VALUE);
    CHECKW(pl(SP, HB, "{\"interval_s\": 1.5}") == NTM_REJ_VALUE);
    CHECKW(pl(SP, HB, "{\"interval_s\": 59.999}") == NTM_REJ_VALUE);
    CHECKW(pl(SP, HB, "{\"interval_s\": 1e999}") == NTM_REJ_VALUE);
    CHECKW(pl(SP, HB, "{\"interval_s\": \"60\"}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'interval_s' must be a number, got a string") == 0);
    CHECKW(pl(SP, HB, "{\"interval_s\": null}") == NTM_REJ_TYPE);
    CHECKW(pl(SP, HB, "{\"uptime_s\": -1}") == NTM_REJ_VALUE);
    CHECKW(has(why, "'uptime_s' must be an integer >= 0, got -1"));
    CHECKW(pl(SP, HB, "{\"uptime_s\": 10.5}") == NTM_REJ_VALUE);
    CHECKW(pl(SP, HB, "{\"uptime_s\": 9007199254740994}") == NTM_REJ_VALUE);
    CHECKW(has(why, "at most 2^53"));
    CHECKW(pl(SP, HB, "{\"uptime_s\": true}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'uptime_s' must be a number, got a boolean") == 0);
}

static void test_broadcast(void)
{
    CHECKW(pl(SP, EV,
              "{\"ts\": 1795280300, \"type\": \"broadcast\", \"start\": 1795279400, "
              "\"duration_s\": 900, \"result\": \"played\", \"priority\": \"normal\", "
              "\"source\": \"commune\", \"program\": \"ban-tin-sang\"}") == NTM_ACCEPT);
    CHECK(rec.event == NTM_EV_BROADCAST && rec.ts == 1795280300 && rec.flags == 0);
    CHECK(rec.u.broadcast.start == 1795279400 && rec.u.broadcast.duration_s == 900);
    CHECK(rec.u.broadcast.result == NTM_RESULT_PLAYED);
    CHECK(rec.u.broadcast.priority == NTM_PRIO_NORMAL);
    CHECK(rec.u.broadcast.source == NTM_SRC_COMMUNE);
    CHECK(strcmp(rec.u.broadcast.program, "ban-tin-sang") == 0);

    /* defaults; a fractional start and duration */
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1795280400.75, \"duration_s\": 0.5, "
              "\"result\": \"failed\"}") == NTM_ACCEPT);
    CHECK(rec.u.broadcast.start == 1795280400 && rec.u.broadcast.duration_s == 0.5);
    CHECK(rec.u.broadcast.result == NTM_RESULT_FAILED);
    CHECK(rec.u.broadcast.priority == NTM_PRIO_NORMAL);
    CHECK(rec.u.broadcast.source == NTM_SRC_OTHER);
    CHECK(rec.u.broadcast.program[0] == '\0');
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 0, \"duration_s\": 0, "
              "\"result\": \"interrupted\", \"program\": \"\"}") == NTM_ACCEPT);
    CHECK(rec.u.broadcast.result == NTM_RESULT_INTERRUPTED && rec.u.broadcast.duration_s == 0);

    /* every listed value */
    char buf[512];
    for (int i = 0; i < NTM_RESULT_COUNT; i++) {
        snprintf(buf, sizeof buf,
                 "{\"type\":\"broadcast\",\"start\":1,\"duration_s\":2,\"result\":\"%s\"}",
                 ntm_result_name((enum ntm_result)i));
        CHECKW(pl(SP, EV, buf) == NTM_ACCEPT);
        CHECK(rec.u.broadcast.result == i);
    }
    for (int i = 0; i < NTM_PRIO_COUNT; i++) {
        snprintf(buf, sizeof buf,
                 "{\"type\":\"broadcast\",\"start\":1,\"duration_s\":2,\"result\":\"played\","
                 "\"priority\":\"%s\"}",
                 ntm_priority_name((enum ntm_priority)i));
        CHECKW(pl(SP, EV, buf) == NTM_ACCEPT);
        CHECK(rec.u.broadcast.priority == i);
    }
    for (int i = 0; i < NTM_SRC_COUNT; i++) {
        snprintf(buf, sizeof buf,
                 "{\"type\":\"broadcast\",\"start\":1,\"duration_s\":2,\"result\":\"played\","
                 "\"source\":\"%s\"}",
                 ntm_source_name((enum ntm_source)i));
        CHECKW(pl(SP, EV, buf) == NTM_ACCEPT);
        CHECK(rec.u.broadcast.source == i);
    }

    /* each required field missing */
    CHECKW(pl(SP, EV, "{\"start\": 1, \"duration_s\": 2, \"result\": \"played\"}") ==
           NTM_REJ_MISSING);
    CHECKW(strcmp(why, "missing required field 'type'") == 0);
    CHECKW(pl(SP, EV, "{\"type\": \"broadcast\", \"duration_s\": 2, \"result\": \"played\"}") ==
           NTM_REJ_MISSING);
    CHECKW(strcmp(why, "missing required field 'start'") == 0);
    CHECKW(pl(SP, EV, "{\"type\": \"broadcast\", \"start\": 1, \"result\": \"played\"}") ==
           NTM_REJ_MISSING);
    CHECKW(strcmp(why, "missing required field 'duration_s'") == 0);
    CHECKW(pl(SP, EV, "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 2}") ==
           NTM_REJ_MISSING);
    CHECKW(strcmp(why, "missing required field 'result'") == 0);

    /* each field of the wrong type */
    CHECKW(pl(SP, EV, "{\"type\": 1, \"start\": 1, \"duration_s\": 2, \"result\": \"played\"}") ==
           NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'type' must be a string, got a number") == 0);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": \"1\", \"duration_s\": 2, "
              "\"result\": \"played\"}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'start' must be a number, got a string") == 0);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": \"900\", "
              "\"result\": \"played\"}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'duration_s' must be a number, got a string") == 0);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 2, "
              "\"result\": true}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'result' must be a string, got a boolean") == 0);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 2, "
              "\"result\": \"played\", \"priority\": 2}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'priority' must be a string, got a number") == 0);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 2, "
              "\"result\": \"played\", \"source\": null}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'source' must be a string, got null") == 0);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 2, "
              "\"result\": \"played\", \"program\": [\"a\"]}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'program' must be a string, got an array") == 0);

    /* values outside the listed ones */
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 2, "
              "\"result\": \"skipped\"}") == NTM_REJ_VALUE);
    CHECKW(strcmp(why, "field 'result' must be played, interrupted or failed, got 'skipped'") == 0);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 2, "
              "\"result\": \"Played\"}") == NTM_REJ_VALUE);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 2, "
              "\"result\": \"played\", \"priority\": \"urgent\"}") == NTM_REJ_VALUE);
    CHECKW(strcmp(why, "field 'priority' must be normal, priority or emergency, got 'urgent'") ==
           0);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 2, "
              "\"result\": \"played\", \"source\": \"district\"}") == NTM_REJ_VALUE);
    CHECKW(strcmp(why, "field 'source' must be commune, province, national or other, got "
                       "'district'") == 0);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": -1, "
              "\"result\": \"played\"}") == NTM_REJ_VALUE);
    CHECKW(has(why, "'duration_s' must be a number >= 0, got -1"));
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 1e400, "
              "\"result\": \"played\"}") == NTM_REJ_VALUE);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": -5, \"duration_s\": 1, "
              "\"result\": \"played\"}") == NTM_REJ_VALUE);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1e300, \"duration_s\": 1, "
              "\"result\": \"played\"}") == NTM_REJ_VALUE);

    /* the speaker's event types only */
    CHECKW(pl(SP, EV, "{\"type\": \"motion\"}") == NTM_REJ_VALUE);
    CHECKW(strcmp(why, "field 'type' must be broadcast or fault, got 'motion'") == 0);
    CHECKW(pl(SP, EV,
              "{\"type\": \"Broadcast\", \"start\": 1, \"duration_s\": 2, "
              "\"result\": \"played\"}") == NTM_REJ_VALUE);
    CHECKW(pl(SP, EV, "{\"type\": \"\"}") == NTM_REJ_VALUE);

    /* program: at most NTM_PROGRAM_MAX bytes, any UTF-8 */
    char prog[NTM_PROGRAM_MAX + 2];
    memset(prog, 'p', sizeof prog);
    prog[NTM_PROGRAM_MAX] = '\0';
    snprintf(buf, sizeof buf,
             "{\"type\":\"broadcast\",\"start\":1,\"duration_s\":2,\"result\":\"played\","
             "\"program\":\"%s\"}",
             prog);
    CHECKW(pl(SP, EV, buf) == NTM_ACCEPT);
    CHECK(strlen(rec.u.broadcast.program) == NTM_PROGRAM_MAX);
    prog[NTM_PROGRAM_MAX] = 'p';
    prog[NTM_PROGRAM_MAX + 1] = '\0';
    snprintf(buf, sizeof buf,
             "{\"type\":\"broadcast\",\"start\":1,\"duration_s\":2,\"result\":\"played\","
             "\"program\":\"%s\"}",
             prog);
    CHECKW(pl(SP, EV, buf) == NTM_REJ_VALUE);
    CHECKW(strcmp(why, "field 'program' is longer than 128 bytes") == 0);
    CHECKW(pl(SP, EV,
              "{\"type\":\"broadcast\",\"start\":1,\"duration_s\":2,\"result\":\"played\","
              "\"program\":\"B\xe1\xba\xa3n tin s\xc3\xa1ng \\u1ea1 \xf0\x9f\x93\xa2\"}") ==
           NTM_ACCEPT);
    CHECK(strcmp(rec.u.broadcast.program,
                 "B\xe1\xba\xa3n tin s\xc3\xa1ng \xe1\xba\xa1 \xf0\x9f\x93\xa2") == 0);

    /* an unlisted value is echoed at most 40 bytes, sanitized */
    CHECKW(pl(SP, EV,
              "{\"type\":\"broadcast\",\"start\":1,\"duration_s\":2,\"result\":"
              "\"aaaaaaaaaabbbbbbbbbbccccccccccddddddddddeeeeeeeeee\"}") == NTM_REJ_VALUE);
    CHECKW(has(why, "got 'aaaaaaaaaabbbbbbbbbbccccccccccdddddddddd...'"));
    CHECKW(!has(why, "e"
                     "e"));
    CHECKW(pl(SP, EV,
              "{\"type\":\"broadcast\",\"start\":1,\"duration_s\":2,\"result\":"
              "\"it's\\n\\\"x\\\"\"}") == NTM_REJ_VALUE);
    CHECKW(has(why, "got 'it?s?\"x\"'"));
}

static void test_fault(void)
{
    CHECKW(pl(SP, EV, "{\"ts\": 1795280400, \"type\": \"fault\", \"fault\": \"amplifier\"}") ==
           NTM_ACCEPT);
    CHECK(rec.event == NTM_EV_FAULT && rec.u.fault.fault == NTM_FAULT_AMPLIFIER);
    CHECKW(pl(SP, EV, "{\"type\": \"fault\"}") == NTM_ACCEPT);
    CHECK(rec.event == NTM_EV_FAULT && rec.u.fault.fault == NTM_FAULT_OTHER);
    char buf[128];
    for (int i = 0; i < NTM_FAULT_COUNT; i++) {
        snprintf(buf, sizeof buf, "{\"type\":\"fault\",\"fault\":\"%s\"}",
                 ntm_fault_name((enum ntm_fault)i));
        CHECKW(pl(SP, EV, buf) == NTM_ACCEPT);
        CHECK(rec.u.fault.fault == i);
    }
    CHECKW(pl(SP, EV, "{\"type\": \"fault\", \"fault\": \"overheat\"}") == NTM_REJ_VALUE);
    CHECKW(strcmp(why, "field 'fault' must be amplifier, power, fan, network or other, got "
                       "'overheat'") == 0);
    CHECKW(pl(SP, EV, "{\"type\": \"fault\", \"fault\": 3}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'fault' must be a string, got a number") == 0);
    /* a fault needs no broadcast fields; broadcast fields are ignored */
    CHECKW(pl(SP, EV, "{\"type\": \"fault\", \"result\": \"bogus\", \"start\": \"x\"}") ==
           NTM_ACCEPT);
}

static void test_camera(void)
{
    static const char *const types[] = {"motion", "tamper", "video_loss", "storage_error"};
    static const int evs[] = {NTM_EV_MOTION, NTM_EV_TAMPER, NTM_EV_VIDEO_LOSS,
                              NTM_EV_STORAGE_ERROR};
    char buf[128];
    for (int i = 0; i < 4; i++) {
        snprintf(buf, sizeof buf, "{\"ts\": 1795280400, \"type\": \"%s\"}", types[i]);
        CHECKW(pl(CA, EV, buf) == NTM_ACCEPT);
        CHECK(rec.event == evs[i] && rec.u.camera_event.duration_s == -1);
    }
    CHECKW(pl(CA, EV, "{\"type\": \"motion\", \"duration_s\": 12.5}") == NTM_ACCEPT);
    CHECK(rec.u.camera_event.duration_s == 12.5);
    CHECKW(pl(CA, EV, "{\"type\": \"motion\", \"duration_s\": 0}") == NTM_ACCEPT);
    CHECK(rec.u.camera_event.duration_s == 0);
    CHECKW(pl(CA, EV, "{\"ts\": 1795280400}") == NTM_REJ_MISSING);
    CHECKW(strcmp(why, "missing required field 'type'") == 0);
    CHECKW(pl(CA, EV, "{\"type\": [\"motion\"]}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'type' must be a string, got an array") == 0);
    CHECKW(pl(CA, EV, "{\"type\": \"broadcast\"}") == NTM_REJ_VALUE);
    CHECKW(strcmp(why, "field 'type' must be motion, tamper, video_loss or storage_error, got "
                       "'broadcast'") == 0);
    CHECKW(pl(CA, EV, "{\"type\": \"fault\"}") == NTM_REJ_VALUE);
    CHECKW(pl(CA, EV, "{\"type\": \"face_detected\"}") == NTM_REJ_VALUE);
    CHECKW(pl(CA, EV, "{\"type\": \"motion\", \"duration_s\": -0.5}") == NTM_REJ_VALUE);
    CHECKW(pl(CA, EV, "{\"type\": \"motion\", \"duration_s\": \"5\"}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'duration_s' must be a number, got a string") == 0);
    /* metadata only: an image in an unknown field is ignored, never copied */
    CHECKW(pl(CA, EV, "{\"type\": \"tamper\", \"image\": \"/9j/4AAQSkZJRgABAQ==\"}") == NTM_ACCEPT);
    CHECK(memmem(&rec, sizeof rec, "/9j/", 4) == NULL);

    CHECKW(pl(CA, STS, "{\"ts\": 1795280400, \"recording\": true, \"storage_free_pct\": 63}") ==
           NTM_ACCEPT);
    CHECK(rec.event == NTM_EV_NONE && rec.u.camera_stats.recording == true &&
          rec.u.camera_stats.storage_free_pct == 63);
    CHECKW(pl(CA, STS, "{\"recording\": false}") == NTM_ACCEPT);
    CHECK(rec.u.camera_stats.recording == false && rec.u.camera_stats.storage_free_pct == -1);
    CHECKW(pl(CA, STS, "{\"recording\": true, \"storage_free_pct\": 0}") == NTM_ACCEPT);
    CHECK(rec.u.camera_stats.storage_free_pct == 0);
    CHECKW(pl(CA, STS, "{\"recording\": true, \"storage_free_pct\": 100}") == NTM_ACCEPT);
    CHECK(rec.u.camera_stats.storage_free_pct == 100);
    CHECKW(pl(CA, STS, "{\"recording\": true, \"storage_free_pct\": 12.34}") == NTM_ACCEPT);
    CHECK(rec.u.camera_stats.storage_free_pct == 12.34);
    CHECKW(pl(CA, STS, "{\"storage_free_pct\": 50}") == NTM_REJ_MISSING);
    CHECKW(strcmp(why, "missing required field 'recording'") == 0);
    CHECKW(pl(CA, STS, "{\"recording\": \"yes\"}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'recording' must be a boolean, got a string") == 0);
    CHECKW(pl(CA, STS, "{\"recording\": true, \"storage_free_pct\": 100.5}") == NTM_REJ_VALUE);
    CHECKW(strcmp(why, "field 'storage_free_pct' must be a number from 0 to 100, got 100.5") == 0);
    CHECKW(pl(CA, STS, "{\"recording\": true, \"storage_free_pct\": -1}") == NTM_REJ_VALUE);
    CHECKW(pl(CA, STS, "{\"recording\": true, \"storage_free_pct\": \"63%\"}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'storage_free_pct' must be a number, got a string") == 0);
}

/* A wifi stats payload with `n` client MACs (the i-th given by mac_of). */
static char *wifi_payload(const char *extra, int n, const char *(*mac_of)(int, char[24]))
{
    size_t cap = 256 + (size_t)n * 24 + strlen(extra);
    char *p = malloc(cap);
    if (p == NULL)
        abort();
    size_t o = (size_t)snprintf(p, cap,
                                "{%s\"clients\": 14, \"new_sessions\": 3, \"rx_bytes\": 1048576, "
                                "\"tx_bytes\": 524288, \"client_macs\": [",
                                extra);
    for (int i = 0; i < n; i++) {
        char m[24];
        o += (size_t)snprintf(p + o, cap - o, "%s\"%s\"", i ? "," : "", mac_of(i, m));
    }
    snprintf(p + o, cap - o, "]}");
    return p;
}

static const char *mac_seq(int i, char m[24])
{
    snprintf(m, 24, "02:00:00:00:%02x:%02x", (i >> 8) & 0xff, i & 0xff);
    return m;
}

static void test_wifi(void)
{
    uint8_t key[16];
    static const uint8_t m1[6] = {0xa4, 0x5e, 0x60, 0x12, 0x34, 0x56};
    static const uint8_t m2[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};

    CHECKW(pl(WI, STS,
              "{\"ts\": 1795280400, \"clients\": 14, \"new_sessions\": 3, "
              "\"rx_bytes\": 1048576, \"tx_bytes\": 524288}") == NTM_ACCEPT);
    CHECK(rec.event == NTM_EV_NONE && rec.u.wifi.clients == 14 && rec.u.wifi.new_sessions == 3 &&
          rec.u.wifi.rx_bytes == 1048576 && rec.u.wifi.tx_bytes == 524288 &&
          rec.u.wifi.n_macs == 0);

    /* hashed with the key of the local day of ts; duplicates hashed each */
    key_calls = 0;
    CHECKW(pl(WI, STS,
              "{\"ts\": 1795280400, \"clients\": 3, \"new_sessions\": 0, "
              "\"rx_bytes\": 0, \"tx_bytes\": 0, \"client_macs\": [\"a4:5e:60:12:34:56\", "
              "\"02-11-22-33-44-55\", \"A4:5E:60:12:34:56\", \"a4-5e-60-12-34-56\"]}") ==
           NTM_ACCEPT);
    CHECK(key_calls == 1 && key_last_day == DAY_20261122);
    CHECK(rec.u.wifi.n_macs == 4);
    day_key(DAY_20261122, key);
    CHECK(rec.u.wifi.mac_hash[0] == ntm_mac_hash(key, m1));
    CHECK(rec.u.wifi.mac_hash[1] == ntm_mac_hash(key, m2));
    CHECK(rec.u.wifi.mac_hash[2] == rec.u.wifi.mac_hash[0]);
    CHECK(rec.u.wifi.mac_hash[3] == rec.u.wifi.mac_hash[0]);
    CHECK(rec.u.wifi.mac_hash[0] != rec.u.wifi.mac_hash[1]);
    /* no raw MAC, in bytes or as text, anywhere in the record */
    CHECK(memmem(&rec, sizeof rec, m1, 6) == NULL);
    CHECK(memmem(&rec, sizeof rec, m2, 6) == NULL);
    CHECK(memmem(&rec, sizeof rec, "a4:5e", 5) == NULL);
    uint64_t day1 = rec.u.wifi.mac_hash[0];

    /* one second earlier is the previous local day: another key, another hash */
    CHECKW(pl(WI, STS,
              "{\"ts\": 1795280399, \"clients\": 1, \"new_sessions\": 0, "
              "\"rx_bytes\": 0, \"tx_bytes\": 0, \"client_macs\": [\"a4:5e:60:12:34:56\"]}") ==
           NTM_ACCEPT);
    CHECK(key_last_day == DAY_20261122 - 1);
    CHECK(rec.u.wifi.n_macs == 1 && rec.u.wifi.mac_hash[0] != day1);
    day_key(DAY_20261122 - 1, key);
    CHECK(rec.u.wifi.mac_hash[0] == ntm_mac_hash(key, m1));
    /* the same MAC on the same day, later: the same hash */
    CHECKW(pl(WI, STS,
              "{\"ts\": 1795366799.5, \"clients\": 1, \"new_sessions\": 0, "
              "\"rx_bytes\": 0, \"tx_bytes\": 0, \"client_macs\": [\"A4-5E-60-12-34-56\"]}") ==
           NTM_ACCEPT);
    CHECK(key_last_day == DAY_20261122 && rec.u.wifi.mac_hash[0] == day1);
    /* the key of the final ts: the receive time when ts falls back */
    static const char fb[] = "{\"ts\": 1, \"clients\": 1, \"new_sessions\": 0, \"rx_bytes\": 0, "
                             "\"tx_bytes\": 0, \"client_macs\": [\"a4:5e:60:12:34:56\"]}";
    CHECKW(pln(WI, STS, fb, sizeof fb - 1, (NOW_S + 86400) * 1000) == NTM_ACCEPT);
    CHECK(rec.flags == NTM_REC_CLOCK_FALLBACK && key_last_day == DAY_20261122 + 1);

    /* an empty list needs no key */
    key_calls = 0;
    CHECKW(pl(WI, STS,
              "{\"clients\": 0, \"new_sessions\": 0, \"rx_bytes\": 0, \"tx_bytes\": 0, "
              "\"client_macs\": []}") == NTM_ACCEPT);
    CHECK(key_calls == 0 && rec.u.wifi.n_macs == 0);

    /* no key: rejected */
    key_fail = 1;
    CHECKW(pl(WI, STS,
              "{\"clients\": 1, \"new_sessions\": 0, \"rx_bytes\": 0, \"tx_bytes\": 0, "
              "\"client_macs\": [\"a4:5e:60:12:34:56\"]}") == NTM_REJ_VALUE);
    CHECKW(has(why, "no MAC hashing key") && !has(why, "a4:5e"));
    key_fail = 0;
    opts.mac_key = NULL;
    CHECKW(pl(WI, STS,
              "{\"clients\": 1, \"new_sessions\": 0, \"rx_bytes\": 0, \"tx_bytes\": 0, "
              "\"client_macs\": [\"a4:5e:60:12:34:56\"]}") == NTM_REJ_VALUE);
    CHECKW(has(why, "no MAC hashing key"));
    opts.mac_key = test_key;

    /* a malformed MAC: bad_value, never echoed */
    CHECKW(pl(WI, STS,
              "{\"clients\": 4, \"new_sessions\": 0, \"rx_bytes\": 0, \"tx_bytes\": 0, "
              "\"client_macs\": [\"a4:5e:60:12:34:56\", \"02:11:22:33:44:55\", "
              "\"a4:5e:60:12:34:57\", \"a4:5e:60:12:34:5z\"]}") == NTM_REJ_VALUE);
    CHECKW(strcmp(why, "client_macs[3] is not a MAC address") == 0);
    CHECKW(pl(WI, STS,
              "{\"clients\": 1, \"new_sessions\": 0, \"rx_bytes\": 0, \"tx_bytes\": 0, "
              "\"client_macs\": [\"a45e60123456\"]}") == NTM_REJ_VALUE);
    CHECKW(strcmp(why, "client_macs[0] is not a MAC address") == 0);
    CHECKW(pl(WI, STS,
              "{\"clients\": 1, \"new_sessions\": 0, \"rx_bytes\": 0, \"tx_bytes\": 0, "
              "\"client_macs\": [\"a4:5e:60:12:34:56:78\"]}") == NTM_REJ_VALUE);
    CHECKW(!has(why, "a4:5e"));
    CHECKW(pl(WI, STS,
              "{\"clients\": 1, \"new_sessions\": 0, \"rx_bytes\": 0, \"tx_bytes\": 0, "
              "\"client_macs\": [\"\"]}") == NTM_REJ_VALUE);
    CHECKW(pl(WI, STS,
              "{\"clients\": 1, \"new_sessions\": 0, \"rx_bytes\": 0, \"tx_bytes\": 0, "
              "\"client_macs\": [\"a4:5e:60:12:34:56\", 42]}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "client_macs[1] must be a string, got a number") == 0);
    CHECKW(pl(WI, STS,
              "{\"clients\": 1, \"new_sessions\": 0, \"rx_bytes\": 0, \"tx_bytes\": 0, "
              "\"client_macs\": \"a4:5e:60:12:34:56\"}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'client_macs' must be an array of strings, got a string") == 0);
    CHECKW(pl(WI, STS,
              "{\"clients\": 1, \"new_sessions\": 0, \"rx_bytes\": 0, \"tx_bytes\": 0, "
              "\"client_macs\": {\"a\": \"a4:5e:60:12:34:56\"}}") == NTM_REJ_TYPE);
    CHECKW(!has(why, "a4:5e"));

    /* at most NTM_MACS_MAX entries (20 KB of JSON: more than the default 16 KiB) */
    opts.max_payload = 65536;
    char *p = wifi_payload("\"ts\": 1795280400, ", NTM_MACS_MAX, mac_seq);
    CHECKW(pl(WI, STS, p) == NTM_ACCEPT);
    CHECK(rec.u.wifi.n_macs == NTM_MACS_MAX);
    {
        uint8_t last[6] = {0x02, 0, 0, 0, (NTM_MACS_MAX - 1) >> 8, (NTM_MACS_MAX - 1) & 0xff};
        day_key(DAY_20261122, key);
        CHECK(rec.u.wifi.mac_hash[NTM_MACS_MAX - 1] == ntm_mac_hash(key, last));
    }
    free(p);
    p = wifi_payload("", NTM_MACS_MAX + 1, mac_seq);
    CHECKW(pl(WI, STS, p) == NTM_REJ_VALUE);
    CHECKW(strcmp(why, "field 'client_macs' has more than 1024 entries") == 0);
    free(p);
    opts.max_payload = 16384;

    /* counters: each required, a number, an integer >= 0, at most 2^53 */
    static const char *const counters[] = {"clients", "new_sessions", "rx_bytes", "tx_bytes"};
    for (int i = 0; i < 4; i++) {
        char buf[256], want[96];
        const char *vals[4] = {"1", "2", "3", "4"};
        size_t o;
#define BUILD()                                                                                    \
    do {                                                                                           \
        o = (size_t)snprintf(buf, sizeof buf, "{");                                                \
        for (int j = 0; j < 4; j++)                                                                \
            if (vals[j] != NULL)                                                                   \
                o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\"%s\": %s", o > 1 ? ", " : "",  \
                                      counters[j], vals[j]);                                       \
        snprintf(buf + o, sizeof buf - o, "}");                                                    \
    } while (0)
        vals[i] = NULL;
        BUILD();
        CHECKW(pl(WI, STS, buf) == NTM_REJ_MISSING);
        snprintf(want, sizeof want, "missing required field '%s'", counters[i]);
        CHECKW(strcmp(why, want) == 0);
        vals[i] = "\"7\"";
        BUILD();
        CHECKW(pl(WI, STS, buf) == NTM_REJ_TYPE);
        snprintf(want, sizeof want, "field '%s' must be a number, got a string", counters[i]);
        CHECKW(strcmp(why, want) == 0);
        vals[i] = "null";
        BUILD();
        CHECKW(pl(WI, STS, buf) == NTM_REJ_TYPE);
        vals[i] = "1.5";
        BUILD();
        CHECKW(pl(WI, STS, buf) == NTM_REJ_VALUE);
        snprintf(want, sizeof want, "field '%s' must be an integer >= 0, got 1.5", counters[i]);
        CHECKW(strcmp(why, want) == 0);
        vals[i] = "-1";
        BUILD();
        CHECKW(pl(WI, STS, buf) == NTM_REJ_VALUE);
        vals[i] = "9007199254740994";
        BUILD();
        CHECKW(pl(WI, STS, buf) == NTM_REJ_VALUE);
        vals[i] = "1e999";
        BUILD();
        CHECKW(pl(WI, STS, buf) == NTM_REJ_VALUE);
        vals[i] = "9007199254740992";
        BUILD();
        CHECKW(pl(WI, STS, buf) == NTM_ACCEPT);
        const int64_t *got[4] = {&rec.u.wifi.clients, &rec.u.wifi.new_sessions,
                                 &rec.u.wifi.rx_bytes, &rec.u.wifi.tx_bytes};
        CHECK(*got[i] == INT64_C(9007199254740992));
        vals[i] = "7.0";
        BUILD();
        CHECKW(pl(WI, STS, buf) == NTM_ACCEPT);
        CHECK(*got[i] == 7);
        vals[i] = "0";
        BUILD();
        CHECKW(pl(WI, STS, buf) == NTM_ACCEPT);
        CHECK(*got[i] == 0);
#undef BUILD
    }
}

static void test_time(void)
{
    /* missing: receive time, floored, flagged */
    CHECKW(pl(SP, HB, "{}") == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S && rec.recv_ms == NOW_MS && rec.flags == NTM_REC_CLOCK_FALLBACK);
    /* before 2024-01-01T00:00:00Z: never set */
    CHECKW(pl(SP, HB, "{\"ts\": 1704067199}") == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S && rec.flags == NTM_REC_CLOCK_FALLBACK);
    CHECKW(pl(SP, HB, "{\"ts\": 1704067199.9}") == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S && rec.flags == NTM_REC_CLOCK_FALLBACK);
    CHECKW(pl(SP, HB, "{\"ts\": 0}") == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S && rec.flags == NTM_REC_CLOCK_FALLBACK);
    CHECKW(pl(SP, HB, "{\"ts\": -1e300}") == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S && rec.flags == NTM_REC_CLOCK_FALLBACK);
    CHECKW(pl(SP, HB, "{\"ts\": 1704067200}") == NTM_ACCEPT);
    CHECK(rec.ts == 1704067200 && rec.flags == 0);
    /* old: kept (a replayed backlog) */
    CHECKW(pl(SP, HB, "{\"ts\": 1717200000}") == NTM_ACCEPT);
    CHECK(rec.ts == 1717200000 && rec.flags == 0 && rec.recv_ms == NOW_MS);
    /* ahead of the gateway clock: up to 600 s believed */
    char buf[64];
    snprintf(buf, sizeof buf, "{\"ts\": %lld}", (long long)(NOW_S + 599));
    CHECKW(pl(SP, HB, buf) == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S + 599 && rec.flags == 0);
    snprintf(buf, sizeof buf, "{\"ts\": %lld}", (long long)(NOW_S + 600));
    CHECKW(pln(SP, HB, buf, strlen(buf), NOW_S * 1000) == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S + 600 && rec.flags == 0);
    snprintf(buf, sizeof buf, "{\"ts\": %lld}", (long long)(NOW_S + 601));
    CHECKW(pl(SP, HB, buf) == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S && rec.flags == NTM_REC_CLOCK_FALLBACK && rec.recv_ms == NOW_MS);
    /* an unsynchronized gateway clock does not judge a device's ts "ahead" */
    opts.clock_trusted = false;
    CHECKW(pl(SP, HB, buf) == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S + 601 && rec.flags == 0);
    /* ...but within 30 days of it, and never without a bound */
    snprintf(buf, sizeof buf, "{\"ts\": %lld}", (long long)(NOW_S + 29 * 86400));
    CHECKW(pl(SP, HB, buf) == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S + 29 * 86400 && rec.flags == 0);
    snprintf(buf, sizeof buf, "{\"ts\": %lld}", (long long)(NOW_S + 31 * 86400));
    CHECKW(pl(SP, HB, buf) == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S && rec.flags == NTM_REC_CLOCK_FALLBACK);
    CHECKW(pl(SP, HB, "{\"ts\": 4102444800}") == NTM_ACCEPT); /* 2100 */
    CHECK(rec.ts == NOW_S && rec.flags == NTM_REC_CLOCK_FALLBACK);
    CHECKW(pl(SP, HB, "{\"ts\": 1e19}") == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S && rec.flags == NTM_REC_CLOCK_FALLBACK);
    /* a gateway clock never set (1970): device clocks up to 5 years past the build */
    snprintf(buf, sizeof buf, "{\"ts\": %lld}", (long long)NOW_S);
    CHECKW(pln(SP, HB, buf, strlen(buf), 86400 * 1000LL) == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S && rec.flags == 0);
    snprintf(buf, sizeof buf, "{\"ts\": 4102444800}");
    CHECKW(pln(SP, HB, buf, strlen(buf), 86400 * 1000LL) == NTM_ACCEPT);
    CHECK(rec.ts == 86400 && rec.flags == NTM_REC_CLOCK_FALLBACK);
    opts.clock_trusted = true;
    CHECKW(pl(SP, HB, "{\"ts\": 1e400}") == NTM_ACCEPT);
    CHECK(rec.ts == NOW_S && rec.flags == NTM_REC_CLOCK_FALLBACK);
    /* a float ts is floored */
    CHECKW(pl(SP, HB, "{\"ts\": 1795280000.999}") == NTM_ACCEPT);
    CHECK(rec.ts == 1795280000 && rec.flags == 0);
    CHECKW(pl(SP, HB, "{\"ts\": 1.7952800005e9}") == NTM_ACCEPT);
    CHECK(rec.ts == 1795280000 && rec.flags == 0);
    /* not a number: wrong_type */
    CHECKW(pl(SP, HB, "{\"ts\": \"1795280000\"}") == NTM_REJ_TYPE);
    CHECKW(strcmp(why, "field 'ts' must be a number, got a string") == 0);
    CHECKW(pl(SP, HB, "{\"ts\": null}") == NTM_REJ_TYPE);
    CHECKW(pl(SP, ST, "{\"ts\": true, \"online\": true}") == NTM_REJ_TYPE);
    /* the receive time is floored, also before 1970 (floor, not truncation) */
    CHECKW(pln(SP, HB, "{}", 2, -1500) == NTM_ACCEPT);
    CHECK(rec.ts == -2 && rec.recv_ms == -1500);
    CHECKW(pln(SP, HB, "{}", 2, 1999) == NTM_ACCEPT);
    CHECK(rec.ts == 1);
}

static void test_framing(void)
{
    /* too large: checked before parsing */
    opts.max_payload = 32;
    CHECKW(pl(SP, ST, "{\"online\": true, \"pad\": \"xxxxx\"}") == NTM_ACCEPT); /* 32 bytes */
    CHECKW(pl(SP, ST, "{\"online\": true, \"pad\": \"xxxxxx\"}") == NTM_REJ_TOO_LARGE);
    CHECKW(strcmp(why, "payload is 33 bytes, more than 32") == 0);
    CHECKW(pl(SP, ST, "not json at all, and longer than 32 bytes") == NTM_REJ_TOO_LARGE);
    opts.max_payload = 16384;
    char *big = malloc(16385);
    if (big == NULL)
        abort();
    memset(big, ' ', 16385);
    memcpy(big, "{\"online\": true}", 16);
    CHECKW(pln(SP, ST, big, 16384, NOW_MS) == NTM_ACCEPT);
    CHECKW(pln(SP, ST, big, 16385, NOW_MS) == NTM_REJ_TOO_LARGE);
    free(big);

    /* not JSON */
    CHECKW(pln(SP, ST, "", 0, NOW_MS) == NTM_REJ_NOT_JSON);
    CHECKW(strcmp(why, "payload is empty") == 0);
    CHECKW(pl(SP, ST, "{") == NTM_REJ_NOT_JSON);
    CHECKW(has(why, "not valid JSON"));
    CHECKW(pl(SP, ST, "online=true") == NTM_REJ_NOT_JSON);
    CHECKW(pl(SP, ST, "{\"online\": true") == NTM_REJ_NOT_JSON);
    CHECKW(pl(SP, ST, "{\"online\": tru}") == NTM_REJ_NOT_JSON);
    CHECKW(pl(SP, ST, "{'online': true}") == NTM_REJ_NOT_JSON);
    CHECKW(pl(SP, ST, "{\"online\": true,}") == NTM_REJ_NOT_JSON);
    CHECKW(pl(SP, ST, "{\"online\": true} x") == NTM_REJ_NOT_JSON);
    CHECKW(has(why, "data after the JSON value (at byte 17)"));
    CHECKW(pl(SP, ST, "{\"online\": true}{}") == NTM_REJ_NOT_JSON);
    CHECKW(pl(SP, ST, " \t\r\n{\"online\": true} \r\n\t") == NTM_ACCEPT);
    CHECKW(pl(SP, ST, "{\"online\": true, \"s\": \"a\\qb\"}") == NTM_REJ_NOT_JSON);
    CHECKW(pl(SP, ST, "{\"online\": true, \"s\": \"\\ud800\"}") == NTM_REJ_NOT_JSON);
    /* a JSON value cut at `len` inside a longer buffer is not valid */
    CHECKW(pln(SP, ST, "{\"online\": true}", 10, NOW_MS) == NTM_REJ_NOT_JSON);
    CHECKW(pln(SP, ST, "{\"online\": true}", 15, NOW_MS) == NTM_REJ_NOT_JSON);
    CHECKW(pln(SP, ST, "{\"online\": true}", 16, NOW_MS) == NTM_ACCEPT);
    CHECKW(pln(SP, HB, "{\"ts\": 17952", 12, NOW_MS) == NTM_REJ_NOT_JSON);
    CHECKW(pln(SP, HB, "{\"ts\": \"x", 9, NOW_MS) == NTM_REJ_NOT_JSON);

    /* not UTF-8, NUL bytes */
    CHECKW(pl(SP, ST, "{\"online\": true, \"s\": \"\xff\"}") == NTM_REJ_NOT_JSON);
    CHECKW(has(why, "invalid UTF-8 at byte 23"));
    CHECKW(pl(SP, ST, "{\"online\": true, \"s\": \"\xc0\xaf\"}") ==
           NTM_REJ_NOT_JSON); /* overlong */
    CHECKW(pl(SP, ST, "{\"online\": true, \"s\": \"\xe0\x80\xaf\"}") == NTM_REJ_NOT_JSON);
    CHECKW(pl(SP, ST, "{\"online\": true, \"s\": \"\xed\xa0\x80\"}") ==
           NTM_REJ_NOT_JSON); /* surrogate */
    CHECKW(pl(SP, ST, "{\"online\": true, \"s\": \"\xf4\x90\x80\x80\"}") == NTM_REJ_NOT_JSON);
    CHECKW(pl(SP, ST, "{\"online\": true, \"s\": \"\xe2\x82\"}") == NTM_REJ_NOT_JSON); /* cut */
    CHECKW(pl(SP, ST, "{\"online\": true, \"s\": \"\x80\"}") == NTM_REJ_NOT_JSON);
    CHECKW(pl(SP, ST, "{\"online\": true, \"s\": \"\xf8\x88\x80\x80\x80\"}") == NTM_REJ_NOT_JSON);
    CHECKW(pln(SP, ST, "{\"online\": true}\xe2\x82", 18, NOW_MS) == NTM_REJ_NOT_JSON);
    CHECKW(pl(SP, ST,
              "{\"online\": true, \"s\": \"\xc3\xa0\xe1\xba\xa3\xf0\x9f\x93\xa2\xef\xbf\xbd\"}") ==
           NTM_ACCEPT); /* 2, 3, 4-byte sequences, U+FFFD */
    static const char nul[] = "{\"online\": true, \"s\": \"a\0b\"}";
    CHECKW(pln(SP, ST, nul, sizeof nul - 1, NOW_MS) == NTM_REJ_NOT_JSON);
    CHECKW(has(why, "NUL byte at byte 24"));
    static const char nul_end[] = "{\"online\": true}\0";
    CHECKW(pln(SP, ST, nul_end, sizeof nul_end - 1, NOW_MS) == NTM_REJ_NOT_JSON);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 2, "
              "\"result\": \"played\\u0000xyz\"}") == NTM_REJ_NOT_JSON);
    CHECKW(has(why, "escaped NUL"));
    /* an escaped backslash followed by the text u0000 is fine */
    CHECKW(pl(SP, ST, "{\"online\": true, \"s\": \"\\\\u0000\"}") == NTM_ACCEPT);

    /* JSON, not an object */
    CHECKW(pl(SP, ST, "[{\"online\": true}]") == NTM_REJ_NOT_OBJECT);
    CHECKW(strcmp(why, "payload is an array, not a JSON object") == 0);
    CHECKW(pl(SP, ST, "\"online\"") == NTM_REJ_NOT_OBJECT);
    CHECKW(pl(SP, ST, "42") == NTM_REJ_NOT_OBJECT);
    CHECKW(pl(SP, ST, "true") == NTM_REJ_NOT_OBJECT);
    CHECKW(pl(SP, ST, "null") == NTM_REJ_NOT_OBJECT);
    CHECKW(has(why, "null"));

    /* deep nesting in an unknown field is fine (cJSON bounds it at 1000) */
    char *deep = malloc(4096);
    if (deep == NULL)
        abort();
    size_t o = (size_t)sprintf(deep, "{\"online\": true, \"x\": ");
    for (int i = 0; i < 500; i++)
        deep[o++] = '[';
    for (int i = 0; i < 500; i++)
        deep[o++] = ']';
    deep[o++] = '}';
    CHECKW(pln(SP, ST, deep, o, NOW_MS) == NTM_ACCEPT);
    free(deep);
}

static void test_record_hygiene(void)
{
    /* the channel of the topic is checked again */
    struct ntm_topic t;
    memset(&t, 0, sizeof t);
    strcpy(t.device, "ap-1");
    t.kind = NTM_KIND_WIFI;
    t.channel = NTM_CH_EVENT;
    CHECK(ntm_payload_parse(&t, "{\"type\":\"motion\"}", 17, NOW_MS, &opts, &rec, why,
                            sizeof why) == NTM_REJ_CHANNEL);
    t.kind = NTM_KIND_SPEAKER;
    t.channel = NTM_CH_STATS;
    CHECK(ntm_payload_parse(&t, "{\"recording\":true}", 18, NOW_MS, &opts, &rec, why, sizeof why) ==
          NTM_REJ_CHANNEL);
    t.kind = 9;
    CHECK(ntm_payload_parse(&t, "{}", 2, NOW_MS, &opts, &rec, why, sizeof why) == NTM_REJ_CHANNEL);

    /* nothing stale from the previous message */
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 2, "
              "\"result\": \"played\", \"program\": \"long-program-name\"}") == NTM_ACCEPT);
    CHECKW(pl(SP, EV,
              "{\"ts\": 1795280400, \"type\": \"broadcast\", \"start\": 1, "
              "\"duration_s\": 2, \"result\": \"played\", \"program\": \"ab\"}") == NTM_ACCEPT);
    CHECK(memcmp(rec.u.broadcast.program, "ab\0\0\0\0\0\0", 8) == 0);
    CHECK(rec.flags == 0);
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 2, "
              "\"result\": \"played\"}") == NTM_ACCEPT);
    CHECK(rec.u.broadcast.program[0] == '\0' && rec.u.broadcast.program[1] == '\0');
    CHECKW(pl(WI, STS,
              "{\"clients\": 1, \"new_sessions\": 0, \"rx_bytes\": 0, \"tx_bytes\": 0, "
              "\"client_macs\": [\"a4:5e:60:12:34:56\"]}") == NTM_ACCEPT);
    CHECK(rec.u.wifi.n_macs == 1);
    CHECKW(pl(WI, STS, "{\"clients\": 1, \"new_sessions\": 0, \"rx_bytes\": 0, \"tx_bytes\": 0}") ==
           NTM_ACCEPT);
    CHECK(rec.u.wifi.n_macs == 0);
    CHECKW(pl(WI, HB, "{\"ts\": 1795280400, \"uptime_s\": 5}") == NTM_ACCEPT);
    CHECK(rec.event == NTM_EV_NONE && rec.flags == 0 && rec.u.heartbeat.interval_s == 60);
    CHECKW(pl(CA, EV, "{\"type\": \"tamper\"}") == NTM_ACCEPT);
    CHECKW(pl(CA, ST, "{\"online\": true, \"ts\": 1795280400}") == NTM_ACCEPT);
    CHECK(rec.event == NTM_EV_NONE && rec.flags == 0);

    /* nor in the bytes of the union that another channel used */
    CHECKW(pl(SP, EV,
              "{\"type\": \"broadcast\", \"start\": 1, \"duration_s\": 2, "
              "\"result\": \"played\", \"program\": \"long-program-name\"}") == NTM_ACCEPT);
    CHECKW(pl(SP, ST, "{\"online\": true}") == NTM_ACCEPT);
    CHECK(memmem(&rec, sizeof rec, "program", 7) == NULL);
    CHECKW(pl(SP, EV, "{\"type\": \"fault\"}") == NTM_ACCEPT);
    CHECK(rec.u.fault.fault == NTM_FAULT_OTHER && rec.u.broadcast.duration_s == 0);
    CHECKW(pl(WI, STS,
              "{\"clients\": 5, \"new_sessions\": 6, \"rx_bytes\": 7, \"tx_bytes\": 8, "
              "\"client_macs\": [\"a4:5e:60:12:34:56\"]}") == NTM_ACCEPT);
    CHECKW(pl(WI, STS,
              "{\"clients\": 5, \"new_sessions\": 6, \"rx_bytes\": 7, \"tx_bytes\": 8, "
              "\"client_macs\": [\"a4:5e:60:12:34:5\"]}") == NTM_REJ_VALUE);
    CHECK(rec.u.wifi.n_macs == 0);
    CHECKW(pl(WI, HB, "{}") == NTM_ACCEPT);
    CHECK(rec.u.wifi.clients != 5 && rec.u.wifi.tx_bytes == 0 && rec.u.wifi.n_macs == 0);

    /* the device comes from the topic; the village is left to the caller */
    rec.village = 7;
    memset(rec.device, 'Q', sizeof rec.device);
    CHECKW(pl(CA, ST, "{\"online\": true}") == NTM_ACCEPT);
    CHECK(rec.village == 7);
    CHECK(strcmp(rec.device, "dev-1") == 0 && rec.device[NTM_DEVICE_ID_MAX] == '\0');

    /* a tiny `why` buffer is still terminated and not overrun */
    char small[10];
    memset(small, 'Z', sizeof small);
    struct ntm_topic st;
    memset(&st, 0, sizeof st);
    st.kind = NTM_KIND_SPEAKER;
    st.channel = NTM_CH_STATE;
    CHECK(ntm_payload_parse(&st, "{}", 2, NOW_MS, &opts, &rec, small, 6) == NTM_REJ_MISSING);
    CHECK(strcmp(small, "missi") == 0 && small[6] == 'Z');
    CHECK(ntm_payload_parse(&st, "{}", 2, NOW_MS, &opts, &rec, NULL, 0) == NTM_REJ_MISSING);
}

int main(void)
{
    test_names();
    test_local_day();
    test_siphash();
    test_mac();
    test_topics();
    test_state();
    test_heartbeat();
    test_broadcast();
    test_fault();
    test_camera();
    test_wifi();
    test_time();
    test_framing();
    test_record_hygiene();
    printf("ingest: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
