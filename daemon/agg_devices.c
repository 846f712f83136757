/* SPDX-License-Identifier: GPL-3.0-or-later */
/* agg_devices.c: the aggregation engine's devices: the table of known devices
 * (by id), their availability (online segments credited to the open hours) and
 * the `online`/`offline` alerts. It does not close windows nor form rows
 * (agg_windows.c), and is called only from the engine's own files. */
#include <stdlib.h>
#include <string.h>

#include "agg_impl.h"
#include "hash.h"

/*
 * Availability: each device has one current online segment [seg_start,
 * seg_end), extended by signs of life and cut by an explicit offline, and a
 * `credited` mark: its online time before `credited` has been added to the
 * hour accumulators. Credit is lazy: when an hour closes, every device is
 * credited up to the hour's end (from then on no non-late record can change
 * that past), and when a new segment starts after a gap, the old one is
 * credited in full. No time is ever credited twice, and time is split at hour
 * boundaries.
 *
 * Out-of-order records: a sign of life earlier than the device's current
 * segment start, or than its last explicit offline (`floor_ts`), is counted in
 * its window like any other record but does not change availability nor the
 * online/offline alert state. Likewise an explicit offline earlier than
 * floor_ts is ignored.
 *
 * Alert state per device: never seen, online, offline. First sign of life:
 * online, no alert. online -> offline on an explicit offline (alert at its ts)
 * or when the watermark reaches seg_end (alert at seg_end). offline -> online
 * (alert at the record's ts) on a sign of life that leaves the device online
 * at the watermark (a stale sign of life, whose segment already lapsed, does
 * not). A device whose first record is an explicit offline stays "never seen"
 * for alerts, so its first sign of life raises no `online` alert.
 */

/* ---- the table ---- */

struct ntm_agg_dev *ntm_agg_dev_find(const struct ntm_agg *a, const char *id)
{
    if (a->idx_cap == 0)
        return NULL;
    size_t mask = a->idx_cap - 1, j = ntm_hash_str(id) & mask;
    for (; a->idx[j] != 0; j = (j + 1) & mask) {
        struct ntm_agg_dev *d = &a->devs[a->idx[j] - 1];
        if (strcmp(d->id, id) == 0)
            return d;
    }
    return NULL;
}

/* Puts every device of the table in the empty index idx of cap slots. */
static void idx_fill(const struct ntm_agg *a, uint32_t *idx, size_t cap)
{
    for (size_t i = 0; i < a->n_devs; i++) {
        size_t j = ntm_hash_str(a->devs[i].id) & (cap - 1);
        while (idx[j] != 0)
            j = (j + 1) & (cap - 1);
        idx[j] = (uint32_t)(i + 1);
    }
}

static bool idx_rebuild(struct ntm_agg *a, size_t cap)
{
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (idx == NULL)
        return false;
    idx_fill(a, idx, cap);
    free(a->idx);
    a->idx = idx;
    a->idx_cap = cap;
    return true;
}

struct ntm_agg_dev *ntm_agg_dev_get(struct ntm_agg *a, const char *id, uint16_t village,
                                    uint8_t kind)
{
    struct ntm_agg_dev *d = ntm_agg_dev_find(a, id);
    if (d != NULL)
        return d->village == village && d->kind == kind ? d : NULL;
    if (a->n_devs >= UINT32_MAX - 1)
        return NULL;
    if (a->n_devs == a->cap_devs) {
        size_t cap = a->cap_devs ? a->cap_devs * 2 : 16;
        struct ntm_agg_dev *devs = realloc(a->devs, cap * sizeof *devs);
        if (devs == NULL)
            return NULL;
        a->devs = devs;
        a->cap_devs = cap;
    }
    if ((a->n_devs + 1) * 2 > a->idx_cap && !idx_rebuild(a, a->idx_cap ? a->idx_cap * 2 : 32))
        return NULL;
    d = &a->devs[a->n_devs++];
    memset(d, 0, sizeof *d);
    strcpy(d->id, id);
    d->village = village;
    d->kind = kind;
    d->st = NTM_AGG_NEVER_SEEN;
    d->interval_s = NTM_HEARTBEAT_INTERVAL_DEFAULT_S;
    size_t mask = a->idx_cap - 1, j = ntm_hash_str(id) & mask;
    while (a->idx[j] != 0)
        j = (j + 1) & mask;
    a->idx[j] = (uint32_t)a->n_devs;
    a->ndev[(size_t)village * NTM_KIND_COUNT + kind]++;
    return d;
}

int ntm_agg_add_device(struct ntm_agg *a, const char *device, uint16_t village, uint8_t kind)
{
    if (a == NULL || device == NULL || village >= a->nv || kind >= NTM_KIND_COUNT ||
        !ntm_valid_device_id(device, strnlen(device, NTM_DEVICE_ID_MAX + 1)))
        return -1;
    return ntm_agg_dev_get(a, device, village, kind) != NULL ? 0 : -1;
}

