/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_agg_forget.c: ntm_agg_forget_device (ntmctl forget) in the aggregation
 * engine: the village's devices figure and uptime of the windows closing after
 * it, the rows closed before unchanged, the day without its closed hours'
 * share, unknown ids, a forgotten device coming back, the saved state. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "record.h"

#include "agg_config.h"
#include "check.h"

/* 2026-11-22T00:00:00+07:00 (local midnight) */
#define D0 INT64_C(1795280400)
#define T(h, m) (D0 + (h)*INT64_C(3600) + (m)*INT64_C(60))

/* the uptime_pct rows of thon-a's speakers, by period and start */
struct seen {
    struct {
        uint8_t period;
        int64_t start;
        double value;
        uint32_t devices;
    } r[64];
    size_t n;
};

static void on_row(void *arg, const struct ntm_indicator_row *row)
{
    struct seen *s = arg;
    if (row->village == VA && row->kind == NTM_KIND_SPEAKER &&
        strcmp(row->name, "uptime_pct") == 0 && s->n < 64) {
        s->r[s->n].period = row->period;
        s->r[s->n].start = row->start;
        s->r[s->n].value = row->value;
        s->r[s->n].devices = row->devices;
        s->n++;
    }
}

static void expect(int line, const struct seen *s, int period, int64_t start, double value,
                   uint32_t devices)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->r[i].period == period && s->r[i].start == start) {
            if (fabs(s->r[i].value - value) < 1e-9 && s->r[i].devices == devices) {
                passed++;
            } else {
                failed++;
                fprintf(stderr, "line %d: got %.2f %% of %u devices, want %.2f %% of %u\n", line,
                        s->r[i].value, s->r[i].devices, value, devices);
            }
            return;
        }
    failed++;
    fprintf(stderr, "line %d: no row\n", line);
}

/* a heartbeat of a thon-a speaker; the watermark is the newest ts (mono 0) */
static void hb(struct ntm_agg *a, const char *dev, int64_t ts, int interval_s)
{
    struct ntm_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.device, sizeof r.device, "%s", dev);
    r.village = VA;
    r.kind = NTM_KIND_SPEAKER;
    r.channel = NTM_CH_HEARTBEAT;
    r.ts = ts;
    r.recv_ms = ts * 1000;
    r.u.heartbeat.interval_s = interval_s;
    CHECK(!ntm_agg_add(a, &r, 0));
}

static void beats(struct ntm_agg *a, int64_t ts)
{
    hb(a, "spk-1", ts, 60);
    hb(a, "spk-2", ts, 60);
    hb(a, "fake-1", ts, 600);
    hb(a, "fake-2", ts, 600);
}

int main(void)
{
    struct ntm_config *cfg = agg_config();
    struct seen s = {0};
    struct ntm_agg_sink sink = {.arg = &s, .row = on_row};
    struct ntm_agg *a = ntm_agg_new(cfg, &sink);
    CHECK(a != NULL);
    CHECK_INT(ntm_agg_forget_device(a, "fake-1"), -1); /* not known yet */

    /* 09:30 and 10:30: the speakers 3 min online each time, the fakes 30 min */
    beats(a, T(9, 30));
    beats(a, T(10, 30));
    /* hour 9 closed with 4 devices: (2 x 180 + 2 x 1800) / (4 x 3600) */
    expect(__LINE__, &s, NTM_PERIOD_HOUR, T(9, 0), 27.5, 4);

    CHECK_INT(ntm_agg_forget_device(a, "fake-1"), 0);
    CHECK_INT(ntm_agg_forget_device(a, "fake-1"), -1);
    CHECK_INT(ntm_agg_forget_device(a, "nobody"), -1);
    CHECK_INT(ntm_agg_device_online(a, "fake-1", 0), -1);
    CHECK_INT(ntm_agg_device_online(a, "fake-2", 0), 1); /* the others still found */
    CHECK_INT(ntm_agg_device_online(a, "spk-2", 0), 1);
    CHECK_INT(ntm_agg_device_online(a, "cam-2", 0), 0);

    /* the saved state does not hold it */
    void *blob = NULL;
    size_t len = 0;
    CHECK_INT(ntm_agg_save(a, &blob, &len), 0);
    struct ntm_agg *b = ntm_agg_new(cfg, NULL);
    CHECK_INT(ntm_agg_load(b, blob, len, 0), 0);
    CHECK_INT(ntm_agg_device_online(b, "fake-1", 0), -1);
    CHECK_INT(ntm_agg_device_online(b, "fake-2", 0), 1);
    ntm_agg_free(b);
    free(blob);

    /* hour 10 closes with 3: (2 x 180 + 1800) / (3 x 3600); hour 9 is not formed again */
    size_t before = s.n;
    hb(a, "spk-1", T(11, 5), 60);
    expect(__LINE__, &s, NTM_PERIOD_HOUR, T(10, 0), 20.0, 3);
    for (size_t i = before; i < s.n; i++)
        CHECK(s.r[i].start != T(9, 0));

    /* the day: hour 9 without fake-1 (2 x 180 + 1800), hour 10 (2160), hour 11 (180) */
    hb(a, "spk-1", T(24, 5), 60);
    expect(__LINE__, &s, NTM_PERIOD_DAY, T(0, 0), round(4500 * 100.0 / (3 * 86400) * 100) / 100, 3);

    /* it speaks again: a new device, counted from then on (spk-1 and it, 180 s each) */
    hb(a, "fake-1", T(24, 6), 60);
    CHECK_INT(ntm_agg_device_online(a, "fake-1", 0), 1);
    hb(a, "spk-1", T(25, 5), 60);
    expect(__LINE__, &s, NTM_PERIOD_HOUR, T(24, 0), round(360 * 100.0 / (4 * 3600) * 100) / 100, 4);

    ntm_agg_free(a);
    ntm_config_free(cfg);
    printf("agg_forget: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
