/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_agg_state.c: unit tests of the aggregation state codec (daemon/agg_state.c):
 * the bytes saved for a scripted state equal a version-2 blob kept in
 * data/agg_state_v2.hex (so that databases written by earlier builds restore),
 * a restored state forms the same rows as one that ran on, a version-1 blob is
 * still read, and every truncated, flipped or otherwise mangled blob is refused
 * (or, with a valid checksum, loaded without harm) and leaves the engine as it was. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "config.h"
#include "hash.h"
#include "record.h"

#include "agg_config.h"
#include "check.h"

#define SP NTM_KIND_SPEAKER
#define CA NTM_KIND_CAMERA
#define WI NTM_KIND_WIFI

/* 2026-11-22T00:00:00+07:00; local time hh:mm:ss that day */
#define D0 INT64_C(1795280400)
#define T(h, m, s) (D0 + (h)*INT64_C(3600) + (m)*INT64_C(60) + (s))
/* the monotonic clock (ms) when the wall clock reads `wall` */
#define MONO0 INT64_C(5000000)
#define MONO_AT(wall) (MONO0 + ((wall)-D0) * INT64_C(1000))

/* The header of a saved state: magic (8), version (u32), body length (u64),
 * checksum of the body (u64, FNV-1a 64 as ntm_hash64). */
#define HEADER_LEN 28
#define VERSION_AT 8
#define BODY_LEN_AT 12
#define CHECKSUM_AT 20

/* ---- what the engine emits, in order ----------------------------------------- */

struct emitted {
    char *text; /* one line per row, window and alert */
    size_t n, cap;
};

static void say(struct emitted *e, const char *line)
{
    size_t n = strlen(line);
    if (e->n + n + 1 >= e->cap) {
        e->cap = (e->cap + n + 1) * 2;
        e->text = realloc(e->text, e->cap);
        if (e->text == NULL)
            abort();
    }
    memcpy(e->text + e->n, line, n + 1);
    e->n += n;
}

static void on_row(void *arg, const struct ntm_indicator_row *r)
{
    char line[256];
    snprintf(line, sizeof line, "row %u %u %u %lld %lld %s %s %.17g %u\n", r->village, r->kind,
             r->period, (long long)r->start, (long long)r->end, r->name, r->unit, r->value,
             r->devices);
    say(arg, line);
}

static void on_closed(void *arg, enum ntm_period p, int64_t start, int64_t end)
{
    char line[96];
    snprintf(line, sizeof line, "closed %d %lld %lld\n", p, (long long)start, (long long)end);
    say(arg, line);
}

static void on_alert(void *arg, const struct ntm_alert *al)
{
    char line[256];
    snprintf(line, sizeof line, "alert %lld %u %u %s %s %s\n", (long long)al->ts, al->village,
             al->kind, ntm_alert_type_name((enum ntm_alert_type)al->type), al->device,
             al->detail ? al->detail : "-");
    say(arg, line);
}

static struct ntm_agg_sink sink_of(struct emitted *e)
{
    return (struct ntm_agg_sink){e, on_row, on_closed, on_alert};
}

/* ---- the script ----------------------------------------------------------------- */

static struct ntm_record rec_buf; /* large (MAC hashes): one, reused */

static struct ntm_record *rec(const char *dev, int v, int kind, int channel, int64_t ts)
{
    memset(&rec_buf, 0, sizeof rec_buf);
    rec_buf.ts = ts;
    rec_buf.recv_ms = ts * 1000;
    rec_buf.village = (uint16_t)v;
    rec_buf.kind = (uint8_t)kind;
    rec_buf.channel = (uint8_t)channel;
    snprintf(rec_buf.device, sizeof rec_buf.device, "%s", dev);
    return &rec_buf;
}

/* Feeds the record, arriving at wall time `arrive`; returns whether it was late. */
static bool feed(struct ntm_agg *a, struct ntm_record *r, int64_t arrive)
{
    return ntm_agg_add(a, r, MONO_AT(arrive));
}

static void hb(struct ntm_agg *a, const char *dev, int v, int k, int64_t ts, int interval_s)
{
    struct ntm_record *r = rec(dev, v, k, NTM_CH_HEARTBEAT, ts);
    r->u.heartbeat.interval_s = interval_s;
    r->u.heartbeat.uptime_s = -1;
    CHECK(!feed(a, r, ts));
}

