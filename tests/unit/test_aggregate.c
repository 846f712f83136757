/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_aggregate.c: unit tests of the aggregation engine (daemon/aggregate.c,
 * agg_windows.c, agg_devices.c): a scripted day of two villages checked row by
 * row against values computed by hand, alerts, late records, the watermark and
 * grace, and save/restore equivalence mid-run (the codec's own tests, bad blobs
 * included, are test_agg_state.c's). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "config.h"
#include "record.h"

#include "agg_config.h"
#include "check.h"

#define SP NTM_KIND_SPEAKER
#define CA NTM_KIND_CAMERA
#define WI NTM_KIND_WIFI
#define HOUR NTM_PERIOD_HOUR
#define DAY NTM_PERIOD_DAY

/* 2026-11-22T00:00:00+07:00 (local midnight) */
#define D0 INT64_C(1795280400)
/* local time hh:mm:ss on 2026-11-22 */
#define T(h, m, s) (D0 + (h)*INT64_C(3600) + (m)*INT64_C(60) + (s))

/* ---- what the engine emits ------------------------------------------------ */

struct got_row {
    struct ntm_indicator_row r;
};

struct got_alert {
    int64_t ts;
    uint16_t village;
    uint8_t kind, type;
    char device[NTM_DEVICE_ID_MAX + 1];
    char detail[32];
};

struct got_win {
    uint8_t period;
    int64_t start, end;
    size_t rows_before; /* rows emitted before this window's rows */
};

struct sink_log {
    struct ntm_indicator_row *rows;
    size_t n_rows, cap_rows;
    struct got_alert alerts[64];
    size_t n_alerts;
    struct got_win wins[64];
    size_t n_wins;
    size_t win_rows_start; /* rows count when the current window began */
    int bad_order;         /* a row's window differing from the window_closed that follows */
};

static void on_row(void *arg, const struct ntm_indicator_row *row)
{
    struct sink_log *l = arg;
    if (l->n_rows == l->cap_rows) {
        l->cap_rows = l->cap_rows ? l->cap_rows * 2 : 256;
        l->rows = realloc(l->rows, l->cap_rows * sizeof *l->rows);
        if (l->rows == NULL)
            abort();
    }
    l->rows[l->n_rows++] = *row;
}

static void on_closed(void *arg, enum ntm_period p, int64_t start, int64_t end)
{
    struct sink_log *l = arg;
    for (size_t i = l->win_rows_start; i < l->n_rows; i++)
        if (l->rows[i].period != p || l->rows[i].start != start || l->rows[i].end != end)
            l->bad_order++;
    if (l->n_wins < sizeof l->wins / sizeof l->wins[0])
        l->wins[l->n_wins++] = (struct got_win){(uint8_t)p, start, end, l->win_rows_start};
    l->win_rows_start = l->n_rows;
}

static void on_alert(void *arg, const struct ntm_alert *al)
{
    struct sink_log *l = arg;
    if (l->n_alerts >= sizeof l->alerts / sizeof l->alerts[0])
        return;
    struct got_alert *g = &l->alerts[l->n_alerts++];
    memset(g, 0, sizeof *g);
    g->ts = al->ts;
    g->village = al->village;
    g->kind = al->kind;
    g->type = al->type;
    snprintf(g->device, sizeof g->device, "%s", al->device ? al->device : "(null)");
    snprintf(g->detail, sizeof g->detail, "%s", al->detail ? al->detail : "");
}

static struct ntm_agg_sink sink_of(struct sink_log *l)
{
    return (struct ntm_agg_sink){l, on_row, on_closed, on_alert};
}

static void log_free(struct sink_log *l)
{
    free(l->rows);
    memset(l, 0, sizeof *l);
}

/* ---- row checks ------------------------------------------------------------- */

/* The one row of (period, start, village, kind, name), or NULL (reported when
 * there are several). */
static const struct ntm_indicator_row *row_of(int line, const struct sink_log *l, int p,
                                              int64_t start, int v, int k, const char *name)
{
    const struct ntm_indicator_row *found = NULL;
    for (size_t i = 0; i < l->n_rows; i++) {
        const struct ntm_indicator_row *r = &l->rows[i];
        if (r->period == p && r->start == start && r->village == v && r->kind == k &&
            strcmp(r->name, name) == 0) {
            if (found != NULL) {
                failed++;
                fprintf(stderr, "%s:%d: row %s emitted twice\n", __FILE__, line, name);
            }
            found = r;
        }
    }
    return found;
}

static void expect_row(int line, const struct sink_log *l, int p, int64_t start, int v, int k,
                       const char *name, const char *unit, double want, uint32_t devices)
{
    const struct ntm_indicator_row *r = row_of(line, l, p, start, v, k, name);
    int64_t len = p == HOUR ? 3600 : 86400;
    if (r != NULL && fabs(r->value - want) < 1e-9 && r->devices == devices &&
        r->end == start + len && strcmp(r->unit, unit) == 0) {
        passed++;
        return;
    }
    failed++;
    if (r == NULL)
        fprintf(stderr,
                "%s:%d: no row %s (period %d, start %+lld s from D0, village %d, kind %d)\n",
                __FILE__, line, name, p, (long long)(start - D0), v, k);
    else
        fprintf(stderr,
                "%s:%d: row %s (period %d, start %+lld s, village %d, kind %d): value %.6f "
                "devices %u unit %s, want %.6f, %u, %s\n",
                __FILE__, line, name, p, (long long)(start - D0), v, k, r->value, r->devices,
                r->unit, want, devices, unit);
}

static void expect_no_row(int line, const struct sink_log *l, int p, int64_t start, int v, int k,
                          const char *name)
{
    if (row_of(line, l, p, start, v, k, name) == NULL) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "%s:%d: unexpected row %s\n", __FILE__, line, name);
    }
}

static void expect_speaker(int line, const struct sink_log *l, int p, int64_t start, int v,
                           uint32_t n, double uptime, double bc, double played, double failed_,
                           double minutes, double emergency, double faults)
{
    expect_row(line, l, p, start, v, SP, "uptime_pct", "%", uptime, n);
    expect_row(line, l, p, start, v, SP, "broadcasts", "count", bc, n);
    expect_row(line, l, p, start, v, SP, "broadcasts_played", "count", played, n);
    expect_row(line, l, p, start, v, SP, "broadcasts_failed", "count", failed_, n);
    expect_row(line, l, p, start, v, SP, "broadcast_minutes", "min", minutes, n);
    expect_row(line, l, p, start, v, SP, "emergency_broadcasts", "count", emergency, n);
    expect_row(line, l, p, start, v, SP, "faults", "count", faults, n);
}

/* recording < 0: no recording_pct row expected */
static void expect_camera(int line, const struct sink_log *l, int p, int64_t start, int v,
                          uint32_t n, double uptime, double motion, double tamper, double vloss,
                          double recording)
{
    expect_row(line, l, p, start, v, CA, "uptime_pct", "%", uptime, n);
    expect_row(line, l, p, start, v, CA, "motion_events", "count", motion, n);
    expect_row(line, l, p, start, v, CA, "tamper_events", "count", tamper, n);
    expect_row(line, l, p, start, v, CA, "video_loss_events", "count", vloss, n);
    if (recording < 0)
        expect_no_row(line, l, p, start, v, CA, "recording_pct");
    else
        expect_row(line, l, p, start, v, CA, "recording_pct", "%", recording, n);
}

