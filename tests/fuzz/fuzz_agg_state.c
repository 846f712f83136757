/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_agg_state.c: libFuzzer target for the aggregation state codec
 * (daemon/agg_state.c) and what runs on a restored state (the engine's other
 * files): ntm_agg_load on arbitrary bytes, then records folded, ticks, and
 * ntm_agg_save.
 *
 * Input: byte 0 is the mode; the rest is the state blob. Mode bit 0 clear:
 * the blob's header (magic, version, body length, FNV-1a checksum) is made
 * right before loading, so that the fuzzer reaches the body's decoder instead
 * of stopping at the checksum; set: the bytes are loaded as they are. Bits 1-7
 * seed the records folded afterwards.
 *
 * Checked, besides memory errors, undefined behaviour and leaks: a load that
 * fails leaves the engine unchanged (its save is the same before and after);
 * rows have a known village, kind and period, a window of one hour or one day
 * and a finite value; alerts a known type; and whatever state the engine
 * reaches, save -> load into a fresh engine succeeds and save again gives the
 * same bytes (the daemon restores it at every start). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "aggregate.h"
#include "config.h"
#include "fuzz_common.h"
#include "record.h"

#include "../unit/agg_config.h"

#define HEADER_LEN 28
#define D0 INT64_C(1795280400) /* 2026-11-22T00:00:00+07:00 */
#define MONO0 INT64_C(5000000)

static struct ntm_config *cfg;
static size_t n_rows, n_alerts;

static void on_row(void *arg, const struct ntm_indicator_row *r)
{
    (void)arg;
    FUZZ_ASSERT(r->village < cfg->n_villages && r->kind < NTM_KIND_COUNT);
    FUZZ_ASSERT(r->period < NTM_PERIOD_COUNT);
    FUZZ_ASSERT(r->end - r->start == (r->period == NTM_PERIOD_HOUR ? 3600 : 86400));
    FUZZ_ASSERT(r->name != NULL && r->unit != NULL);
    FUZZ_ASSERT(isfinite(r->value));
    n_rows++;
}

static void on_closed(void *arg, enum ntm_period p, int64_t start, int64_t end)
{
    (void)arg;
    FUZZ_ASSERT(p < NTM_PERIOD_COUNT && start < end);
}

static void on_alert(void *arg, const struct ntm_alert *al)
{
    (void)arg;
    FUZZ_ASSERT(al->type < NTM_ALERT_COUNT && al->kind < NTM_KIND_COUNT);
    FUZZ_ASSERT(al->village < cfg->n_villages && al->device != NULL);
    FUZZ_ASSERT(ntm_alert_type_name((enum ntm_alert_type)al->type) != NULL);
    n_alerts++;
}

static const struct ntm_agg_sink sink = {NULL, on_row, on_closed, on_alert};

static uint64_t fnv64(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static void fix_header(uint8_t *b, size_t n)
{
    if (n < HEADER_LEN)
        return;
    memcpy(b, "NTMAGGST", 8);
    b[8] = 1, b[9] = b[10] = b[11] = 0; /* version 1, little-endian */
    uint64_t body = n - HEADER_LEN, sum = fnv64(b + HEADER_LEN, body);
    for (int i = 0; i < 8; i++) {
        b[12 + i] = (uint8_t)(body >> (8 * i));
        b[20 + i] = (uint8_t)(sum >> (8 * i));
    }
}

static uint64_t rng;
static uint32_t rnd(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng >> 33);
}

struct dev {
    const char *id;
    uint16_t village;
    uint8_t kind;
};