static void broadcast(struct ntm_agg *a, const char *dev, int64_t ts, double dur, int result,
                      int priority)
{
    struct ntm_record *r = rec(dev, VA, SP, NTM_CH_EVENT, ts);
    r->event = NTM_EV_BROADCAST;
    r->u.broadcast.duration_s = dur;
    r->u.broadcast.result = (uint8_t)result;
    r->u.broadcast.priority = (uint8_t)priority;
    CHECK(!feed(a, r, ts));
}

static void wifi(struct ntm_agg *a, const char *dev, int64_t ts, int64_t clients, const uint64_t *h,
                 uint32_t n)
{
    struct ntm_record *r = rec(dev, VB, WI, NTM_CH_STATS, ts);
    r->u.wifi.clients = clients;
    r->u.wifi.new_sessions = 2;
    r->u.wifi.rx_bytes = 123456;
    r->u.wifi.tx_bytes = 7890;
    r->u.wifi.n_macs = n;
    memcpy(r->u.wifi.mac_hash, h, n * sizeof *h);
    CHECK(!feed(a, r, ts));
}

/* Up to the save: hour 08 closed (and merged into the day), hours 09 and 10 and
 * the day open; every kind, every device state (never seen, online, offline
 * explicitly, lapsed), a device first seen in a message, one made known by
 * ntm_agg_add_device and never seen, client hashes 0 included, two late records.
 * Returns the wall time of the last arrival (the save's "now"). */
static int64_t script_before_save(struct ntm_agg *a)
{
    CHECK_INT(ntm_agg_add_device(a, "spk-9", VA, SP), 0);
    hb(a, "spk-1", VA, SP, T(8, 0, 0), 60);
    hb(a, "spk-2", VA, SP, T(8, 5, 0), 300);
    struct ntm_record *r =
        rec("spk-1", VA, SP, NTM_CH_STATE, T(8, 10, 0)); /* online [08:00, 08:03) */
    r->u.state.online = false;
    CHECK(!feed(a, r, T(8, 10, 0)));
    hb(a, "cam-1", VA, CA, T(8, 12, 0), 120);
    const uint64_t m1[] = {0, 5, UINT64_MAX, 7}, m2[] = {5, 9}, m3[] = {11, 12, 0};
    wifi(a, "ap-1", T(8, 15, 0), 3, m1, 4);
    broadcast(a, "spk-2", T(8, 20, 0), 90.5, NTM_RESULT_PLAYED, NTM_PRIO_NORMAL);
    broadcast(a, "spk-2", T(8, 25, 0), 30, NTM_RESULT_INTERRUPTED, NTM_PRIO_EMERGENCY);
    broadcast(a, "spk-2", T(8, 26, 0), 0, NTM_RESULT_FAILED, NTM_PRIO_PRIORITY);
    r = rec("spk-2", VA, SP, NTM_CH_EVENT, T(8, 30, 0));
    r->event = NTM_EV_FAULT;
    r->u.fault.fault = NTM_FAULT_AMPLIFIER;
    CHECK(!feed(a, r, T(8, 30, 0)));
    r = rec("cam-1", VA, CA, NTM_CH_EVENT, T(8, 40, 0));
    r->event = NTM_EV_MOTION;
    CHECK(!feed(a, r, T(8, 40, 0)));
    r = rec("cam-1", VA, CA, NTM_CH_EVENT, T(8, 41, 0));
    r->event = NTM_EV_TAMPER;
    CHECK(!feed(a, r, T(8, 41, 0)));
    r = rec("cam-1", VA, CA, NTM_CH_STATS, T(8, 45, 0));
    r->u.camera_stats.recording = true;
    CHECK(!feed(a, r, T(8, 45, 0)));
    r = rec("cam-1", VA, CA, NTM_CH_STATS, T(8, 50, 0));
    CHECK(!feed(a, r, T(8, 50, 0)));
    wifi(a, "ap-2", T(8, 50, 0), 2, m2, 2);
    hb(a, "spk-x", VB, SP, T(8, 55, 0), 60); /* not declared */
    hb(a, "spk-2", VA, SP, T(9, 3, 0), 300); /* hour 08 closes (09:02) */
    hb(a, "ap-1", VB, WI, T(9, 10, 0), 600);
    r = rec("spk-1", VA, SP, NTM_CH_HEARTBEAT, T(8, 30, 0)); /* late: hour 08 closed */
    r->u.heartbeat.interval_s = 60;
    CHECK(feed(a, r, T(9, 11, 0)));
    r = rec("spk-2", VA, SP, NTM_CH_HEARTBEAT, NTM_TS_MIN - 1); /* late: before 2024 */
    CHECK(feed(a, r, T(9, 12, 0)));
    wifi(a, "ap-1", T(9, 20, 0), 4, m3, 3);
    hb(a, "cam-1", VA, CA, T(10, 0, 30), 120);
    return T(10, 0, 30);
}