void ntm_agg_emit_alert(struct ntm_agg *a, const struct ntm_agg_dev *d, int64_t ts,
                        enum ntm_alert_type t, const char *detail)
{
    if (a->sink.alert == NULL)
        return;
    struct ntm_alert al = {.ts = ts,
                           .village = d->village,
                           .kind = d->kind,
                           .type = (uint8_t)t,
                           .device = d->id,
                           .detail = detail};
    a->sink.alert(a->sink.arg, &al);
}

/* ---- availability ---- */

/* Adds the online seconds of [lo, hi) to the open hours holding them. */
static void distribute(struct ntm_agg *a, size_t ai, int64_t lo, int64_t hi)
{
    lo = ntm_agg_max64(lo, a->h_lo * NTM_AGG_HOUR_S);
    hi = ntm_agg_min64(hi, (a->h_lo + (int64_t)a->cap_h) * NTM_AGG_HOUR_S);
    while (lo < hi) {
        int64_t h = lo / NTM_AGG_HOUR_S, e = ntm_agg_min64(hi, (h + 1) * NTM_AGG_HOUR_S);
        ntm_agg_hour_accs(a, h)[ai].online_s += e - lo;
        lo = e;
    }
}

/* Adds [lo, hi) to the device's own count of online seconds today. */
static void credit_day(struct ntm_agg_dev *d, int64_t lo, int64_t hi)
{
    while (lo < hi) {
        int64_t day = ntm_local_day(lo), e = ntm_agg_min64(hi, ntm_agg_day_start(day + 1));
        if (day > d->today) {
            d->today = day;
            d->day_online_s = 0;
        }
        if (day == d->today)
            d->day_online_s += e - lo;
        lo = e;
    }
}

void ntm_agg_credit(struct ntm_agg *a, struct ntm_agg_dev *d, int64_t upto)
{
    if (d->has_seg) {
        int64_t lo = ntm_agg_max64(d->credited, d->seg_start), hi = ntm_agg_min64(upto, d->seg_end);
        if (lo < hi) {
            distribute(a, (size_t)d->village * NTM_KIND_COUNT + d->kind, lo, hi);
            credit_day(d, lo, hi);
        }
    }
    if (upto > d->credited)
        d->credited = upto;
}

void ntm_agg_scan_lapses(struct ntm_agg *a, int64_t wm)
{
    for (;;) {
        struct ntm_agg_dev *first = NULL;
        for (size_t i = 0; i < a->n_devs; i++) {
            struct ntm_agg_dev *d = &a->devs[i];
            if (d->st == NTM_AGG_ONLINE && (first == NULL || d->seg_end < first->seg_end))
                first = d;
        }
        if (first == NULL || first->seg_end > wm) {
            a->next_lapse = first ? first->seg_end : INT64_MAX;
            return;
        }
        first->st = NTM_AGG_OFFLINE;
        ntm_agg_emit_alert(a, first, first->seg_end, NTM_ALERT_OFFLINE, NULL);
    }
}

static void sign_of_life(struct ntm_agg *a, struct ntm_agg_dev *d, int64_t t, int32_t interval_s,
                         int64_t wm)
{
    if (t < d->floor_ts)
        return; /* out of order: counted in its window, no effect on availability */
    if (interval_s >= 1 && interval_s <= NTM_HEARTBEAT_INTERVAL_MAX_S)
        d->interval_s = interval_s;
    int64_t until = t + NTM_AGG_LAPSE_INTERVALS * (int64_t)d->interval_s;
    if (d->has_seg && t <= d->seg_end) {
        if (until > d->seg_end)
            d->seg_end = until;
    } else {
        if (d->has_seg)
            ntm_agg_credit(a, d, t); /* the old segment, in full */
        d->has_seg = true;
        d->seg_start = t;
        d->seg_end = until;
        d->floor_ts = t;
        if (t > d->credited)
            d->credited = t;
    }
    if (d->st == NTM_AGG_NEVER_SEEN) {
        d->st = NTM_AGG_ONLINE;
    } else if (d->st == NTM_AGG_OFFLINE && d->seg_end > wm) {
        d->st = NTM_AGG_ONLINE;
        ntm_agg_emit_alert(a, d, t, NTM_ALERT_ONLINE, NULL);
    }
    if (d->st == NTM_AGG_ONLINE && d->seg_end < a->next_lapse)
        a->next_lapse = d->seg_end;
}

