/* SPDX-License-Identifier: GPL-3.0-or-later */
/* agg_windows.c: the aggregation engine's open windows: what one record adds to
 * its hour (counts, client hashes, event alerts), closing hours and the day in
 * order as the watermark passes them, and the indicator rows of a closed window.
 * Availability itself is agg_devices.c's; nothing here saves or loads state. */
#include <math.h>
#include <string.h>

#include "agg_impl.h"

/*
 * Hours close strictly in order, and a record is late exactly when its ts is
 * before the start of the oldest open hour (h_lo). Open hours live in a ring of
 * accumulators (one per village x kind); with grace_s <= 86400 at most
 * grace_s/3600 + 2 hours are open at once. The day is never folded into
 * directly: when an hour closes its accumulators are merged into the one open
 * day (counts summed, peak maxed, client hash sets united, online seconds
 * summed), so a day's values are those of its hours by construction. Since the
 * day closes right after (or with) its last hour, only one day is ever open.
 */

static uint64_t sat_add(uint64_t x, uint64_t y)
{
    return x > UINT64_MAX - y ? UINT64_MAX : x + y;
}

/* ---- accumulators ---- */

void ntm_agg_acc_clear(struct ntm_agg_acc *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ntm_client_set_free(&w[i].macs);
        memset(&w[i], 0, sizeof w[i]);
    }
}

bool ntm_agg_acc_empty(const struct ntm_agg_acc *w)
{
    return w->online_s == 0 && w->bcast_ms == 0 && w->n_bcast == 0 && w->n_played == 0 &&
           w->n_failed == 0 && w->n_emerg == 0 && w->n_fault == 0 && w->n_motion == 0 &&
           w->n_tamper == 0 && w->n_vloss == 0 && w->n_stats == 0 && w->n_rec == 0 &&
           w->sessions == 0 && w->peak == 0 && w->traffic == 0 &&
           ntm_client_set_count(&w->macs) == 0;
}

static void acc_merge(struct ntm_agg_acc *to, const struct ntm_agg_acc *from)
{
    to->online_s += from->online_s;
    to->bcast_ms += from->bcast_ms;
    to->n_bcast += from->n_bcast;
    to->n_played += from->n_played;
    to->n_failed += from->n_failed;
    to->n_emerg += from->n_emerg;
    to->n_fault += from->n_fault;
    to->n_motion += from->n_motion;
    to->n_tamper += from->n_tamper;
    to->n_vloss += from->n_vloss;
    to->n_stats += from->n_stats;
    to->n_rec += from->n_rec;
    to->sessions = sat_add(to->sessions, from->sessions);
    if (from->peak > to->peak)
        to->peak = from->peak;
    to->traffic = sat_add(to->traffic, from->traffic);
    (void)ntm_client_set_union(&to->macs, &from->macs); /* out of memory: some not counted */
}

/* ---- one record ---- */

static void fold_speaker_event(struct ntm_agg *a, const struct ntm_record *rec,
                               const struct ntm_agg_dev *d, struct ntm_agg_acc *w)
{
    if (rec->event == NTM_EV_BROADCAST) {
        double dur = rec->u.broadcast.duration_s;
        int64_t ms = dur >= 0 ? (dur < 1e12 ? llround(dur * 1000.0) : (int64_t)1e15) : 0;
        w->n_bcast++;
        if (rec->u.broadcast.result == NTM_RESULT_PLAYED)
            w->n_played++;
        if (rec->u.broadcast.result == NTM_RESULT_FAILED)
            w->n_failed++;
        if (rec->u.broadcast.result == NTM_RESULT_PLAYED ||
            rec->u.broadcast.result == NTM_RESULT_INTERRUPTED)
            w->bcast_ms += ms;
        if (rec->u.broadcast.priority == NTM_PRIO_EMERGENCY) {
            w->n_emerg++;
            if (rec->u.broadcast.result != NTM_RESULT_PLAYED && d != NULL)
                ntm_agg_emit_alert(a, d, rec->ts, NTM_ALERT_EMERGENCY_NOT_PLAYED, NULL);
        }
    } else if (rec->event == NTM_EV_FAULT) {
        w->n_fault++;
        if (d != NULL)
            ntm_agg_emit_alert(a, d, rec->ts, NTM_ALERT_FAULT,
                               ntm_fault_name((enum ntm_fault)rec->u.fault.fault));
    }
}

