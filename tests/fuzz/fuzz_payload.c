/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_payload.c: libFuzzer target for ntm_topic_parse + ntm_payload_parse
 * (daemon/ingest*.c, siphash.c), the validation and normalization of one device
 * message.
 *
 * Input: byte 0 chooses the kind (% 3), byte 1 the channel (% 4), byte 2 the
 * options (bit 0: the MAC key callback fails; bits 1-2: the gateway clock, see
 * clocks[]; bit 3: mqtt.max_payload 64 instead of 16384; bit 4: the gateway
 * clock is synchronized (opts.clock_trusted), else it is not, as at boot
 * before NTP); the rest is the payload, in a heap block of exactly its size
 * (no NUL after it).
 *
 * Checked, besides memory errors and undefined behaviour: `why` is terminated,
 * empty on acceptance and non-empty on rejection; the reason is a known one; an
 * accepted record has the topic's kind, channel and device, the receive time
 * given, a ts that is either the device's (>= 2024-01-01, and <= now + 10 min
 * when the gateway clock is synchronized and set) or the receive time with the
 * clock_fallback flag, enums in range, at most
 * NTM_MACS_MAX MAC hashes; and parsing the same message into a record full of
 * garbage gives the same record as into a zeroed one (nothing of a previous
 * message survives). */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "ingest.h"
#include "record.h"

static const int64_t clocks[4] = {
    INT64_C(1795280400123),       /* 2026-11-22T00:00:00.123+07:00 */
    (int64_t)NTM_TS_MIN * 1000,   /* exactly the earliest believed ts */
    0,                            /* a board without a battery, before NTP: 1970 */
    INT64_C(4102444800000) + 999, /* 2100-01-01 */
};

static int key_fails;

static int mac_key(void *arg, int64_t day, uint8_t key[16])
{
    (void)arg;
    if (key_fails)
        return -1;
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)(day * 31 + i * 7 + 1);
    return 0;
}

static enum ntm_reject parse(const struct ntm_topic *t, const char *pl, size_t len, int64_t now_ms,
                             const struct ntm_ingest_opts *o, struct ntm_record *rec, char *why,
                             size_t whylen)
{
    memset(why, 'X', whylen);
    enum ntm_reject r = ntm_payload_parse(t, pl, len, now_ms, o, rec, why, whylen);
    FUZZ_ASSERT(fuzz_terminated(why, whylen));
    FUZZ_ASSERT(r >= NTM_ACCEPT && r < NTM_REJ_COUNT && r != NTM_REJ_TOPIC &&
                r != NTM_REJ_VILLAGE && r != NTM_REJ_DEVICE);
    FUZZ_ASSERT(r == NTM_ACCEPT ? why[0] == '\0' : why[0] != '\0');
    return r;
}

static void check_record(const struct ntm_record *rec, const struct ntm_topic *t, int64_t now_ms,
                         bool clock_trusted)
{
    FUZZ_ASSERT(rec->kind == t->kind && rec->channel == t->channel);
    FUZZ_ASSERT(strcmp(rec->device, t->device) == 0);
    FUZZ_ASSERT(rec->recv_ms == now_ms);
    int64_t now_s = now_ms / 1000; /* now_ms >= 0 here */
    if (rec->flags & NTM_REC_CLOCK_FALLBACK) {
        FUZZ_ASSERT(rec->ts == now_s);
    } else {
        FUZZ_ASSERT(rec->ts >= NTM_TS_MIN);
        if (clock_trusted && now_s >= NTM_TS_MIN) /* "ahead" is judged by a set, synced clock */
            FUZZ_ASSERT(rec->ts <= now_s + NTM_TS_MAX_AHEAD_S);
    }
    FUZZ_ASSERT((rec->flags & ~NTM_REC_CLOCK_FALLBACK) == 0);
    switch (rec->channel) {
    case NTM_CH_STATE:
    case NTM_CH_STATS:
        FUZZ_ASSERT(rec->event == NTM_EV_NONE);
        break;
    case NTM_CH_HEARTBEAT:
        FUZZ_ASSERT(rec->event == NTM_EV_NONE);
        FUZZ_ASSERT(rec->u.heartbeat.interval_s >= 1 && rec->u.heartbeat.interval_s <= 86400);
        FUZZ_ASSERT(rec->u.heartbeat.uptime_s >= -1);
        break;
    case NTM_CH_EVENT:
        if (rec->kind == NTM_KIND_SPEAKER) {
            FUZZ_ASSERT(rec->event == NTM_EV_BROADCAST || rec->event == NTM_EV_FAULT);
        } else {
            FUZZ_ASSERT(rec->kind == NTM_KIND_CAMERA);
            FUZZ_ASSERT(rec->event >= NTM_EV_MOTION && rec->event <= NTM_EV_STORAGE_ERROR);
        }
        break;
    }
    if (rec->event == NTM_EV_BROADCAST) {
        FUZZ_ASSERT(rec->u.broadcast.result < NTM_RESULT_COUNT);
        FUZZ_ASSERT(rec->u.broadcast.priority < NTM_PRIO_COUNT);
        FUZZ_ASSERT(rec->u.broadcast.source < NTM_SRC_COUNT);
        FUZZ_ASSERT(rec->u.broadcast.start >= 0);
        FUZZ_ASSERT(isfinite(rec->u.broadcast.duration_s) && rec->u.broadcast.duration_s >= 0);
        FUZZ_ASSERT(memchr(rec->u.broadcast.program, '\0', sizeof rec->u.broadcast.program));
    } else if (rec->event == NTM_EV_FAULT) {
        FUZZ_ASSERT(rec->u.fault.fault < NTM_FAULT_COUNT);
    } else if (rec->event >= NTM_EV_MOTION) {
        double d = rec->u.camera_event.duration_s;
        FUZZ_ASSERT(d == -1 || (isfinite(d) && d >= 0));
    }
    if (rec->kind == NTM_KIND_CAMERA && rec->channel == NTM_CH_STATS) {
        double p = rec->u.camera_stats.storage_free_pct;
        FUZZ_ASSERT(p == -1 || (p >= 0 && p <= 100));
    }
    if (rec->kind == NTM_KIND_WIFI && rec->channel == NTM_CH_STATS) {
        FUZZ_ASSERT(rec->u.wifi.clients >= 0 && rec->u.wifi.new_sessions >= 0);
        FUZZ_ASSERT(rec->u.wifi.rx_bytes >= 0 && rec->u.wifi.tx_bytes >= 0);
        FUZZ_ASSERT(rec->u.wifi.n_macs <= NTM_MACS_MAX);
    }
}