static void expect_wifi(int line, const struct sink_log *l, int p, int64_t start, int v, uint32_t n,
                        double uptime, double unique, double sessions, double peak, double traffic)
{
    expect_row(line, l, p, start, v, WI, "uptime_pct", "%", uptime, n);
    expect_row(line, l, p, start, v, WI, "unique_clients", "count", unique, n);
    expect_row(line, l, p, start, v, WI, "sessions", "count", sessions, n);
    expect_row(line, l, p, start, v, WI, "peak_clients", "count", peak, n);
    expect_row(line, l, p, start, v, WI, "traffic_mb", "MB", traffic, n);
}

static size_t rows_in(const struct sink_log *l, int p, int64_t start)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n_rows; i++)
        n += l->rows[i].period == p && l->rows[i].start == start;
    return n;
}

static void expect_alert(int line, const struct sink_log *l, size_t i, int type, const char *dev,
                         int v, int k, int64_t ts, const char *detail)
{
    const struct got_alert *g = i < l->n_alerts ? &l->alerts[i] : NULL;
    if (g && g->type == type && strcmp(g->device, dev) == 0 && g->village == v && g->kind == k &&
        g->ts == ts && strcmp(g->detail, detail) == 0) {
        passed++;
        return;
    }
    failed++;
    if (g == NULL)
        fprintf(stderr, "%s:%d: alert #%zu (%s %s) missing\n", __FILE__, line, i,
                ntm_alert_type_name((enum ntm_alert_type)type), dev);
    else
        fprintf(stderr,
                "%s:%d: alert #%zu is %s %s v%d k%d ts %+lld detail '%s', want %s %s v%d k%d ts "
                "%+lld detail '%s'\n",
                __FILE__, line, i, ntm_alert_type_name((enum ntm_alert_type)g->type), g->device,
                g->village, g->kind, (long long)(g->ts - D0), g->detail,
                ntm_alert_type_name((enum ntm_alert_type)type), dev, v, k, (long long)(ts - D0),
                detail);
}

/* ---- the script ------------------------------------------------------------- */

struct item {
    int64_t arrive; /* feeding order (the ts unless the message comes late) */
    size_t seq;
    struct ntm_record rec;
};

struct script {
    struct item *v;
    size_t n, cap;
};

static struct ntm_record *add(struct script *s, const char *dev, int village, int kind, int channel,
                              int64_t ts)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (s->v == NULL)
            abort();
    }
    struct item *it = &s->v[s->n];
    memset(it, 0, sizeof *it);
    it->arrive = ts;
    it->seq = s->n++;
    it->rec.ts = ts;
    it->rec.recv_ms = ts * 1000;
    it->rec.kind = (uint8_t)kind;
    it->rec.channel = (uint8_t)channel;
    it->rec.village = (uint16_t)village;
    snprintf(it->rec.device, sizeof it->rec.device, "%s", dev);
    return &it->rec;
}

/* The last item added arrives at `arrive` instead of its ts. */
static void arrives_at(struct script *s, int64_t arrive)
{
    s->v[s->n - 1].arrive = arrive;
}

static void hb(struct script *s, const char *dev, int v, int k, int64_t ts, int interval_s)
{
    struct ntm_record *r = add(s, dev, v, k, NTM_CH_HEARTBEAT, ts);
    r->u.heartbeat.interval_s = interval_s;
    r->u.heartbeat.uptime_s = -1;
}

static void state(struct script *s, const char *dev, int v, int k, int64_t ts, bool online)
{
    add(s, dev, v, k, NTM_CH_STATE, ts)->u.state.online = online;
}

static void broadcast(struct script *s, const char *dev, int v, int64_t ts, double dur, int result,
                      int priority)
{
    struct ntm_record *r = add(s, dev, v, SP, NTM_CH_EVENT, ts);
    r->event = NTM_EV_BROADCAST;
    r->u.broadcast.start = ts - (int64_t)dur;
    r->u.broadcast.duration_s = dur;
    r->u.broadcast.result = (uint8_t)result;
    r->u.broadcast.priority = (uint8_t)priority;
    r->u.broadcast.source = NTM_SRC_COMMUNE;
}

static void fault(struct script *s, const char *dev, int v, int64_t ts, int which)
{
    struct ntm_record *r = add(s, dev, v, SP, NTM_CH_EVENT, ts);
    r->event = NTM_EV_FAULT;
    r->u.fault.fault = (uint8_t)which;
}

static void cam_event(struct script *s, const char *dev, int v, int64_t ts, int event)
{
    struct ntm_record *r = add(s, dev, v, CA, NTM_CH_EVENT, ts);
    r->event = (uint8_t)event;
    r->u.camera_event.duration_s = -1;
}

static void cam_stats(struct script *s, const char *dev, int v, int64_t ts, bool recording)
{
    struct ntm_record *r = add(s, dev, v, CA, NTM_CH_STATS, ts);
    r->u.camera_stats.recording = recording;
    r->u.camera_stats.storage_free_pct = 50;
}

static void wifi_stats(struct script *s, const char *dev, int v, int64_t ts, int64_t clients,
                       int64_t sessions, int64_t rx, int64_t tx, const uint64_t *macs,
                       uint32_t n_macs)
{
    struct ntm_record *r = add(s, dev, v, WI, NTM_CH_STATS, ts);
    r->u.wifi.clients = clients;
    r->u.wifi.new_sessions = sessions;
    r->u.wifi.rx_bytes = rx;
    r->u.wifi.tx_bytes = tx;
    r->u.wifi.n_macs = n_macs;
    memcpy(r->u.wifi.mac_hash, macs, n_macs * sizeof *macs);
}