static void make_record(struct ntm_record *r, const struct dev *d, int64_t ts, int64_t mono)
{
    memset(r, 0, sizeof *r);
    r->ts = ts;
    r->recv_ms = ts * 1000 + mono % 1000;
    r->kind = d->kind;
    r->village = d->village;
    snprintf(r->device, sizeof r->device, "%s", d->id);
    uint32_t x = rnd();
    int ch = (int)(x % 4);
    if (d->kind == NTM_KIND_SPEAKER && ch == NTM_CH_STATS)
        ch = NTM_CH_EVENT;
    if (d->kind == NTM_KIND_WIFI && ch == NTM_CH_EVENT)
        ch = NTM_CH_STATS;
    r->channel = (uint8_t)ch;
    x >>= 2;
    switch (ch) {
    case NTM_CH_STATE:
        r->u.state.online = x & 1;
        break;
    case NTM_CH_HEARTBEAT:
        r->u.heartbeat.interval_s = (int32_t[]){30, 60, 300, 86400}[x & 3];
        r->u.heartbeat.uptime_s = (x & 4) ? -1 : (int64_t)(x >> 3);
        break;
    case NTM_CH_EVENT:
        if (d->kind == NTM_KIND_SPEAKER) {
            if (x & 1) {
                r->event = NTM_EV_FAULT;
                r->u.fault.fault = (uint8_t)((x >> 1) % NTM_FAULT_COUNT);
            } else {
                r->event = NTM_EV_BROADCAST;
                r->u.broadcast.start = ts - (int64_t)((x >> 1) % 7200);
                r->u.broadcast.duration_s = (double)((x >> 4) % 5000);
                r->u.broadcast.result = (uint8_t)((x >> 2) % NTM_RESULT_COUNT);
                r->u.broadcast.priority = (uint8_t)((x >> 5) % NTM_PRIO_COUNT);
                r->u.broadcast.source = (uint8_t)((x >> 7) % NTM_SRC_COUNT);
            }
        } else {
            r->event = (uint8_t)(NTM_EV_MOTION + (x & 3));
            r->u.camera_event.duration_s = (x & 4) ? -1 : (double)(x >> 3 & 255);
        }
        break;
    case NTM_CH_STATS:
        if (d->kind == NTM_KIND_CAMERA) {
            r->u.camera_stats.recording = x & 1;
            r->u.camera_stats.storage_free_pct = (x & 2) ? -1 : (double)((x >> 2) % 101);
        } else {
            r->u.wifi.clients = x % 50;
            r->u.wifi.new_sessions = (x >> 6) % 20;
            r->u.wifi.rx_bytes = (int64_t)x * 1000;
            r->u.wifi.tx_bytes = (int64_t)x * 300;
            r->u.wifi.n_macs = (x >> 11) % 6;
            for (uint32_t i = 0; i < r->u.wifi.n_macs; i++)
                r->u.wifi.mac_hash[i] = 0x1234567800000000ULL + (rnd() % 16);
        }
        break;
    }
}

static int same(const void *a, size_t an, const void *b, size_t bn)
{
    return an == bn && memcmp(a, b, an) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cfg == NULL)
        cfg = agg_config();
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    size_t n = size - 1;
    uint8_t *blob = (uint8_t *)fuzz_dup(data + 1, n);
    if (!(mode & 1))
        fix_header(blob, n);

    struct ntm_agg *a = ntm_agg_new(cfg, &sink);
    FUZZ_ASSERT(a != NULL);
    void *s0 = NULL, *s1 = NULL;
    size_t l0 = 0, l1 = 0;
    FUZZ_ASSERT(ntm_agg_save(a, &s0, &l0) == 0);
    int rc = ntm_agg_load(a, blob, n, MONO0);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    if (rc != 0) { /* unchanged */
        FUZZ_ASSERT(ntm_agg_save(a, &s1, &l1) == 0);
        FUZZ_ASSERT(same(s0, l0, s1, l1));
        free(s1);
        s1 = NULL;
    }
    free(s0);
    free(blob);

    /* records around the restored watermark, from declared devices and one
     * device the state does not know, with ticks in between */
    rng = fnv64(data, size) ^ mode;
    int64_t mono = MONO0;
    int64_t wm = ntm_agg_watermark(a, mono);
    int64_t base = (wm == INT64_MIN || wm < 0 || wm > (INT64_C(1) << 41)) ? D0 + 8 * 3600 : wm;
    struct dev devs[8];
    size_t nd = 0;
    for (size_t i = 0; i < cfg->n_devices; i++)
        devs[nd++] =
            (struct dev){cfg->devices[i].id, cfg->devices[i].village, cfg->devices[i].kind};
    if (ntm_agg_device_online(a, "fz-new", mono) == -1)
        devs[nd++] = (struct dev){"fz-new", 1, (uint8_t)(mode >> 1) % NTM_KIND_COUNT};
    static struct ntm_record rec;
    int steps = 8 + (int)(rnd() % 24);
    for (int i = 0; i < steps; i++) {
        const struct dev *d = &devs[rnd() % nd];
        int64_t ts = base + (int64_t)(rnd() % 9000) - 3000;
        make_record(&rec, d, ts, mono);
        bool late = ntm_agg_add(a, &rec, mono);
        mono += (int64_t)(rnd() % 400000);
        if (rnd() % 3 == 0)
            ntm_agg_tick(a, mono);
        if (!late) /* a late record is only counted: its device may stay unknown */
            FUZZ_ASSERT(ntm_agg_device_online(a, d->id, mono) >= 0);
    }
    mono += 3 * 3600 * 1000; /* closes what is open */
    ntm_agg_tick(a, mono);
    (void)ntm_agg_late_total(a);

    /* save -> load -> save is the identity */
    FUZZ_ASSERT(ntm_agg_save(a, &s1, &l1) == 0);
    struct ntm_agg *b = ntm_agg_new(cfg, &sink);
    FUZZ_ASSERT(b != NULL);
    FUZZ_ASSERT(ntm_agg_load(b, s1, l1, mono) == 0);
    void *s2 = NULL;
    size_t l2 = 0;
    FUZZ_ASSERT(ntm_agg_save(b, &s2, &l2) == 0);
    FUZZ_ASSERT(same(s1, l1, s2, l2));
    free(s1);
    free(s2);
    ntm_agg_free(b);
    ntm_agg_free(a);
    return 0;
}