static void fold_camera_event(struct ntm_agg *a, const struct ntm_record *rec,
                              const struct ntm_agg_dev *d, struct ntm_agg_acc *w)
{
    int t = -1;
    switch (rec->event) {
    case NTM_EV_MOTION:
        w->n_motion++;
        break;
    case NTM_EV_TAMPER:
        w->n_tamper++;
        t = NTM_ALERT_TAMPER;
        break;
    case NTM_EV_VIDEO_LOSS:
        w->n_vloss++;
        t = NTM_ALERT_VIDEO_LOSS;
        break;
    case NTM_EV_STORAGE_ERROR:
        t = NTM_ALERT_STORAGE_ERROR;
        break;
    default:
        break;
    }
    if (t >= 0 && d != NULL)
        ntm_agg_emit_alert(a, d, rec->ts, (enum ntm_alert_type)t, NULL);
}

static void fold_wifi_stats(const struct ntm_record *rec, struct ntm_agg_acc *w)
{
    int64_t c = rec->u.wifi.clients, s = rec->u.wifi.new_sessions;
    int64_t rx = rec->u.wifi.rx_bytes, tx = rec->u.wifi.tx_bytes;
    w->sessions = sat_add(w->sessions, s > 0 ? (uint64_t)s : 0);
    if (c > 0 && (uint64_t)c > w->peak)
        w->peak = (uint64_t)c;
    w->traffic = sat_add(w->traffic, rx > 0 ? (uint64_t)rx : 0);
    w->traffic = sat_add(w->traffic, tx > 0 ? (uint64_t)tx : 0);
    uint32_t n = rec->u.wifi.n_macs < NTM_MACS_MAX ? rec->u.wifi.n_macs : NTM_MACS_MAX;
    for (uint32_t i = 0; i < n; i++)
        (void)ntm_client_set_add(&w->macs,
                                 rec->u.wifi.mac_hash[i]); /* out of memory: not counted */
}

void ntm_agg_fold(struct ntm_agg *a, const struct ntm_record *rec, int64_t wm)
{
    int64_t ts = rec->ts;
    size_t ai = (size_t)rec->village * NTM_KIND_COUNT + rec->kind;
    if (ts / NTM_AGG_HOUR_S - a->h_lo >= (int64_t)a->cap_h)
        return; /* cannot happen: advance() keeps the hour of max_ts in the ring */
    struct ntm_agg_dev *d;
    if (!ntm_agg_dev_record(a, rec, wm, &d))
        return; /* known under another village or kind: not this engine's to fold */
    struct ntm_agg_acc *w = &ntm_agg_hour_accs(a, ts / NTM_AGG_HOUR_S)[ai];
    /* Alerts name the device; without memory for it (d == NULL) they are skipped. */
    if (rec->channel == NTM_CH_EVENT && rec->kind == NTM_KIND_SPEAKER) {
        fold_speaker_event(a, rec, d, w);
    } else if (rec->channel == NTM_CH_EVENT && rec->kind == NTM_KIND_CAMERA) {
        fold_camera_event(a, rec, d, w);
    } else if (rec->channel == NTM_CH_STATS && rec->kind == NTM_KIND_CAMERA) {
        w->n_stats++;
        if (rec->u.camera_stats.recording)
            w->n_rec++;
    } else if (rec->channel == NTM_CH_STATS && rec->kind == NTM_KIND_WIFI) {
        fold_wifi_stats(rec, w);
    }
}

/* ---- rows ---- */

/* num/den rounded half away from zero to 2 decimals (num, den >= 0, den > 0). */
static double q2(uint64_t num, uint64_t den)
{
    if (num > (UINT64_MAX - den) / 200)
        return round((double)num / (double)den * 100.0) / 100.0;
    /* integer division on purpose: exact rounding half away from zero */
    return (double)((200 * num + den) / (2 * den)) / 100.0; // NOLINT(bugprone-integer-division)
}

struct row_out {
    struct ntm_agg *a;
    struct ntm_indicator_row r;
};

static void put(struct row_out *o, const char *name, const char *unit, double value)
{
    o->r.name = name;
    o->r.unit = unit;
    o->r.value = value;
    if (o->a->sink.row != NULL)
        o->a->sink.row(o->a->sink.arg, &o->r);
}