static int by_arrival(const void *x, const void *y)
{
    const struct item *a = x, *b = y;
    if (a->arrive != b->arrive)
        return a->arrive < b->arrive ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* client hashes (keyed hashes in real life; any 64-bit values here, 0 included) */
#define H1 UINT64_C(0x1111111111111111)
#define H2 UINT64_C(0x2222222222222222)
#define H3 UINT64_C(0x3333333333333333)
#define H4 UINT64_C(0x4444444444444444)
#define H5 UINT64_C(0)
#define H6 UINT64_C(0x6666666666666666)
#define H7 UINT64_C(0x7777777777777777)
#define H8 UINT64_C(0x8888888888888888)

/*
 * The scripted day (local time, 2026-11-22). Availability, worked out by hand:
 *
 * spk-1 (thon-a speaker, interval 60 s, so online 180 s after each sign of life):
 *   heartbeats 08:00..08:30 every minute -> online [08:00, 08:33), lapse at 08:33
 *   broadcast failed at 08:10 (inside)
 *   heartbeats 08:50..09:10 every minute -> back online at 08:50 (until 09:13)
 *   broadcast played 1800 s, emergency, at 09:05 (counts in hour 09)
 *   state offline at 09:12 -> online [08:50, 09:12), crossing 09:00
 *   heartbeats 10:00..10:58 every minute -> online [10:00, 11:01), lapse at 11:01
 *   a broadcast played 60 s with ts 08:32:30 arriving at 08:51 (out of order:
 *   counted in hour 08, no effect on availability)
 *   => hour 08: 33 min + 10 min = 2580 s; hour 09: 12 min = 720 s;
 *      hour 10: 3600 s; hour 11: 60 s
 * spk-2 (thon-a speaker, interval 600 s -> online 1800 s after each sign of life):
 *   heartbeats 08:05, 08:15, ..., 10:55 -> online [08:05, 11:25)
 *   => hour 08: 3300 s; hours 09, 10: 3600 s; hour 11: 1500 s
 * cam-1 (thon-a camera, interval 1200 s -> 3600 s):
 *   heartbeat 08:30, then signs of life up to 09:25 -> online [08:30, 10:25)
 *   => hour 08: 1800 s; hour 09: 3600 s; hour 10: 1500 s
 * ap-1 (thon-b wifi, interval 600 s): heartbeats 08:00..10:50 -> online [08:00, 11:20)
 *   => hours 08, 09, 10: 3600 s; hour 11: 1200 s
 * ap-2 (thon-b wifi, interval 600 s): heartbeats 08:30..09:30 -> online [08:30, 10:00)
 *   => hour 08: 1800 s; hour 09: 3600 s
 * cam-2: declared, never heard from: 0 everywhere.
 */
static void build_day(struct script *s)
{
    /* spk-1 */
    for (int m = 0; m <= 30; m++)
        hb(s, "spk-1", VA, SP, T(8, m, 0), 60);
    broadcast(s, "spk-1", VA, T(8, 10, 0), 0, NTM_RESULT_FAILED, NTM_PRIO_NORMAL);
    for (int m = 50; m <= 70; m++)
        hb(s, "spk-1", VA, SP, T(8, m, 0), 60);
    broadcast(s, "spk-1", VA, T(9, 5, 0), 1800, NTM_RESULT_PLAYED, NTM_PRIO_EMERGENCY);
    state(s, "spk-1", VA, SP, T(9, 12, 0), false);
    for (int m = 0; m <= 58; m++)
        hb(s, "spk-1", VA, SP, T(10, m, 0), 60);

    /* spk-2 */
    for (int m = 5; m <= 175; m += 10)
        hb(s, "spk-2", VA, SP, T(8, m, 0), 600);
    broadcast(s, "spk-2", VA, T(8, 20, 0), 900, NTM_RESULT_PLAYED, NTM_PRIO_NORMAL);
    broadcast(s, "spk-2", VA, T(8, 40, 30), 125, NTM_RESULT_INTERRUPTED, NTM_PRIO_EMERGENCY);
    fault(s, "spk-2", VA, T(9, 30, 0), NTM_FAULT_AMPLIFIER);
    broadcast(s, "spk-2", VA, T(10, 15, 0), 61, NTM_RESULT_PLAYED, NTM_PRIO_NORMAL);
    broadcast(s, "spk-2", VA, T(10, 20, 0), 0, NTM_RESULT_FAILED, NTM_PRIO_EMERGENCY);

    /* cam-1 */
    hb(s, "cam-1", VA, CA, T(8, 30, 0), 1200);
    cam_stats(s, "cam-1", VA, T(8, 45, 0), true);
    cam_event(s, "cam-1", VA, T(8, 46, 0), NTM_EV_MOTION);
    cam_stats(s, "cam-1", VA, T(8, 50, 0), false);
    cam_stats(s, "cam-1", VA, T(8, 55, 0), true);
    cam_event(s, "cam-1", VA, T(9, 10, 0), NTM_EV_MOTION);
    cam_event(s, "cam-1", VA, T(9, 15, 0), NTM_EV_TAMPER);
    cam_event(s, "cam-1", VA, T(9, 20, 0), NTM_EV_VIDEO_LOSS);
    cam_event(s, "cam-1", VA, T(9, 25, 0), NTM_EV_STORAGE_ERROR);

    /* ap-1 */
    for (int m = 0; m <= 170; m += 10)
        hb(s, "ap-1", VB, WI, T(8, m, 0), 600);
    const uint64_t m1[] = {H1, H2, H3}, m2[] = {H1, H2, H5, H6};
    wifi_stats(s, "ap-1", VB, T(8, 15, 0), 3, 2, 1000000, 234567, m1, 3);
    wifi_stats(s, "ap-1", VB, T(8, 45, 0), 4, 1, 400, 33, m2, 4);

    /* ap-2 */
    for (int m = 30; m <= 90; m += 10)
        hb(s, "ap-2", VB, WI, T(8, m, 0), 600);
    const uint64_t m3[] = {H3, H4}, m4[] = {H1, H7};
    wifi_stats(s, "ap-2", VB, T(8, 40, 0), 2, 1, 500000, 10000, m3, 2);
    wifi_stats(s, "ap-2", VB, T(9, 20, 0), 5, 3, 2000000, 1000000, m4, 2);

    /* Out of order, not late: ts in hour 08, arriving within its grace (the
     * watermark is then 09:01:00 < 09:00 + 120 s). */
    cam_event(s, "cam-1", VA, T(8, 59, 30), NTM_EV_MOTION);
    arrives_at(s, T(9, 1, 30));
    /* Out of order for spk-1's availability (before its current interval start 08:50). */
    broadcast(s, "spk-1", VA, T(8, 32, 30), 60, NTM_RESULT_PLAYED, NTM_PRIO_NORMAL);
    arrives_at(s, T(8, 51, 0));

    /* Late: before the first window (08:00), and in hour 08 after it closed (at the
     * record of 09:02:00). None may count anywhere or raise an alert. */
    cam_event(s, "cam-1", VA, T(7, 59, 59), NTM_EV_TAMPER);
    arrives_at(s, T(8, 0, 30));
    broadcast(s, "spk-2", VA, T(8, 30, 0), 0, NTM_RESULT_FAILED, NTM_PRIO_EMERGENCY);
    arrives_at(s, T(9, 3, 0));
    const uint64_t m5[] = {H8};
    wifi_stats(s, "ap-2", VB, T(8, 59, 0), 100, 50, 9000000, 0, m5, 1);
    arrives_at(s, T(9, 3, 0));

    qsort(s->v, s->n, sizeof *s->v, by_arrival);
}

#define MONO0 INT64_C(5000000)
/* Monotonic time of item i: 1 ms apart, so the watermark follows the messages. */
#define MONO(i) (MONO0 + (int64_t)(i))

/* Feeds the items [*next, end of those arriving before `until`). */
static size_t feed_until(struct ntm_agg *a, const struct script *s, size_t *next, int64_t until)
{
    size_t late = 0;
    for (; *next < s->n && s->v[*next].arrive < until; (*next)++)
        late += ntm_agg_add(a, &s->v[*next].rec, MONO(*next));
    return late;
}

/* After the last message (10:58:00 at MONO(n - 1)) only ticks move the watermark. */
#define AFTER_LAST(s, secs) (MONO((s)->n - 1) + (int64_t)(secs)*1000)

/* ---- the day, uninterrupted --------------------------------------------------- */

static void check_day_rows(const struct sink_log *l)
{
    /* Hour 08 [08:00, 09:00)
     * speakers: uptime (2580 + 3300) / 7200 = 81.666.. -> 81.67
     *   broadcasts: failed 08:10, played 900 s 08:20, played 60 s 08:32:30 (out of
     *   order), interrupted 125 s emergency 08:40:30 -> 4, played 2, failed 1,
     *   minutes (900 + 60 + 125) / 60 = 18.0833 -> 18.08, emergency 1, faults 0
     * camera cam-1: 1800 / 3600 = 50.00; motion 08:46 and 08:59:30 -> 2;
     *   recording: true, false, true -> 2 / 3 = 66.666.. -> 66.67
     * wifi: (3600 + 1800) / 7200 = 75.00; clients {H1,H2,H3} u {H1,H2,H5,H6} u
     *   {H3,H4} = 6; sessions 2 + 1 + 1 = 4; peak 4;
     *   traffic 1234567 + 433 + 510000 = 1745000 B = 1.745 MB -> 1.75 (half away)
     * thon-b camera cam-2: never seen: all 0, no recording_pct */
    int64_t h8 = T(8, 0, 0);
    expect_speaker(__LINE__, l, HOUR, h8, VA, 2, 81.67, 4, 2, 1, 18.08, 1, 0);
    expect_camera(__LINE__, l, HOUR, h8, VA, 1, 50.00, 2, 0, 0, 66.67);
    expect_wifi(__LINE__, l, HOUR, h8, VB, 2, 75.00, 6, 4, 4, 1.75);
    expect_camera(__LINE__, l, HOUR, h8, VB, 1, 0, 0, 0, 0, -1);
    CHECK_INT(rows_in(l, HOUR, h8), 7 + 5 + 5 + 4);
    /* no speaker or wifi rows where a village has no such devices */
    expect_no_row(__LINE__, l, HOUR, h8, VA, WI, "uptime_pct");
    expect_no_row(__LINE__, l, HOUR, h8, VB, SP, "uptime_pct");

    /* Hour 09: speakers (720 + 3600) / 7200 = 60.00; broadcast played 1800 s
     *   emergency at 09:05 (started 08:35: counts here) -> 1, 1, 0, 30.00, 1; fault 1
     * cam-1 100.00; motion 1, tamper 1, video_loss 1 (storage_error has no row);
     *   no stats report -> no recording_pct
     * wifi: 7200 / 7200 = 100.00; {H1, H7} = 2; sessions 3; peak 5; 3000000 B = 3.00 */
    int64_t h9 = T(9, 0, 0);
    expect_speaker(__LINE__, l, HOUR, h9, VA, 2, 60.00, 1, 1, 0, 30.00, 1, 1);
    expect_camera(__LINE__, l, HOUR, h9, VA, 1, 100.00, 1, 1, 1, -1);
    expect_wifi(__LINE__, l, HOUR, h9, VB, 2, 100.00, 2, 3, 5, 3.00);
    expect_camera(__LINE__, l, HOUR, h9, VB, 1, 0, 0, 0, 0, -1);
    CHECK_INT(rows_in(l, HOUR, h9), 7 + 4 + 5 + 4);

    /* Hour 10: speakers 7200 / 7200 = 100.00; played 61 s at 10:15, failed
     *   emergency at 10:20 -> 2, 1, 1, 61 / 60 = 1.01666 -> 1.02, emergency 1
     * cam-1 [10:00, 10:25) = 1500 / 3600 = 41.666.. -> 41.67
     * wifi: ap-1 3600, ap-2 0 -> 50.00; nothing else */
    int64_t h10 = T(10, 0, 0);
    expect_speaker(__LINE__, l, HOUR, h10, VA, 2, 100.00, 2, 1, 1, 1.02, 1, 0);
    expect_camera(__LINE__, l, HOUR, h10, VA, 1, 41.67, 0, 0, 0, -1);
    expect_wifi(__LINE__, l, HOUR, h10, VB, 2, 50.00, 0, 0, 0, 0);
    expect_camera(__LINE__, l, HOUR, h10, VB, 1, 0, 0, 0, 0, -1);

    /* Hour 11 (no messages): speakers spk-1 [11:00, 11:01) 60 + spk-2 [11:00, 11:25)
     *   1500 = 1560 / 7200 = 21.666.. -> 21.67; wifi ap-1 [11:00, 11:20) 1200 / 7200
     *   = 16.666.. -> 16.67; cameras 0 */
    int64_t h11 = T(11, 0, 0);
    expect_speaker(__LINE__, l, HOUR, h11, VA, 2, 21.67, 0, 0, 0, 0, 0, 0);
    expect_camera(__LINE__, l, HOUR, h11, VA, 1, 0, 0, 0, 0, -1);
    expect_wifi(__LINE__, l, HOUR, h11, VB, 2, 16.67, 0, 0, 0, 0);
    expect_camera(__LINE__, l, HOUR, h11, VB, 1, 0, 0, 0, 0, -1);

    /* Quiet hours 12..23 have rows, all 0. */
    for (int h = 12; h <= 23; h++) {
        expect_speaker(__LINE__, l, HOUR, T(h, 0, 0), VA, 2, 0, 0, 0, 0, 0, 0, 0);
        expect_camera(__LINE__, l, HOUR, T(h, 0, 0), VA, 1, 0, 0, 0, 0, -1);
        expect_wifi(__LINE__, l, HOUR, T(h, 0, 0), VB, 2, 0, 0, 0, 0, 0);
        expect_camera(__LINE__, l, HOUR, T(h, 0, 0), VB, 1, 0, 0, 0, 0, -1);
        CHECK_INT(rows_in(l, HOUR, T(h, 0, 0)), 20);
    }
    /* The first hour window is the one of the first message: nothing before 08:00. */
    CHECK_INT(rows_in(l, HOUR, T(7, 0, 0)), 0);

    /* The day [00:00, 24:00), 86400 s per device:
     * speakers: spk-1 2580 + 720 + 3600 + 60 = 6960, spk-2 3300 + 3600 + 3600 + 1500
     *   = 12000; 18960 / 172800 = 10.972.. -> 10.97
     *   broadcasts 4 + 1 + 2 = 7, played 2 + 1 + 1 = 4, failed 1 + 0 + 1 = 2,
     *   minutes (900 + 60 + 125 + 1800 + 61) / 60 = 2946 / 60 = 49.10,
     *   emergency 3, faults 1 (the late emergency broadcast of 08:30 is not there)
     * cam-1: 1800 + 3600 + 1500 = 6900 / 86400 = 7.986.. -> 7.99; motion 2 + 1 = 3,
     *   tamper 1 (not the late one of 07:59:59), video_loss 1, recording 2 / 3 -> 66.67
     * wifi: ap-1 3 * 3600 + 1200 = 12000, ap-2 1800 + 3600 = 5400; 17400 / 172800
     *   = 10.069.. -> 10.07; clients H1..H4, H5, H6, H7 = 7 (H8 was late);
     *   sessions 4 + 3 = 7; peak 5 (the late 100 is not there);
     *   traffic 1745000 + 3000000 = 4745000 B = 4.745 MB -> 4.75 */
    expect_speaker(__LINE__, l, DAY, D0, VA, 2, 10.97, 7, 4, 2, 49.10, 3, 1);
    expect_camera(__LINE__, l, DAY, D0, VA, 1, 7.99, 3, 1, 1, 66.67);
    expect_wifi(__LINE__, l, DAY, D0, VB, 2, 10.07, 7, 7, 5, 4.75);
    expect_camera(__LINE__, l, DAY, D0, VB, 1, 0, 0, 0, 0, -1);
    CHECK_INT(rows_in(l, DAY, D0), 7 + 5 + 5 + 4);

    /* A day's counts are the sum of its hours' counts. */
    static const char *const counts[] = {"broadcasts",
                                         "broadcasts_played",
                                         "broadcasts_failed",
                                         "emergency_broadcasts",
                                         "faults",
                                         "motion_events",
                                         "tamper_events",
                                         "video_loss_events",
                                         "sessions",
                                         NULL};
    for (size_t i = 0; i < l->n_rows; i++) {
        const struct ntm_indicator_row *d = &l->rows[i];
        if (d->period != DAY)
            continue;
        for (int c = 0; counts[c]; c++) {
            if (strcmp(d->name, counts[c]) != 0)
                continue;
            double sum = 0;
            for (size_t j = 0; j < l->n_rows; j++) {
                const struct ntm_indicator_row *h = &l->rows[j];
                if (h->period == HOUR && h->village == d->village && h->kind == d->kind &&
                    strcmp(h->name, d->name) == 0 && h->start >= d->start && h->end <= d->end)
                    sum += h->value;
            }
            CHECK(sum == d->value);
        }
    }
}

static void check_day_alerts(const struct sink_log *l)
{
    size_t i = 0;
    /* spk-1's last heartbeat 08:30 + 3 x 60 s: lapse at 08:33:00 (emitted at the
     * 08:35 record, the first whose ts reaches it) */
    expect_alert(__LINE__, l, i++, NTM_ALERT_OFFLINE, "spk-1", VA, SP, T(8, 33, 0), "");
    expect_alert(__LINE__, l, i++, NTM_ALERT_EMERGENCY_NOT_PLAYED, "spk-2", VA, SP, T(8, 40, 30),
                 "");
    expect_alert(__LINE__, l, i++, NTM_ALERT_ONLINE, "spk-1", VA, SP, T(8, 50, 0), "");
    expect_alert(__LINE__, l, i++, NTM_ALERT_OFFLINE, "spk-1", VA, SP, T(9, 12, 0), "");
    expect_alert(__LINE__, l, i++, NTM_ALERT_TAMPER, "cam-1", VA, CA, T(9, 15, 0), "");
    expect_alert(__LINE__, l, i++, NTM_ALERT_VIDEO_LOSS, "cam-1", VA, CA, T(9, 20, 0), "");
    expect_alert(__LINE__, l, i++, NTM_ALERT_STORAGE_ERROR, "cam-1", VA, CA, T(9, 25, 0), "");
    expect_alert(__LINE__, l, i++, NTM_ALERT_FAULT, "spk-2", VA, SP, T(9, 30, 0), "amplifier");
    /* ap-2: 09:30 + 3 x 600 s = 10:00:00, reached by the 10:00:00 records */
    expect_alert(__LINE__, l, i++, NTM_ALERT_OFFLINE, "ap-2", VB, WI, T(10, 0, 0), "");
    /* spk-1 back after its explicit offline */
    expect_alert(__LINE__, l, i++, NTM_ALERT_ONLINE, "spk-1", VA, SP, T(10, 0, 0), "");
    expect_alert(__LINE__, l, i++, NTM_ALERT_EMERGENCY_NOT_PLAYED, "spk-2", VA, SP, T(10, 20, 0),
                 "");
    /* cam-1: 09:25 + 3 x 1200 s = 10:25:00 */
    expect_alert(__LINE__, l, i++, NTM_ALERT_OFFLINE, "cam-1", VA, CA, T(10, 25, 0), "");
    /* after the last message, by ticks: 10:58 + 180 s, 10:50 + 1800 s, 10:55 + 1800 s */
    expect_alert(__LINE__, l, i++, NTM_ALERT_OFFLINE, "spk-1", VA, SP, T(11, 1, 0), "");
    expect_alert(__LINE__, l, i++, NTM_ALERT_OFFLINE, "ap-1", VB, WI, T(11, 20, 0), "");
    expect_alert(__LINE__, l, i++, NTM_ALERT_OFFLINE, "spk-2", VA, SP, T(11, 25, 0), "");
    /* no `online` at first sight, none from late records, nothing else */
    CHECK_INT(l->n_alerts, i);
}

/* From the first message to 09:03: hour 08 closing exactly at end + grace, late records. */
static void run_first_hour(struct ntm_agg *a, const struct script *s, struct sink_log *l,
                           size_t *next)
{
    /* Up to 09:01:30 (the in-grace record for hour 08 included): hour 08 still open. */
    feed_until(a, s, next, T(9, 2, 0));
    CHECK_INT(l->n_wins, 0);
    CHECK_INT(ntm_agg_watermark(a, MONO(*next - 1)), T(9, 1, 0));
    /* The 09:02:00 heartbeat brings the watermark to 09:00 + 120 s: hour 08 closes. */
    feed_until(a, s, next, T(9, 2, 1));
    CHECK_INT(l->n_wins, 1);
    CHECK(l->n_wins >= 1 && l->wins[0].period == HOUR && l->wins[0].start == T(8, 0, 0) &&
          l->wins[0].end == T(9, 0, 0));
    CHECK_INT(ntm_agg_late_total(a), 1); /* the 07:59:59 tamper */
    /* The two records of hour 08 arriving at 09:03 are late. */
    CHECK_INT(feed_until(a, s, next, T(9, 3, 1)), 2);
    CHECK_INT(ntm_agg_late_total(a), 3);
}

/* The rest of the day from item `next`, then ticks up to the close of the day. */
static void run_rest(struct ntm_agg *a, const struct script *s, struct sink_log *l, size_t next)
{
    feed_until(a, s, &next, INT64_MAX);
    CHECK_INT(ntm_agg_watermark(a, MONO(s->n - 1)), T(10, 58, 0));
    CHECK_INT(l->n_wins, 2); /* hours 08 and 09 */

    /* Watermark 10:58:00 + 239 s = 11:01:59 = end of hour 10 + grace - 1: still open. */
    ntm_agg_tick(a, AFTER_LAST(s, 239));
    CHECK_INT(ntm_agg_watermark(a, AFTER_LAST(s, 239)), T(11, 1, 59));
    CHECK_INT(l->n_wins, 2);
    CHECK_INT(ntm_agg_device_online(a, "spk-1", AFTER_LAST(s, 239)), 0); /* lapsed 11:01 */
    CHECK_INT(ntm_agg_device_online(a, "spk-2", AFTER_LAST(s, 239)), 1);
    /* + 1 s: 11:02:00 = end + grace: closed. */
    ntm_agg_tick(a, AFTER_LAST(s, 240));
    CHECK_INT(l->n_wins, 3);
    CHECK(l->wins[2].start == T(10, 0, 0));
    /* 24:01:59 = 10:58:00 + 47039 s: hours up to 22 closed, hour 23 and the day not. */
    ntm_agg_tick(a, AFTER_LAST(s, 47039));
    CHECK_INT(l->n_wins, 15);
    ntm_agg_tick(a, AFTER_LAST(s, 47040));
    CHECK_INT(l->n_wins, 17); /* hour 23, then the day */
    CHECK(l->wins[15].period == HOUR && l->wins[15].start == T(23, 0, 0));
    CHECK(l->wins[16].period == DAY && l->wins[16].start == D0 && l->wins[16].end == D0 + 86400);
    for (size_t w = 0; w + 1 < 16 && w + 1 < l->n_wins; w++)
        CHECK(l->wins[w + 1].start == l->wins[w].start + 3600);
    CHECK_INT(l->bad_order, 0);
    CHECK_INT(ntm_agg_late_total(a), 3);
    /* every window's rows emitted once: 21 + 20 x 15 + 21 */
    CHECK_INT(l->n_rows, 342);
    CHECK_INT(ntm_agg_device_online(a, "spk-1", AFTER_LAST(s, 47040)), 0);
    CHECK_INT(ntm_agg_device_online(a, "cam-2", AFTER_LAST(s, 47040)), 0);
    CHECK_INT(ntm_agg_device_online(a, "no-such", AFTER_LAST(s, 47040)), -1);
}

/* Runs the whole day on `a` from item `next`. */
static void run_day(struct ntm_agg *a, const struct script *s, struct sink_log *l, size_t next)
{
    if (next == 0)
        run_first_hour(a, s, l, &next);
    run_rest(a, s, l, next);
}

static bool same_rows(const struct sink_log *x, const struct sink_log *y)
{
    if (x->n_rows != y->n_rows)
        return false;
    for (size_t i = 0; i < x->n_rows; i++) {
        const struct ntm_indicator_row *p = &x->rows[i], *q = &y->rows[i];
        if (p->village != q->village || p->kind != q->kind || p->period != q->period ||
            p->start != q->start || p->end != q->end || strcmp(p->name, q->name) != 0 ||
            strcmp(p->unit, q->unit) != 0 || p->value != q->value || p->devices != q->devices)
            return false;
    }
    return true;
}

static bool same_alerts(const struct sink_log *x, const struct sink_log *y)
{
    if (x->n_alerts != y->n_alerts)
        return false;
    for (size_t i = 0; i < x->n_alerts; i++) {
        const struct got_alert *p = &x->alerts[i], *q = &y->alerts[i];
        if (p->ts != q->ts || p->type != q->type || p->village != q->village ||
            p->kind != q->kind || strcmp(p->device, q->device) != 0 ||
            strcmp(p->detail, q->detail) != 0)
            return false;
    }
    return true;
}

static bool same_blob(const void *x, size_t xn, const void *y, size_t yn)
{
    return xn == yn && memcmp(x, y, xn) == 0;
}

static void test_day(const struct ntm_config *cfg)
{
    struct script s = {0};
    build_day(&s);

    /* Uninterrupted run. */
    struct sink_log l1 = {0};
    struct ntm_agg_sink k1 = sink_of(&l1);
    struct ntm_agg *a = ntm_agg_new(cfg, &k1);
    CHECK(a != NULL);
    CHECK_INT(ntm_agg_watermark(a, MONO0), INT64_MIN);
    CHECK_INT(ntm_agg_device_online(a, "spk-1", MONO0), 0); /* declared, not yet seen */
    run_day(a, &s, &l1, 0);
    check_day_rows(&l1);
    check_day_alerts(&l1);
    ntm_agg_free(a);

    /* Killed mid-hour (09:40, hour 08 closed, hour 09 open), restarted from the
     * saved state into a new engine, the rest fed: the same rows and alerts. */
    struct sink_log l2 = {0};
    struct ntm_agg_sink k2 = sink_of(&l2);
    a = ntm_agg_new(cfg, &k2);
    size_t next = 0;
    feed_until(a, &s, &next, T(9, 40, 0));
    int64_t mono_save = MONO(next - 1);
    /* state at 09:39: spk-1 explicitly offline, spk-2 and cam-1 online, cam-2 never seen */
    CHECK_INT(ntm_agg_device_online(a, "spk-1", mono_save), 0);
    CHECK_INT(ntm_agg_device_online(a, "spk-2", mono_save), 1);
    CHECK_INT(ntm_agg_device_online(a, "cam-1", mono_save), 1);
    CHECK_INT(ntm_agg_device_online(a, "cam-2", mono_save), 0);
    void *blob = NULL;
    size_t len = 0;
    CHECK_INT(ntm_agg_save(a, &blob, &len), 0);
    int64_t wm_save = ntm_agg_watermark(a, mono_save);
    ntm_agg_free(a);

    a = ntm_agg_new(cfg, &k2);
    CHECK_INT(ntm_agg_load(a, blob, len, mono_save), 0);
    CHECK_INT(ntm_agg_watermark(a, mono_save), wm_save);
    CHECK_INT(ntm_agg_late_total(a), 3);
    CHECK_INT(ntm_agg_device_online(a, "spk-1", mono_save), 0);
    CHECK_INT(ntm_agg_device_online(a, "spk-2", mono_save), 1);
    /* save(load(x)) == x: nothing of the state is dropped or reordered */
    void *blob2 = NULL;
    size_t len2 = 0;
    CHECK_INT(ntm_agg_save(a, &blob2, &len2), 0);
    CHECK(same_blob(blob, len, blob2, len2));
    free(blob2);
    run_day(a, &s, &l2, next);
    CHECK(same_rows(&l1, &l2));
    CHECK(same_alerts(&l1, &l2));
    ntm_agg_free(a);

    free(blob);
    log_free(&l1);
    log_free(&l2);
    free(s.v);
}

/* ---- a device first seen in a message, a jump of the watermark ------------------ */

static void test_jump_and_new_device(const struct ntm_config *cfg)
{
    struct sink_log l = {0};
    struct ntm_agg_sink k = sink_of(&l);
    struct ntm_agg *a = ntm_agg_new(cfg, &k);
    struct script s = {0};
    hb(&s, "ap-1", VB, WI, T(8, 0, 0), 60);   /* online [08:00, 08:03) */
    hb(&s, "spk-x", VB, SP, T(8, 10, 0), 60); /* undeclared: online [08:10, 08:13) */
    hb(&s, "ap-1", VB, WI, T(13, 30, 0), 60); /* 5.5 hours later */
    CHECK(!ntm_agg_add(a, &s.v[0].rec, 1000));
    CHECK(!ntm_agg_add(a, &s.v[1].rec, 1001));
    CHECK_INT(l.n_wins, 0);
    /* No `online` at the first sight of either; the 08:10 record brought the
     * watermark past ap-1's lapse (08:00 + 180 s = 08:03). */
    CHECK_INT(l.n_alerts, 1);
    CHECK(!ntm_agg_add(a, &s.v[2].rec, 1002));
    /* The watermark jumped to 13:30: hours 08..12 closed (12:00 + 3600 + 120 <= 13:30),
     * each with rows, the four quiet ones included; hour 13 and the day are open. */
    CHECK_INT(l.n_wins, 5);
    for (size_t w = 0; w < l.n_wins; w++)
        CHECK(l.wins[w].period == HOUR && l.wins[w].start == T(8 + (int)w, 0, 0));
    /* thon-b now has speakers: spk-x, 1 device; hour 08: 180 / 3600 = 5.00.
     * wifi: ap-1 180 s, ap-2 never seen: 180 / 7200 = 2.50.
     * thon-a: declared speakers and camera never seen: 0, with rows. */
    expect_speaker(__LINE__, &l, HOUR, T(8, 0, 0), VB, 1, 5.00, 0, 0, 0, 0, 0, 0);
    expect_wifi(__LINE__, &l, HOUR, T(8, 0, 0), VB, 2, 2.50, 0, 0, 0, 0);
    expect_speaker(__LINE__, &l, HOUR, T(8, 0, 0), VA, 2, 0, 0, 0, 0, 0, 0, 0);
    expect_camera(__LINE__, &l, HOUR, T(8, 0, 0), VA, 1, 0, 0, 0, 0, -1);
    for (int h = 9; h <= 12; h++) {
        CHECK_INT(rows_in(&l, HOUR, T(h, 0, 0)), 7 + 4 + 7 + 5 + 4);
        expect_wifi(__LINE__, &l, HOUR, T(h, 0, 0), VB, 2, 0, 0, 0, 0, 0);
    }
    /* ap-1's lapse, spk-x's (found by the jump), then ap-1's return */
    expect_alert(__LINE__, &l, 0, NTM_ALERT_OFFLINE, "ap-1", VB, WI, T(8, 3, 0), "");
    expect_alert(__LINE__, &l, 1, NTM_ALERT_OFFLINE, "spk-x", VB, SP, T(8, 13, 0), "");
    expect_alert(__LINE__, &l, 2, NTM_ALERT_ONLINE, "ap-1", VB, WI, T(13, 30, 0), "");
    CHECK_INT(l.n_alerts, 3);
    CHECK_INT(ntm_agg_device_online(a, "spk-x", 1002), 0);
    CHECK_INT(ntm_agg_device_online(a, "ap-1", 1002), 1);
    /* a record of hour 12, now closed: late, not a sign of life, no alert */
    hb(&s, "spk-x", VB, SP, T(12, 59, 0), 60);
    CHECK(ntm_agg_add(a, &s.v[3].rec, 1003));
    CHECK_INT(ntm_agg_late_total(a), 1);
    CHECK_INT(ntm_agg_device_online(a, "spk-x", 1003), 0);
    CHECK_INT(l.n_alerts, 3);
    /* a stale sign of life (hour 13 is open, but [13:00, 13:03) ended before the
     * watermark 13:30): counted, no `online` alert, the device stays offline */
    hb(&s, "spk-x", VB, SP, T(13, 0, 0), 60);
    CHECK(!ntm_agg_add(a, &s.v[4].rec, 1004));
    CHECK_INT(l.n_alerts, 3);
    CHECK_INT(ntm_agg_device_online(a, "spk-x", 1004), 0);

    /* ntm_agg_add_device: idempotent; conflicting or invalid ones refused. */
    CHECK_INT(ntm_agg_add_device(a, "spk-x", VB, SP), 0);
    CHECK_INT(ntm_agg_add_device(a, "spk-x", VA, SP), -1);
    CHECK_INT(ntm_agg_add_device(a, "spk-y", 7, SP), -1);
    CHECK_INT(ntm_agg_add_device(a, "bad id", VA, SP), -1);
    CHECK_INT(ntm_agg_add_device(a, "cam-9", VA, CA), 0); /* a second camera in thon-a */

    /* save and restore into an engine that already knows another device */
    void *blob = NULL;
    size_t len = 0;
    CHECK_INT(ntm_agg_save(a, &blob, &len), 0);
    struct sink_log l2 = {0};
    struct ntm_agg_sink k2 = sink_of(&l2);
    struct ntm_agg *b = ntm_agg_new(cfg, &k2);
    CHECK_INT(ntm_agg_add_device(b, "spk-z", VA, SP), 0);
    CHECK_INT(ntm_agg_load(b, blob, len, 2000), 0);
    CHECK_INT(ntm_agg_watermark(b, 2000), T(13, 30, 0));
    CHECK_INT(ntm_agg_late_total(b), 1);
    CHECK_INT(ntm_agg_device_online(b, "spk-z", 2000), 0); /* kept */
    CHECK_INT(ntm_agg_device_online(b, "cam-9", 2000), 0);
    CHECK_INT(ntm_agg_device_online(b, "ap-1", 2000), 1);
    /* hour 13 closes at 14:02:00 = 13:30:00 + 1920 s */
    ntm_agg_tick(b, 2000 + 1919 * 1000);
    CHECK_INT(l2.n_wins, 0);
    ntm_agg_tick(b, 2000 + 1920 * 1000);
    CHECK_INT(l2.n_wins, 1);
    /* ap-1 [13:30, 13:33) = 180 s: 180 / 7200 = 2.50; thon-a has 3 speakers now
     * (spk-1, spk-2, spk-z) and 2 cameras (cam-1, cam-9), all at 0 */
    expect_wifi(__LINE__, &l2, HOUR, T(13, 0, 0), VB, 2, 2.50, 0, 0, 0, 0);
    /* spk-x [13:00, 13:03) = 180 / 3600 = 5.00 */
    expect_speaker(__LINE__, &l2, HOUR, T(13, 0, 0), VB, 1, 5.00, 0, 0, 0, 0, 0, 0);
    expect_speaker(__LINE__, &l2, HOUR, T(13, 0, 0), VA, 3, 0, 0, 0, 0, 0, 0, 0);
    expect_camera(__LINE__, &l2, HOUR, T(13, 0, 0), VA, 2, 0, 0, 0, 0, -1);
    expect_alert(__LINE__, &l2, 0, NTM_ALERT_OFFLINE, "ap-1", VB, WI, T(13, 33, 0), "");
    CHECK_INT(l2.n_alerts, 1);

    /* a state saved before any record */
    struct ntm_agg *c = ntm_agg_new(cfg, NULL);
    void *b0 = NULL;
    size_t n0 = 0;
    CHECK_INT(ntm_agg_save(c, &b0, &n0), 0);
    CHECK_INT(ntm_agg_load(c, b0, n0, 0), 0);
    CHECK_INT(ntm_agg_watermark(c, 0), INT64_MIN);
    free(b0);
    ntm_agg_free(c);
    ntm_agg_free(NULL);

    free(blob);
    ntm_agg_free(a);
    ntm_agg_free(b);
    log_free(&l);
    log_free(&l2);
    free(s.v);
}

/* ---- rounding and explicit offline edge cases -------------------------------- */

static void test_edges(const struct ntm_config *cfg)
{
    struct sink_log l = {0};
    struct ntm_agg_sink k = sink_of(&l);
    struct ntm_agg *a = ntm_agg_new(cfg, &k);
    struct script s = {0};
    /* spk-1: its first record ever is an explicit offline: no alert (it was not
     * known to be online); its first sign of life at 08:20 raises no `online`. */
    state(&s, "spk-1", VA, SP, T(8, 0, 0), false);
    hb(&s, "spk-1", VA, SP, T(8, 20, 0), 60); /* online [08:20, 08:23) */
    /* out of order (before the current interval start 08:20): no effect */
    hb(&s, "spk-1", VA, SP, T(8, 10, 0), 60);
    /* explicit offline while online, then another: one alert */
    state(&s, "spk-1", VA, SP, T(8, 21, 0), false); /* online [08:20, 08:21) = 60 s */
    state(&s, "spk-1", VA, SP, T(8, 22, 0), false);
    /* a sign of life from before the offline (out of order) does not bring it back */
    hb(&s, "spk-1", VA, SP, T(8, 20, 30), 60);
    /* state online=true is a sign of life: back at 08:40 (interval still 60 s) */
    state(&s, "spk-1", VA, SP, T(8, 40, 0), true);
    /* broadcasts (signs of life, up to 08:46): 0.3 s interrupted + 0.6 s played =
     * 0.9 s = 0.015 min -> 0.02 (half away from zero); a failed one's 600 s do not count */
    broadcast(&s, "spk-1", VA, T(8, 41, 0), 0.3, NTM_RESULT_INTERRUPTED, NTM_PRIO_NORMAL);
    broadcast(&s, "spk-1", VA, T(8, 42, 0), 0.6, NTM_RESULT_PLAYED, NTM_PRIO_PRIORITY);
    broadcast(&s, "spk-1", VA, T(8, 43, 0), 600, NTM_RESULT_FAILED, NTM_PRIO_NORMAL);
    /* a heartbeat with interval 300 s: online until 08:44 + 900 s = 08:59 */
    hb(&s, "spk-1", VA, SP, T(8, 44, 0), 300);
    /* ap-1 first seen at 08:50 (a stats report): online [08:50, 08:53);
     * traffic 5000 B = 0.005 MB -> 0.01 */
    const uint64_t none[1] = {0};
    wifi_stats(&s, "ap-1", VB, T(8, 50, 0), 0, 0, 2500, 2500, none, 0);
    /* 09:02: lapses of ap-1 (08:53) and spk-1 (08:59), ap-1 back, hour 08 closes */
    hb(&s, "ap-1", VB, WI, T(9, 2, 0), 60);
    for (size_t i = 0; i < s.n; i++)
        CHECK(!ntm_agg_add(a, &s.v[i].rec, (int64_t)i));
    expect_alert(__LINE__, &l, 0, NTM_ALERT_OFFLINE, "spk-1", VA, SP, T(8, 21, 0), "");
    expect_alert(__LINE__, &l, 1, NTM_ALERT_ONLINE, "spk-1", VA, SP, T(8, 40, 0), "");
    expect_alert(__LINE__, &l, 2, NTM_ALERT_OFFLINE, "ap-1", VB, WI, T(8, 53, 0), "");
    expect_alert(__LINE__, &l, 3, NTM_ALERT_OFFLINE, "spk-1", VA, SP, T(8, 59, 0), "");
    expect_alert(__LINE__, &l, 4, NTM_ALERT_ONLINE, "ap-1", VB, WI, T(9, 2, 0), "");
    CHECK_INT(l.n_alerts, 5);
    CHECK_INT(l.n_wins, 1);
    /* speakers: spk-1 [08:20, 08:21) 60 s + [08:40, 08:59) 1140 s = 1200 s, spk-2 0:
     * 1200 / 7200 = 16.666.. -> 16.67; broadcasts 3, played 1, failed 1, 0.02 min */
    expect_speaker(__LINE__, &l, HOUR, T(8, 0, 0), VA, 2, 16.67, 3, 1, 1, 0.02, 0, 0);
    /* wifi: 180 / 7200 = 2.50; no clients; traffic 0.01 */
    expect_wifi(__LINE__, &l, HOUR, T(8, 0, 0), VB, 2, 2.50, 0, 0, 0, 0.01);
    ntm_agg_free(a);
    log_free(&l);
    free(s.v);

    /* grace 0: a window closes as soon as the watermark reaches its end */
    static const char *const g0 = "gateway:\n  id: gw-test\ncommune:\n  code: \"16279\"\n"
                                  "  province_code: \"38\"\nvillages:\n  - id: v1\n"
                                  "sync:\n  grace_s: 0\n";
    char err[512];
    struct ntm_config *c0 = ntm_config_parse("g0.yaml", g0, strlen(g0), err, sizeof err);
    CHECK(c0 != NULL);
    if (c0 != NULL) {
        struct sink_log m = {0};
        struct ntm_agg_sink mk = sink_of(&m);
        struct ntm_agg *z = ntm_agg_new(c0, &mk);
        struct script t = {0};
        hb(&t, "cam-7", 0, CA, T(8, 59, 59), 60);
        CHECK(!ntm_agg_add(z, &t.v[0].rec, 0));
        ntm_agg_tick(z, 0);
        CHECK_INT(m.n_wins, 0);
        ntm_agg_tick(z, 1000); /* 09:00:00 */
        CHECK_INT(m.n_wins, 1);
        /* [08:59:59, 09:00:00) = 1 s: 1 / 3600 = 0.0277.. -> 0.03 */
        expect_camera(__LINE__, &m, HOUR, T(8, 0, 0), 0, 1, 0.03, 0, 0, 0, -1);
        /* the mono clock going backwards never moves the watermark below max ts */
        CHECK_INT(ntm_agg_watermark(z, -5000), T(8, 59, 59));
        ntm_agg_free(z);
        log_free(&m);
        free(t.v);
    }
    ntm_config_free(c0);
}

int main(void)
{
    struct ntm_config *cfg = agg_config();
    CHECK_INT(strcmp(ntm_alert_type_name(NTM_ALERT_EMERGENCY_NOT_PLAYED), "emergency_not_played"),
              0);
    CHECK_INT(strcmp(ntm_alert_type_name(NTM_ALERT_ONLINE), "online"), 0);
    test_day(cfg);
    test_jump_and_new_device(cfg);
    test_edges(cfg);
    ntm_config_free(cfg);
    printf("aggregate: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