/* After the save: more records, then the clock runs on past the end of the day. */
static void script_after_save(struct ntm_agg *a)
{
    hb(a, "spk-1", VA, SP, T(10, 5, 0), 60);
    broadcast(a, "spk-1", T(10, 6, 0), 12.25, NTM_RESULT_PLAYED, NTM_PRIO_EMERGENCY);
    const uint64_t m[] = {5, 13};
    wifi(a, "ap-2", T(10, 30, 0), 6, m, 2);
    hb(a, "spk-9", VA, SP, T(11, 0, 0), 600);
    ntm_agg_tick(a, MONO_AT(T(24, 10, 0)));
}

/* ---- blobs ---------------------------------------------------------------------- */

struct blob {
    uint8_t *p;
    size_t n;
};

static const char *source_root(void)
{
    const char *root = getenv("NTM_SOURCE_ROOT");
    return root && *root ? root : "../..";
}

/* Reads a hex file: '#' starts a comment to the end of the line, whitespace is
 * ignored. Exits when the file cannot be read or is not hex. */
static struct blob read_hex(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/unit/data/%s", source_root(), name);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        exit(1);
    }
    struct blob b = {malloc(1 << 16), 0};
    int c, hi = -1;
    bool comment = false;
    while ((c = fgetc(f)) != EOF && b.p != NULL) {
        if (comment || c == '#') {
            comment = c != '\n';
            continue;
        }
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
            continue;
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0 || b.n == 1 << 16) {
            fprintf(stderr, "%s: not lower-case hex at byte %zu\n", path, b.n);
            exit(1);
        }
        if (hi < 0) {
            hi = v;
        } else {
            b.p[b.n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    fclose(f);
    if (b.p == NULL || hi >= 0 || b.n < HEADER_LEN) {
        fprintf(stderr, "%s: odd number of digits or too short\n", path);
        exit(1);
    }
    return b;
}

static struct blob save(const struct ntm_agg *a)
{
    struct blob b = {NULL, 0};
    void *p = NULL;
    CHECK_INT(ntm_agg_save(a, &p, &b.n), 0);
    b.p = p;
    return b;
}

static bool same(struct blob x, struct blob y)
{
    return x.n == y.n && memcmp(x.p, y.p, x.n) == 0;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Makes the header's body length and checksum right for the n bytes. */
static void fix_header(uint8_t *p, size_t n)
{
    put_le(p + BODY_LEN_AT, n - HEADER_LEN, 8);
    put_le(p + CHECKSUM_AT, ntm_hash64(p + HEADER_LEN, n - HEADER_LEN), 8);
}

/* The version-2 blob rewritten as version 1 (each device entry without its day
 * count: i64 today, i64 day_online_s), or, with zero_only, left at version 2
 * with those two fields zeroed: what a version-1 blob becomes once loaded. */
static struct blob devices_without_day(struct blob v2, bool zero_only)
{
    struct blob o = {malloc(v2.n), 0};
    const uint8_t *p = v2.p;
    size_t at = HEADER_LEN + 4; /* grace_s */
    uint32_t nv = (uint32_t)get_le(p + at, 4);
    at += 4;
    for (uint32_t v = 0; v < nv; v++)
        at += 1 + p[at];
    at += 1 + 1 + 6 * 8; /* n_kinds, started, max_ts .. d_lo */
    uint32_t nd = (uint32_t)get_le(p + at, 4);
    at += 4;
    memcpy(o.p, p, at);
    o.n = at;
    for (uint32_t i = 0; i < nd; i++) {
        size_t len = 1 + p[at] + 2 + 1 + 1 + 1 + 4 + 4 * 8;
        memcpy(o.p + o.n, p + at, len);
        o.n += len;
        at += len;
        if (zero_only) {
            memset(o.p + o.n, 0, 16);
            o.n += 16;
        }
        at += 16;
    }
    memcpy(o.p + o.n, p + at, v2.n - at);
    o.n += v2.n - at;
    if (!zero_only)
        put_le(o.p + VERSION_AT, 1, 4);
    fix_header(o.p, o.n);
    return o;
}

/* ---- tests ------------------------------------------------------------------------ */

/* The saved bytes of the scripted state are those of the kept version-2 blob,
 * and loading that blob gives back the same state and the same rows after. */
static void test_format(const struct ntm_config *cfg, struct blob kept)
{
    struct emitted ran = {0}, restored = {0};
    struct ntm_agg_sink ks = sink_of(&ran), kr = sink_of(&restored);
    struct ntm_agg *a = ntm_agg_new(cfg, &ks);
    int64_t now = script_before_save(a);
    CHECK_INT(ntm_agg_late_total(a), 2);
    struct blob b = save(a);
    if (!same(b, kept)) {
        failed++;
        fprintf(stderr,
                "%s:%d: the saved state (%zu bytes) differs from data/agg_state_v2.hex "
                "(%zu bytes); its bytes:\n",
                __FILE__, __LINE__, b.n, kept.n);
        for (size_t i = 0; i < b.n; i++)
            fprintf(stderr, "%02x%s", b.p[i], i % 32 == 31 ? "\n" : "");
        fprintf(stderr, "\n");
    } else {
        passed++;
    }
    size_t rows_before_save = ran.n;
    double pa = -1, pr = -2;
    CHECK_INT(ntm_agg_device_uptime_today(a, "ap-1", MONO_AT(now), &pa), 0);
    script_after_save(a);

    struct ntm_agg *r = ntm_agg_new(cfg, &kr);
    CHECK_INT(ntm_agg_load(r, kept.p, kept.n, MONO_AT(now)), 0);
    struct blob again = save(r);
    CHECK(same(again, kept));
    CHECK_INT(ntm_agg_late_total(r), 2);
    CHECK_INT(ntm_agg_watermark(r, MONO_AT(now)), now);
    CHECK_INT(ntm_agg_device_online(r, "spk-1", MONO_AT(now)), 0); /* explicitly offline */
    CHECK_INT(ntm_agg_device_online(r, "spk-2", MONO_AT(now)), 0); /* lapsed at 09:18 */
    CHECK_INT(ntm_agg_device_online(r, "cam-1", MONO_AT(now)), 1);
    CHECK_INT(ntm_agg_device_online(r, "spk-x", MONO_AT(now)), 0); /* lapsed at 08:58 */
    CHECK_INT(ntm_agg_device_online(r, "spk-9", MONO_AT(now)), 0); /* never seen */
    CHECK_INT(ntm_agg_device_online(r, "nobody", MONO_AT(now)), -1);
    CHECK_INT(ntm_agg_device_uptime_today(r, "ap-1", MONO_AT(now), &pr), 0);
    CHECK(pa == pr && pa > 0);
    script_after_save(r);
    /* the rows and alerts after the save, in the same order, and the whole day's rows */
    CHECK(ran.n > rows_before_save && restored.n > 0);
    CHECK(ran.n - rows_before_save == restored.n &&
          memcmp(ran.text + rows_before_save, restored.text, restored.n) == 0);
    CHECK(strstr(restored.text, "closed 1 1795280400 1795366800") != NULL);
    ntm_agg_free(a);
    ntm_agg_free(r);
    free(b.p);
    free(again.p);
    free(ran.text);
    free(restored.text);
}

/* A version-1 blob (devices without their day count) is read as before:
 * the day counts start at 0, everything else is restored. */
static void test_version_1(const struct ntm_config *cfg, struct blob kept)
{
    struct blob v1 = devices_without_day(kept, false), zeroed = devices_without_day(kept, true);
    CHECK_INT(get_le(v1.p + VERSION_AT, 4), 1);
    CHECK(v1.n < kept.n && zeroed.n == kept.n);
    struct emitted e1 = {0}, e2 = {0};
    struct ntm_agg_sink k1 = sink_of(&e1), k2 = sink_of(&e2);
    struct ntm_agg *a = ntm_agg_new(cfg, &k1), *b = ntm_agg_new(cfg, &k2);
    int64_t now = T(10, 0, 30);
    CHECK_INT(ntm_agg_load(a, v1.p, v1.n, MONO_AT(now)), 0);
    struct blob s = save(a);
    CHECK(same(s, zeroed)); /* saved as version 2, with day counts 0 */
    CHECK_INT(ntm_agg_load(b, kept.p, kept.n, MONO_AT(now)), 0);
    script_after_save(a);
    script_after_save(b);
    CHECK(e1.n > 0 && e1.n == e2.n && memcmp(e1.text, e2.text, e1.n) == 0);
    /* a version-2 body labelled version 1 does not parse as one */
    uint8_t *mislabelled = malloc(kept.n);
    memcpy(mislabelled, kept.p, kept.n);
    put_le(mislabelled + VERSION_AT, 1, 4);
    struct ntm_agg *c = ntm_agg_new(cfg, NULL);
    CHECK_INT(ntm_agg_load(c, mislabelled, kept.n, MONO_AT(now)), -1);
    /* nor does a version-1 body labelled version 2 */
    put_le(v1.p + VERSION_AT, 2, 4);
    CHECK_INT(ntm_agg_load(c, v1.p, v1.n, MONO_AT(now)), -1);
    ntm_agg_free(a);
    ntm_agg_free(b);
    ntm_agg_free(c);
    free(mislabelled);
    free(s.p);
    free(v1.p);
    free(zeroed.p);
    free(e1.text);
    free(e2.text);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Bad blobs are refused and leave the engine as it was. */
static void test_refused(const struct ntm_config *cfg, struct blob kept)
{
    int64_t now = MONO_AT(T(10, 0, 30));
    struct emitted e = {0};
    struct ntm_agg_sink k = sink_of(&e);
    struct ntm_agg *a = ntm_agg_new(cfg, &k);
    CHECK_INT(ntm_agg_load(a, kept.p, kept.n, now), 0);
    struct blob ref = save(a);

    int truncated_ok = 0, flipped_ok = 0;
    for (size_t n = 0; n < kept.n; n++)
        truncated_ok += ntm_agg_load(a, kept.p, n, now) == 0;
    CHECK_INT(truncated_ok, 0);
    uint8_t *bad = malloc(kept.n + 64);
    for (size_t i = 0; i < kept.n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(bad, kept.p, kept.n);
            bad[i] ^= (uint8_t)(1u << bit);
            flipped_ok += ntm_agg_load(a, bad, kept.n, now) == 0;
        }
    }
    CHECK_INT(flipped_ok, 0);
    memcpy(bad, kept.p, kept.n);
    memset(bad + kept.n, 0, 64);
    CHECK_INT(ntm_agg_load(a, bad, kept.n + 1, now), -1); /* a trailing byte */
    fix_header(bad, kept.n + 1);
    CHECK_INT(ntm_agg_load(a, bad, kept.n + 1, now), -1); /* ...even with the header made right */
    CHECK_INT(ntm_agg_load(a, NULL, 0, now), -1);
    for (uint32_t version = 0; version < 5; version++) {
        memcpy(bad, kept.p, kept.n);
        put_le(bad + VERSION_AT, version, 4);
        CHECK_INT(ntm_agg_load(a, bad, kept.n, now), version == 2 ? 0 : -1);
    }
    memcpy(bad, kept.p, kept.n);
    bad[0] = 'X'; /* magic */
    CHECK_INT(ntm_agg_load(a, bad, kept.n, now), -1);

    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int random_ok = 0;
    uint8_t *rnd = malloc(4096);
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(rng_next(&seed) % 4096);
        for (size_t i = 0; i < n; i++)
            rnd[i] = (uint8_t)rng_next(&seed);
        if (round % 2 && n >= HEADER_LEN)
            memcpy(rnd, kept.p, BODY_LEN_AT); /* right magic and version, random rest */
        if (round % 4 == 3 && n >= HEADER_LEN)
            fix_header(rnd, n); /* ...and a header that checks */
        random_ok += ntm_agg_load(a, rnd, n, now) == 0;
    }
    CHECK_INT(random_ok, 0);
    free(rnd);
    struct blob after = save(a);
    CHECK(same(ref, after));
    CHECK_INT(e.n, 0); /* a refused load emits nothing */
    free(after.p);
    free(ref.p);
    ntm_agg_free(a);

    /* Mangled bodies with a valid checksum: each is refused or loaded without harm
     * (this runs under ASan/UBSan too); a loaded engine is then ticked a day on. */
    struct ntm_agg *z = ntm_agg_new(cfg, &k);
    for (size_t i = HEADER_LEN; i < kept.n && z != NULL; i++) {
        for (int v = 0; v < 3; v++) {
            memcpy(bad, kept.p, kept.n);
            bad[i] = v == 0 ? 0xff : v == 1 ? 0x00 : (uint8_t)(bad[i] + 1);
            fix_header(bad, kept.n);
            if (ntm_agg_load(z, bad, kept.n, now) == 0) {
                ntm_agg_tick(z, now + INT64_C(86400000));
                ntm_agg_free(z);
                e.n = 0;
                z = ntm_agg_new(cfg, &k);
            }
        }
    }
    CHECK(z != NULL);
    ntm_agg_free(z);
    free(bad);
    free(e.text);
}

/* A state saved before any record, and one saved by an engine of a
 * configuration with one village less: rows of the missing village dropped. */
static void test_empty_and_other_config(const struct ntm_config *cfg, struct blob kept)
{
    struct ntm_agg *a = ntm_agg_new(cfg, NULL);
    struct blob b = save(a);
    CHECK_INT(ntm_agg_load(a, b.p, b.n, 0), 0);
    CHECK_INT(ntm_agg_watermark(a, 0), INT64_MIN);
    struct blob c = save(a);
    CHECK(same(b, c));
    ntm_agg_free(a);
    free(b.p);
    free(c.p);

    static const char one[] = "gateway:\n  id: gw-test\ncommune:\n  code: \"16279\"\n"
                              "  province_code: \"38\"\nvillages:\n  - id: thon-b\n"
                              "sync:\n  grace_s: 120\n";
    char err[512];
    struct ntm_config *c1 = ntm_config_parse("one.yaml", one, strlen(one), err, sizeof err);
    CHECK(c1 != NULL);
    if (c1 == NULL)
        return;
    struct emitted e = {0};
    struct ntm_agg_sink k = sink_of(&e);
    a = ntm_agg_new(c1, &k);
    CHECK_INT(ntm_agg_load(a, kept.p, kept.n, MONO_AT(T(10, 0, 30))), 0);
    CHECK_INT(ntm_agg_device_online(a, "spk-1", MONO_AT(T(10, 0, 30))), -1); /* thon-a's */
    CHECK_INT(ntm_agg_device_online(a, "ap-1", MONO_AT(T(10, 0, 30))), 0);
    CHECK_INT(ntm_agg_device_online(a, "spk-x", MONO_AT(T(10, 0, 30))), 0);
    ntm_agg_tick(a, MONO_AT(T(24, 10, 0)));
    CHECK(e.n > 0 && strstr(e.text, "row 1 ") == NULL); /* one village now: index 0 only */
    CHECK(strstr(e.text, "row 0 2 1 1795280400 1795366800 unique_clients count 7 2\n") != NULL);
    ntm_agg_free(a);
    ntm_config_free(c1);
    free(e.text);
}

int main(void)
{
    struct ntm_config *cfg = agg_config();
    struct blob kept = read_hex("agg_state_v2.hex");
    CHECK_INT(memcmp(kept.p, "NTMAGGST", 8), 0);
    CHECK_INT(get_le(kept.p + VERSION_AT, 4), 2);
    test_format(cfg, kept);
    test_version_1(cfg, kept);
    test_refused(cfg, kept);
    test_empty_and_other_config(cfg, kept);
    free(kept.p);
    ntm_config_free(cfg);
    printf("agg_state: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