/* The parts of a record that mean something for its kind and channel. */
static void same_record(const struct ntm_record *a, const struct ntm_record *b)
{
    FUZZ_ASSERT(a->ts == b->ts && a->recv_ms == b->recv_ms && a->kind == b->kind &&
                a->channel == b->channel && a->event == b->event && a->flags == b->flags);
    FUZZ_ASSERT(memcmp(a->device, b->device, sizeof a->device) == 0);
    FUZZ_ASSERT(memcmp(&a->u, &b->u, sizeof a->u.broadcast) == 0);
    if (a->kind == NTM_KIND_WIFI && a->channel == NTM_CH_STATS)
        FUZZ_ASSERT(memcmp(a->u.wifi.mac_hash, b->u.wifi.mac_hash,
                           a->u.wifi.n_macs * sizeof a->u.wifi.mac_hash[0]) == 0);
}

static struct ntm_record rec_a, rec_b;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int kind = data[0] % NTM_KIND_COUNT, channel = data[1] % NTM_CH_COUNT, flags = data[2];
    key_fails = flags & 1;
    int64_t now_ms = clocks[(flags >> 1) & 3];
    struct ntm_ingest_opts o = {.max_payload = (flags & 8) ? 64 : 16384,
                                .mac_key = mac_key,
                                .clock_trusted = (flags & 16) != 0};

    char topic_s[128];
    int tl = snprintf(topic_s, sizeof topic_s, "ntm/v1/thon-dong/%s/dev-%d/%s", ntm_kind_name(kind),
                      data[0] / 3 % 10, ntm_channel_name(channel));
    struct ntm_topic t;
    char why[256];
    enum ntm_reject tr = ntm_topic_parse(topic_s, (size_t)tl, &t, why, sizeof why);
    FUZZ_ASSERT(tr == NTM_ACCEPT || tr == NTM_REJ_CHANNEL);
    FUZZ_ASSERT(t.kind == kind && t.channel == channel);

    char *pl = fuzz_dup(data + 3, size - 3);
    memset(&rec_a, 0, sizeof rec_a);
    enum ntm_reject r = parse(&t, pl, size - 3, now_ms, &o, &rec_a, why, sizeof why);
    if (tr == NTM_REJ_CHANNEL)
        FUZZ_ASSERT(r == NTM_REJ_CHANNEL); /* the payload parser checks it too */
    else
        FUZZ_ASSERT(r != NTM_REJ_CHANNEL);
    if (size - 3 > o.max_payload)
        FUZZ_ASSERT(r == NTM_REJ_CHANNEL || r == NTM_REJ_TOO_LARGE);
    if (r == NTM_ACCEPT)
        check_record(&rec_a, &t, now_ms, o.clock_trusted);

    /* the same message into a record left over from garbage: the same outcome */
    memset(&rec_b, 0xa5, sizeof rec_b);
    enum ntm_reject r2 = parse(&t, pl, size - 3, now_ms, &o, &rec_b, why, sizeof why);
    FUZZ_ASSERT(r2 == r);
    if (r == NTM_ACCEPT)
        same_record(&rec_a, &rec_b);

    /* a NULL `why` is allowed */
    FUZZ_ASSERT(ntm_payload_parse(&t, pl, size - 3, now_ms, &o, &rec_b, NULL, 0) == r);
    free(pl);
    return 0;
}