static void explicit_offline(struct ntm_agg *a, struct ntm_agg_dev *d, int64_t t)
{
    if (t < d->floor_ts)
        return; /* older than what availability already reflects */
    if (d->has_seg && t < d->seg_end)
        d->seg_end = t;
    d->floor_ts = t;
    if (d->st == NTM_AGG_ONLINE) {
        d->st = NTM_AGG_OFFLINE;
        ntm_agg_emit_alert(a, d, t, NTM_ALERT_OFFLINE, NULL);
    }
}

bool ntm_agg_dev_record(struct ntm_agg *a, const struct ntm_record *rec, int64_t wm,
                        struct ntm_agg_dev **d)
{
    *d = ntm_agg_dev_get(a, rec->device, rec->village, rec->kind);
    if (*d == NULL)
        return ntm_agg_dev_find(a, rec->device) == NULL;
    if (rec->channel == NTM_CH_STATE && !rec->u.state.online)
        explicit_offline(a, *d, rec->ts);
    else
        sign_of_life(a, *d, rec->ts,
                     rec->channel == NTM_CH_HEARTBEAT ? rec->u.heartbeat.interval_s : 0, wm);
    return true;
}

/* ---- forgetting (ntmctl forget) ---- */

/* Takes the device's credited online time back out of the open day. Its
 * current segment is credited only when an hour closes (up to the oldest open
 * hour), so what it has in the open hours came from earlier segments ended by
 * a gap: that share is not known per hour and stays in them, and the day gets
 * it back when they close. The day's figure is thus exact (unless the day so
 * far holds less than the device credited, when it is taken to 0); an open
 * hour's may keep a few of its seconds (capped at 100 % by the row). */
static void uncredit(struct ntm_agg *a, const struct ntm_agg_dev *d)
{
    size_t ai = (size_t)d->village * NTM_KIND_COUNT + d->kind;
    int64_t in_day;
    if (d->today == a->d_lo) {
        in_day = d->day_online_s; /* all it credited that day */
    } else {
        /* it moved on to the next day: its current segment's credited part
         * in the open day's closed hours */
        int64_t day_lo = ntm_agg_day_start(a->d_lo), day_hi = ntm_agg_day_start(a->d_lo + 1);
        int64_t lo = ntm_agg_max64(d->seg_start, day_lo);
        int64_t hi = ntm_agg_min64(ntm_agg_min64(d->credited, d->seg_end),
                                   ntm_agg_min64(a->h_lo * NTM_AGG_HOUR_S, day_hi));
        in_day = d->has_seg ? hi - lo : 0;
    }
    if (in_day > 0)
        a->day[ai].online_s -= ntm_agg_min64(in_day, a->day[ai].online_s);
}

int ntm_agg_forget_device(struct ntm_agg *a, const char *device)
{
    struct ntm_agg_dev *d = a != NULL && device != NULL ? ntm_agg_dev_find(a, device) : NULL;
    if (d == NULL)
        return -1;
    if (a->started)
        uncredit(a, d);
    size_t ai = (size_t)d->village * NTM_KIND_COUNT + d->kind;
    if (a->ndev[ai] > 0)
        a->ndev[ai]--;
    size_t i = (size_t)(d - a->devs);
    if (i + 1 < a->n_devs)
        a->devs[i] = a->devs[a->n_devs - 1];
    a->n_devs--;
    /* the index, refilled in place at its size (it was big enough before) */
    memset(a->idx, 0, a->idx_cap * sizeof *a->idx);
    idx_fill(a, a->idx, a->idx_cap);
    return 0;
}

/* ---- what `ntmctl devices` shows ---- */

int ntm_agg_device_online(const struct ntm_agg *a, const char *device, int64_t mono_ms)
{
    if (a == NULL || device == NULL)
        return -1;
    const struct ntm_agg_dev *d = ntm_agg_dev_find(a, device);
    if (d == NULL)
        return -1;
    return d->st == NTM_AGG_ONLINE && d->seg_end > ntm_agg_watermark(a, mono_ms) ? 1 : 0;
}

int ntm_agg_device_uptime_today(const struct ntm_agg *a, const char *device, int64_t mono_ms,
                                double *pct)
{
    if (a == NULL || device == NULL || !a->started)
        return -1;
    const struct ntm_agg_dev *d = ntm_agg_dev_find(a, device);
    if (d == NULL)
        return -1;
    int64_t wm = ntm_agg_watermark(a, mono_ms), today = ntm_local_day(wm);
    int64_t t0 = ntm_agg_day_start(today), elapsed = wm - t0;
    int64_t online = d->today == today ? d->day_online_s : 0;
    if (d->has_seg) {
        int64_t lo = ntm_agg_max64(ntm_agg_max64(d->credited, d->seg_start), t0);
        int64_t hi = ntm_agg_min64(d->seg_end, wm);
        if (lo < hi)
            online += hi - lo;
    }
    *pct = elapsed > 0 ? ntm_agg_min64(online, elapsed) * 100.0 / (double)elapsed : 0.0;
    return 0;
}