/* The rows of one village and kind (n devices) of a window of len seconds. */
static void put_rows(struct row_out *o, int k, uint32_t n, uint64_t len,
                     const struct ntm_agg_acc *w)
{
    uint64_t online = w->online_s > 0 ? (uint64_t)w->online_s : 0;
    if (online > n * len)
        online = n * len;
    put(o, "uptime_pct", "%", q2(online * 100, n * len));
    switch (k) {
    case NTM_KIND_SPEAKER:
        put(o, "broadcasts", "count", (double)w->n_bcast);
        put(o, "broadcasts_played", "count", (double)w->n_played);
        put(o, "broadcasts_failed", "count", (double)w->n_failed);
        put(o, "broadcast_minutes", "min", q2((uint64_t)w->bcast_ms, 60000));
        put(o, "emergency_broadcasts", "count", (double)w->n_emerg);
        put(o, "faults", "count", (double)w->n_fault);
        break;
    case NTM_KIND_CAMERA:
        put(o, "motion_events", "count", (double)w->n_motion);
        put(o, "tamper_events", "count", (double)w->n_tamper);
        put(o, "video_loss_events", "count", (double)w->n_vloss);
        if (w->n_stats > 0)
            put(o, "recording_pct", "%", q2(w->n_rec * 100, w->n_stats));
        break;
    default:
        put(o, "unique_clients", "count", (double)ntm_client_set_count(&w->macs));
        put(o, "sessions", "count", (double)w->sessions);
        put(o, "peak_clients", "count", (double)w->peak);
        put(o, "traffic_mb", "MB", q2(w->traffic, 1000000));
        break;
    }
}

static bool accs_quiet(const struct ntm_agg *a, const struct ntm_agg_acc *accs)
{
    for (size_t i = 0; i < a->nacc; i++) {
        const struct ntm_agg_acc *w = &accs[i];
        if (w->online_s != 0 || w->bcast_ms != 0 || w->n_bcast || w->n_played || w->n_failed ||
            w->n_emerg || w->n_fault || w->n_motion || w->n_tamper || w->n_vloss || w->n_stats ||
            w->n_rec || w->sessions || w->peak || w->traffic || ntm_client_set_count(&w->macs))
            return false;
    }
    return true;
}

/* wm: the watermark that closes the window; a quiet window ending more than
 * NTM_AGG_QUIET_BACK_S before it is closed without rows. */
static void emit_window(struct ntm_agg *a, enum ntm_period p, int64_t start, int64_t end,
                        const struct ntm_agg_acc *accs, int64_t wm)
{
    if (end + NTM_AGG_QUIET_BACK_S < wm && accs_quiet(a, accs)) {
        a->quiet_skipped++;
        if (a->sink.window_closed != NULL)
            a->sink.window_closed(a->sink.arg, p, start, end);
        return;
    }
    struct row_out o = {.a = a};
    o.r.period = (uint8_t)p;
    o.r.start = start;
    o.r.end = end;
    for (size_t v = 0; v < a->nv; v++) {
        for (int k = 0; k < NTM_KIND_COUNT; k++) {
            size_t ai = v * NTM_KIND_COUNT + (size_t)k;
            uint32_t n = a->ndev[ai];
            if (n == 0)
                continue;
            o.r.village = (uint16_t)v;
            o.r.kind = (uint8_t)k;
            o.r.devices = n;
            put_rows(&o, k, n, (uint64_t)(end - start), &accs[ai]);
        }
    }
    if (a->sink.window_closed != NULL)
        a->sink.window_closed(a->sink.arg, p, start, end);
}

/* ---- closing ---- */

static void close_hour(struct ntm_agg *a, int64_t wm)
{
    int64_t start = a->h_lo * NTM_AGG_HOUR_S, end = start + NTM_AGG_HOUR_S;
    for (size_t i = 0; i < a->n_devs; i++)
        ntm_agg_credit(a, &a->devs[i], end);
    struct ntm_agg_acc *w = ntm_agg_hour_accs(a, a->h_lo);
    emit_window(a, NTM_PERIOD_HOUR, start, end, w, wm);
    for (size_t i = 0; i < a->nacc; i++)
        acc_merge(&a->day[i], &w[i]);
    ntm_agg_acc_clear(w, a->nacc);
    a->h_lo++;
}

static void close_day(struct ntm_agg *a, int64_t wm)
{
    emit_window(a, NTM_PERIOD_DAY, ntm_agg_day_start(a->d_lo), ntm_agg_day_start(a->d_lo + 1),
                a->day, wm);
    ntm_agg_acc_clear(a->day, a->nacc);
    a->d_lo++;
}

void ntm_agg_advance(struct ntm_agg *a, int64_t wm)
{
    if (!a->started)
        return;
    if (wm >= a->next_lapse)
        ntm_agg_scan_lapses(a, wm);
    for (;;) {
        int64_t hend = (a->h_lo + 1) * NTM_AGG_HOUR_S, dend = ntm_agg_day_start(a->d_lo + 1);
        if (hend <= dend) {
            if (hend + a->grace_s > wm)
                break;
            close_hour(a, wm);
        } else {
            if (dend + a->grace_s > wm)
                break;
            close_day(a, wm);
        }
    }
}
