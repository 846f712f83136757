/* aggregate.c: the indicator and alert engine of aggregate.h: event-time hour and
 * local-day windows closed by the watermark, per-device availability (uptime),
 * alerts, and the versioned binary save/load of the whole state. No I/O, no globals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aggregate.h"
#include "hash.h"

/*
 * How it works
 *
 * Hours close strictly in order, and a record is late exactly when its ts is
 * before the start of the oldest open hour (h_lo). Open hours live in a ring of
 * accumulators (one per village x kind); with grace_s <= 86400 at most
 * grace_s/3600 + 2 hours are open at once. The day is never folded into
 * directly: when an hour closes its accumulators are merged into the one open
 * day (counts summed, peak maxed, client hash sets united, online seconds
 * summed), so a day's values are those of its hours by construction. Since the
 * day closes right after (or with) its last hour, only one day is ever open.
 *
 * Availability: each device has one current online segment
 * [seg_start, seg_end), extended by signs of life and cut by an explicit
 * offline, and a `credited` mark: its online time before `credited` has been
 * added to the hour accumulators. Credit is lazy: when an hour closes, every
 * device is credited up to the hour's end (from then on no non-late record can
 * change that past), and when a new segment starts after a gap, the old one is
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

#define HOUR_S 3600
#define DAY_S 86400
/* ts outside [TS_MIN, TS_LIMIT) cannot be placed: devices.md replaces a ts
 * before 2024-01-01 by the receive time (NTM_TS_MIN in ingest.h); such a record
 * can only come from a gateway whose own clock is unset. It is treated as late. */
#define TS_MIN ((int64_t)1704067200)
#define TS_LIMIT ((int64_t)1 << 40)
#define DEFAULT_INTERVAL_S 60
#define MAX_INTERVAL_S 86400
#define K NTM_KIND_COUNT
/* Most hours a saved state may hold between its oldest open hour and its max ts. */
#define MAX_SPAN_H 63

struct hset {
    uint64_t *slot; /* open addressing, 0 = empty */
    uint32_t cap, n;
    bool has_zero;
};

struct acc {
    int64_t online_s; /* device-seconds online in the window */
    int64_t bcast_ms; /* duration of played + interrupted broadcasts, ms */
    uint64_t n_bcast, n_played, n_failed, n_emerg, n_fault;
    uint64_t n_motion, n_tamper, n_vloss, n_stats, n_rec;
    uint64_t sessions, peak, traffic;
    struct hset macs;
};
#define ACC_FIELDS 15 /* numbers in an acc, as saved */

enum { ST_NEVER, ST_ONLINE, ST_OFFLINE };

struct dev {
    char id[NTM_DEVICE_ID_MAX + 1];
    uint16_t village;
    uint8_t kind;
    uint8_t st;
    bool has_seg;
    int32_t interval_s;
    int64_t seg_start, seg_end; /* current (or last) online segment */
    int64_t floor_ts;           /* earlier availability records are ignored */
    int64_t credited;           /* online time before this is in the accumulators */
    int64_t today;              /* local day that day_online_s counts */
    int64_t day_online_s;       /* credited online seconds of that day (ntmctl devices) */
};

struct ntm_agg {
    const struct ntm_config *cfg;
    struct ntm_agg_sink sink;
    size_t nv, nacc; /* villages, villages x kinds */
    int64_t grace_s;

    bool started;
    int64_t max_ts, arr_ms; /* largest ts folded, and the monotonic ms of its arrival */
    uint64_t late;
    int64_t first_hour, first_day; /* hour number (ts / 3600) and local day number */
    int64_t h_lo, d_lo;            /* oldest open hour and day */

    size_t cap_h;      /* ring slots; hour h lives in slot h % cap_h */
    struct acc *hours; /* cap_h * nacc */
    struct acc *day;   /* nacc */
    uint32_t *ndev;    /* devices per village x kind */

    struct dev *devs;
    size_t n_devs, cap_devs;
    uint32_t *idx; /* device index + 1, 0 = empty; idx_cap a power of 2 */
    size_t idx_cap;
    int64_t next_lapse; /* no online device lapses before this (a lower bound) */
};

static const char *const alert_names[NTM_ALERT_COUNT] = {
    "tamper", "video_loss", "storage_error", "fault", "emergency_not_played", "offline", "online"};

const char *ntm_alert_type_name(enum ntm_alert_type t)
{
    return (unsigned)t < NTM_ALERT_COUNT ? alert_names[t] : "unknown";
}

static int64_t min64(int64_t x, int64_t y)
{
    return x < y ? x : y;
}

static int64_t max64(int64_t x, int64_t y)
{
    return x > y ? x : y;
}

static uint64_t sat_add(uint64_t x, uint64_t y)
{
    return x > UINT64_MAX - y ? UINT64_MAX : x + y;
}

static int64_t day_start(int64_t d)
{
    return d * DAY_S - NTM_TZ_OFFSET_S;
}

/* ---- hash sets of client hashes ---- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static bool hset_grow(struct hset *s)
{
    uint32_t cap = s->cap ? s->cap * 2 : 16;
    if (cap < s->cap)
        return false;
    uint64_t *slot = calloc(cap, sizeof *slot);
    if (slot == NULL)
        return false;
    for (uint32_t i = 0; i < s->cap; i++) {
        uint64_t h = s->slot[i];
        if (h == 0)
            continue;
        uint32_t j = (uint32_t)mix64(h) & (cap - 1);
        while (slot[j] != 0)
            j = (j + 1) & (cap - 1);
        slot[j] = h;
    }
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    return true;
}

/* False only when memory ran out (the hash is then not counted). */
static bool hset_add(struct hset *s, uint64_t h)
{
    if (h == 0) {
        s->has_zero = true;
        return true;
    }
    if (((uint64_t)s->n + 1) * 4 > (uint64_t)s->cap * 3 && !hset_grow(s))
        return false;
    uint32_t mask = s->cap - 1, j = (uint32_t)mix64(h) & mask;
    while (s->slot[j] != 0) {
        if (s->slot[j] == h)
            return true;
        j = (j + 1) & mask;
    }
    s->slot[j] = h;
    s->n++;
    return true;
}

static uint64_t hset_count(const struct hset *s)
{
    return (uint64_t)s->n + (s->has_zero ? 1 : 0);
}

static void hset_free(struct hset *s)
{
    free(s->slot);
    memset(s, 0, sizeof *s);
}

/* ---- accumulators ---- */

static void acc_clear(struct acc *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        hset_free(&w[i].macs);
        memset(&w[i], 0, sizeof w[i]);
    }
}

static bool acc_empty(const struct acc *w)
{
    return w->online_s == 0 && w->bcast_ms == 0 && w->n_bcast == 0 && w->n_played == 0 &&
           w->n_failed == 0 && w->n_emerg == 0 && w->n_fault == 0 && w->n_motion == 0 &&
           w->n_tamper == 0 && w->n_vloss == 0 && w->n_stats == 0 && w->n_rec == 0 &&
           w->sessions == 0 && w->peak == 0 && w->traffic == 0 && hset_count(&w->macs) == 0;
}

static void acc_merge(struct acc *to, const struct acc *from)
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
    if (from->macs.has_zero)
        hset_add(&to->macs, 0);
    for (uint32_t i = 0; i < from->macs.cap; i++)
        if (from->macs.slot[i] != 0)
            hset_add(&to->macs, from->macs.slot[i]);
}

static struct acc *hour_accs(const struct ntm_agg *a, int64_t h)
{
    return a->hours + (size_t)(h % (int64_t)a->cap_h) * a->nacc;
}

/* ---- devices ---- */

static struct dev *dev_find(const struct ntm_agg *a, const char *id)
{
    if (a->idx_cap == 0)
        return NULL;
    size_t mask = a->idx_cap - 1, j = ntm_hash_str(id) & mask;
    for (; a->idx[j] != 0; j = (j + 1) & mask) {
        struct dev *d = &a->devs[a->idx[j] - 1];
        if (strcmp(d->id, id) == 0)
            return d;
    }
    return NULL;
}

static bool idx_rebuild(struct ntm_agg *a, size_t cap)
{
    uint32_t *idx = calloc(cap, sizeof *idx);
    if (idx == NULL)
        return false;
    for (size_t i = 0; i < a->n_devs; i++) {
        size_t j = ntm_hash_str(a->devs[i].id) & (cap - 1);
        while (idx[j] != 0)
            j = (j + 1) & (cap - 1);
        idx[j] = (uint32_t)(i + 1);
    }
    free(a->idx);
    a->idx = idx;
    a->idx_cap = cap;
    return true;
}

/* The device, added when new. NULL when out of memory, or when the id is
 * known under another village or kind (ingest rejects those as device_conflict). */
static struct dev *dev_get(struct ntm_agg *a, const char *id, uint16_t village, uint8_t kind)
{
    struct dev *d = dev_find(a, id);
    if (d != NULL)
        return d->village == village && d->kind == kind ? d : NULL;
    if (a->n_devs >= UINT32_MAX - 1)
        return NULL;
    if (a->n_devs == a->cap_devs) {
        size_t cap = a->cap_devs ? a->cap_devs * 2 : 16;
        struct dev *devs = realloc(a->devs, cap * sizeof *devs);
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
    d->st = ST_NEVER;
    d->interval_s = DEFAULT_INTERVAL_S;
    size_t mask = a->idx_cap - 1, j = ntm_hash_str(id) & mask;
    while (a->idx[j] != 0)
        j = (j + 1) & mask;
    a->idx[j] = (uint32_t)a->n_devs;
    a->ndev[(size_t)village * K + kind]++;
    return d;
}

/* ---- sink ---- */

static void emit_alert(struct ntm_agg *a, const struct dev *d, int64_t ts, enum ntm_alert_type t,
                       const char *detail)
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

static void emit_window(struct ntm_agg *a, enum ntm_period p, int64_t start, int64_t end,
                        const struct acc *accs)
{
    struct row_out o = {.a = a};
    o.r.period = (uint8_t)p;
    o.r.start = start;
    o.r.end = end;
    uint64_t len = (uint64_t)(end - start);
    for (size_t v = 0; v < a->nv; v++) {
        for (int k = 0; k < K; k++) {
            size_t ai = v * K + (size_t)k;
            uint32_t n = a->ndev[ai];
            if (n == 0)
                continue;
            const struct acc *w = &accs[ai];
            o.r.village = (uint16_t)v;
            o.r.kind = (uint8_t)k;
            o.r.devices = n;
            uint64_t online = w->online_s > 0 ? (uint64_t)w->online_s : 0;
            if (online > n * len)
                online = n * len;
            put(&o, "uptime_pct", "%", q2(online * 100, n * len));
            switch (k) {
            case NTM_KIND_SPEAKER:
                put(&o, "broadcasts", "count", (double)w->n_bcast);
                put(&o, "broadcasts_played", "count", (double)w->n_played);
                put(&o, "broadcasts_failed", "count", (double)w->n_failed);
                put(&o, "broadcast_minutes", "min", q2((uint64_t)w->bcast_ms, 60000));
                put(&o, "emergency_broadcasts", "count", (double)w->n_emerg);
                put(&o, "faults", "count", (double)w->n_fault);
                break;
            case NTM_KIND_CAMERA:
                put(&o, "motion_events", "count", (double)w->n_motion);
                put(&o, "tamper_events", "count", (double)w->n_tamper);
                put(&o, "video_loss_events", "count", (double)w->n_vloss);
                if (w->n_stats > 0)
                    put(&o, "recording_pct", "%", q2(w->n_rec * 100, w->n_stats));
                break;
            default:
                put(&o, "unique_clients", "count", (double)hset_count(&w->macs));
                put(&o, "sessions", "count", (double)w->sessions);
                put(&o, "peak_clients", "count", (double)w->peak);
                put(&o, "traffic_mb", "MB", q2(w->traffic, 1000000));
                break;
            }
        }
    }
    if (a->sink.window_closed != NULL)
        a->sink.window_closed(a->sink.arg, p, start, end);
}

/* ---- availability ---- */

/* Adds the online seconds of [lo, hi) to the open hours holding them. */
static void distribute(struct ntm_agg *a, size_t ai, int64_t lo, int64_t hi)
{
    lo = max64(lo, a->h_lo * HOUR_S);
    hi = min64(hi, (a->h_lo + (int64_t)a->cap_h) * HOUR_S);
    while (lo < hi) {
        int64_t h = lo / HOUR_S, e = min64(hi, (h + 1) * HOUR_S);
        hour_accs(a, h)[ai].online_s += e - lo;
        lo = e;
    }
}

/* Adds [lo, hi) to the device's own count of online seconds today. */
static void credit_day(struct dev *d, int64_t lo, int64_t hi)
{
    while (lo < hi) {
        int64_t day = ntm_local_day(lo), e = min64(hi, day_start(day + 1));
        if (day > d->today) {
            d->today = day;
            d->day_online_s = 0;
        }
        if (day == d->today)
            d->day_online_s += e - lo;
        lo = e;
    }
}

/* Credits the device's online time before `upto`. */
static void credit(struct ntm_agg *a, struct dev *d, int64_t upto)
{
    if (d->has_seg) {
        int64_t lo = max64(d->credited, d->seg_start), hi = min64(upto, d->seg_end);
        if (lo < hi) {
            distribute(a, (size_t)d->village * K + d->kind, lo, hi);
            credit_day(d, lo, hi);
        }
    }
    if (upto > d->credited)
        d->credited = upto;
}

/* `offline` alerts, in time order, for the online devices whose segment ended
 * at or before the watermark. */
static void scan_lapses(struct ntm_agg *a, int64_t wm)
{
    for (;;) {
        struct dev *first = NULL;
        for (size_t i = 0; i < a->n_devs; i++) {
            struct dev *d = &a->devs[i];
            if (d->st == ST_ONLINE && (first == NULL || d->seg_end < first->seg_end))
                first = d;
        }
        if (first == NULL || first->seg_end > wm) {
            a->next_lapse = first ? first->seg_end : INT64_MAX;
            return;
        }
        first->st = ST_OFFLINE;
        emit_alert(a, first, first->seg_end, NTM_ALERT_OFFLINE, NULL);
    }
}

static void sign_of_life(struct ntm_agg *a, struct dev *d, int64_t t, int32_t interval_s,
                         int64_t wm)
{
    if (t < d->floor_ts)
        return; /* out of order: counted in its window, no effect on availability */
    if (interval_s >= 1 && interval_s <= MAX_INTERVAL_S)
        d->interval_s = interval_s;
    int64_t until = t + 3 * (int64_t)d->interval_s;
    if (d->has_seg && t <= d->seg_end) {
        if (until > d->seg_end)
            d->seg_end = until;
    } else {
        if (d->has_seg)
            credit(a, d, t); /* the old segment, in full */
        d->has_seg = true;
        d->seg_start = t;
        d->seg_end = until;
        d->floor_ts = t;
        if (t > d->credited)
            d->credited = t;
    }
    if (d->st == ST_NEVER) {
        d->st = ST_ONLINE;
    } else if (d->st == ST_OFFLINE && d->seg_end > wm) {
        d->st = ST_ONLINE;
        emit_alert(a, d, t, NTM_ALERT_ONLINE, NULL);
    }
    if (d->st == ST_ONLINE && d->seg_end < a->next_lapse)
        a->next_lapse = d->seg_end;
}

static void explicit_offline(struct ntm_agg *a, struct dev *d, int64_t t)
{
    if (t < d->floor_ts)
        return; /* older than what availability already reflects */
    if (d->has_seg && t < d->seg_end)
        d->seg_end = t;
    d->floor_ts = t;
    if (d->st == ST_ONLINE) {
        d->st = ST_OFFLINE;
        emit_alert(a, d, t, NTM_ALERT_OFFLINE, NULL);
    }
}

/* ---- windows ---- */

static void close_hour(struct ntm_agg *a)
{
    int64_t start = a->h_lo * HOUR_S, end = start + HOUR_S;
    for (size_t i = 0; i < a->n_devs; i++)
        credit(a, &a->devs[i], end);
    struct acc *w = hour_accs(a, a->h_lo);
    emit_window(a, NTM_PERIOD_HOUR, start, end, w);
    for (size_t i = 0; i < a->nacc; i++)
        acc_merge(&a->day[i], &w[i]);
    acc_clear(w, a->nacc);
    a->h_lo++;
}

static void close_day(struct ntm_agg *a)
{
    emit_window(a, NTM_PERIOD_DAY, day_start(a->d_lo), day_start(a->d_lo + 1), a->day);
    acc_clear(a->day, a->nacc);
    a->d_lo++;
}

/* Emits the lapses and closes the windows that the watermark wm passed. */
static void advance(struct ntm_agg *a, int64_t wm)
{
    if (!a->started)
        return;
    if (wm >= a->next_lapse)
        scan_lapses(a, wm);
    for (;;) {
        int64_t hend = (a->h_lo + 1) * HOUR_S, dend = day_start(a->d_lo + 1);
        if (hend <= dend) {
            if (hend + a->grace_s > wm)
                break;
            close_hour(a);
        } else {
            if (dend + a->grace_s > wm)
                break;
            close_day(a);
        }
    }
}

static int64_t watermark(const struct ntm_agg *a, int64_t mono_ms)
{
    int64_t el = mono_ms > a->arr_ms ? (mono_ms - a->arr_ms) / 1000 : 0;
    if (el > TS_LIMIT)
        el = TS_LIMIT;
    return a->max_ts + el;
}

/* ---- public API ---- */

static bool alloc_ring(struct ntm_agg *a, size_t cap_h)
{
    struct acc *hours = calloc(cap_h * a->nacc, sizeof *hours);
    if (hours == NULL)
        return false;
    if (a->hours != NULL) {
        acc_clear(a->hours, a->cap_h * a->nacc);
        free(a->hours);
    }
    a->hours = hours;
    a->cap_h = cap_h;
    return true;
}

struct ntm_agg *ntm_agg_new(const struct ntm_config *cfg, const struct ntm_agg_sink *sink)
{
    if (cfg == NULL || cfg->n_villages == 0 || cfg->n_villages > UINT16_MAX + 1u)
        return NULL;
    struct ntm_agg *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->cfg = cfg;
    if (sink != NULL)
        a->sink = *sink;
    a->nv = cfg->n_villages;
    a->nacc = a->nv * K;
    a->grace_s = cfg->sync.grace_s < 0 ? 0 : cfg->sync.grace_s;
    if (a->grace_s > DAY_S)
        a->grace_s = DAY_S;
    a->next_lapse = INT64_MAX;
    a->day = calloc(a->nacc, sizeof *a->day);
    a->ndev = calloc(a->nacc, sizeof *a->ndev);
    if (a->day == NULL || a->ndev == NULL || !alloc_ring(a, (size_t)(a->grace_s / HOUR_S) + 3)) {
        ntm_agg_free(a);
        return NULL;
    }
    /* The declared devices (config.c rejects duplicate ids; only a lack of memory fails). */
    for (size_t i = 0; i < cfg->n_devices; i++) {
        const struct ntm_device_decl *dd = &cfg->devices[i];
        if (dd->village < a->nv && dd->kind < K &&
            ntm_valid_device_id(dd->id, strnlen(dd->id, sizeof dd->id)) &&
            dev_get(a, dd->id, dd->village, dd->kind) == NULL && dev_find(a, dd->id) == NULL) {
            ntm_agg_free(a);
            return NULL;
        }
    }
    return a;
}

void ntm_agg_free(struct ntm_agg *a)
{
    if (a == NULL)
        return;
    if (a->hours != NULL)
        acc_clear(a->hours, a->cap_h * a->nacc);
    if (a->day != NULL)
        acc_clear(a->day, a->nacc);
    free(a->hours);
    free(a->day);
    free(a->ndev);
    free(a->devs);
    free(a->idx);
    free(a);
}

int ntm_agg_add_device(struct ntm_agg *a, const char *device, uint16_t village, uint8_t kind)
{
    if (a == NULL || device == NULL || village >= a->nv || kind >= K ||
        !ntm_valid_device_id(device, strnlen(device, NTM_DEVICE_ID_MAX + 1)))
        return -1;
    return dev_get(a, device, village, kind) != NULL ? 0 : -1;
}

static void fold(struct ntm_agg *a, const struct ntm_record *rec, int64_t wm)
{
    int64_t ts = rec->ts;
    size_t ai = (size_t)rec->village * K + rec->kind;
    struct dev *d = dev_get(a, rec->device, rec->village, rec->kind);
    if (d == NULL && dev_find(a, rec->device) != NULL)
        return; /* known under another village or kind: not this engine's to fold */
    if (ts / HOUR_S - a->h_lo >= (int64_t)a->cap_h)
        return; /* cannot happen: advance() keeps the hour of max_ts in the ring */
    struct acc *w = &hour_accs(a, ts / HOUR_S)[ai];

    if (d != NULL) {
        if (rec->channel == NTM_CH_STATE && !rec->u.state.online)
            explicit_offline(a, d, ts);
        else
            sign_of_life(a, d, ts,
                         rec->channel == NTM_CH_HEARTBEAT ? rec->u.heartbeat.interval_s : 0, wm);
    }
    /* Alerts name the device; without memory for it (d == NULL) they are skipped. */
    if (rec->channel == NTM_CH_EVENT && rec->kind == NTM_KIND_SPEAKER) {
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
                    emit_alert(a, d, ts, NTM_ALERT_EMERGENCY_NOT_PLAYED, NULL);
            }
        } else if (rec->event == NTM_EV_FAULT) {
            w->n_fault++;
            if (d != NULL)
                emit_alert(a, d, ts, NTM_ALERT_FAULT,
                           ntm_fault_name((enum ntm_fault)rec->u.fault.fault));
        }
    } else if (rec->channel == NTM_CH_EVENT && rec->kind == NTM_KIND_CAMERA) {
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
            emit_alert(a, d, ts, (enum ntm_alert_type)t, NULL);
    } else if (rec->channel == NTM_CH_STATS && rec->kind == NTM_KIND_CAMERA) {
        w->n_stats++;
        if (rec->u.camera_stats.recording)
            w->n_rec++;
    } else if (rec->channel == NTM_CH_STATS && rec->kind == NTM_KIND_WIFI) {
        int64_t c = rec->u.wifi.clients, s = rec->u.wifi.new_sessions;
        int64_t rx = rec->u.wifi.rx_bytes, tx = rec->u.wifi.tx_bytes;
        w->sessions = sat_add(w->sessions, s > 0 ? (uint64_t)s : 0);
        if (c > 0 && (uint64_t)c > w->peak)
            w->peak = (uint64_t)c;
        w->traffic = sat_add(w->traffic, rx > 0 ? (uint64_t)rx : 0);
        w->traffic = sat_add(w->traffic, tx > 0 ? (uint64_t)tx : 0);
        uint32_t n = rec->u.wifi.n_macs < NTM_MACS_MAX ? rec->u.wifi.n_macs : NTM_MACS_MAX;
        for (uint32_t i = 0; i < n; i++)
            hset_add(&w->macs, rec->u.wifi.mac_hash[i]);
    }
}

bool ntm_agg_add(struct ntm_agg *a, const struct ntm_record *rec, int64_t mono_ms)
{
    if (a == NULL || rec == NULL || rec->village >= a->nv || rec->kind >= K ||
        !ntm_valid_device_id(rec->device, strnlen(rec->device, sizeof rec->device)))
        return false; /* not a record of this configuration: ignored */
    int64_t ts = rec->ts;
    if (ts < TS_MIN || ts >= TS_LIMIT) {
        a->late++;
        return true;
    }
    if (!a->started) {
        a->started = true;
        a->max_ts = ts;
        a->arr_ms = mono_ms;
        a->first_hour = a->h_lo = ts / HOUR_S;
        a->first_day = a->d_lo = ntm_local_day(ts);
    } else if (ts > a->max_ts && ts >= a->h_lo * HOUR_S) {
        a->max_ts = ts;
        a->arr_ms = mono_ms;
    }
    int64_t wm = watermark(a, mono_ms);
    advance(a, wm);
    if (ts < a->h_lo * HOUR_S) {
        a->late++;
        return true;
    }
    fold(a, rec, wm);
    return false;
}

void ntm_agg_tick(struct ntm_agg *a, int64_t mono_ms)
{
    if (a != NULL && a->started)
        advance(a, watermark(a, mono_ms));
}

int64_t ntm_agg_watermark(const struct ntm_agg *a, int64_t mono_ms)
{
    return a != NULL && a->started ? watermark(a, mono_ms) : INT64_MIN;
}

uint64_t ntm_agg_late_total(const struct ntm_agg *a)
{
    return a != NULL ? a->late : 0;
}

int ntm_agg_device_online(const struct ntm_agg *a, const char *device, int64_t mono_ms)
{
    if (a == NULL || device == NULL)
        return -1;
    const struct dev *d = dev_find(a, device);
    if (d == NULL)
        return -1;
    return d->st == ST_ONLINE && d->seg_end > ntm_agg_watermark(a, mono_ms) ? 1 : 0;
}

int ntm_agg_device_uptime_today(const struct ntm_agg *a, const char *device, int64_t mono_ms,
                                double *pct)
{
    if (a == NULL || device == NULL || !a->started)
        return -1;
    const struct dev *d = dev_find(a, device);
    if (d == NULL)
        return -1;
    int64_t wm = ntm_agg_watermark(a, mono_ms), today = ntm_local_day(wm);
    int64_t t0 = day_start(today), elapsed = wm - t0;
    int64_t online = d->today == today ? d->day_online_s : 0;
    if (d->has_seg) {
        int64_t lo = max64(max64(d->credited, d->seg_start), t0), hi = min64(d->seg_end, wm);
        if (lo < hi)
            online += hi - lo;
    }
    *pct = elapsed > 0 ? min64(online, elapsed) * 100.0 / (double)elapsed : 0.0;
    return 0;
}

/* ---- save / load ----
 *
 * Layout (integers little-endian):
 *   header: "NTMAGGST" | u32 version (1) | u64 body length | u64 FNV-1a 64 of the body
 *   body:   u32 grace_s (informational)
 *           u32 n_villages, each: u8 len, id          (rows are mapped back by id)
 *           u8 n_kinds (3) | u8 started
 *           i64 max_ts | u64 late | i64 first_hour | i64 first_day | i64 h_lo | i64 d_lo
 *           u32 n_devices, each: u8 len, id, u16 village, u8 kind, u8 state, u8 has_seg,
 *                                i32 interval_s, i64 seg_start, seg_end, floor_ts, credited
 *                                (version 2:) i64 today, i64 day_online_s
 *           u32 n_windows, each: u8 period, i64 number (hour ts/3600 or local day),
 *                                u32 n_acc, each: u16 village, u8 kind, u16 n_fields (15),
 *                                  i64 online_s, i64 bcast_ms, 13 x u64 counters,
 *                                  u32 n_hashes, n x u64 (sorted)
 * Only non-empty accumulators are written. */

#define MAGIC "NTMAGGST"
#define VERSION 2u /* 1 is still read: its devices had no day count */
#define HEADER_LEN 28

struct wbuf {
    uint8_t *p;
    size_t n, cap;
    bool err;
};

static void w_bytes(struct wbuf *b, const void *src, size_t n)
{
    if (b->err)
        return;
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->n < n)
            cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (p == NULL) {
            b->err = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void w_uint(struct wbuf *b, uint64_t v, int bytes)
{
    uint8_t x[8];
    for (int i = 0; i < bytes; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    w_bytes(b, x, (size_t)bytes);
}

static void w_u8(struct wbuf *b, uint64_t v)
{
    w_uint(b, v, 1);
}

static void w_u16(struct wbuf *b, uint64_t v)
{
    w_uint(b, v, 2);
}

static void w_u32(struct wbuf *b, uint64_t v)
{
    w_uint(b, v, 4);
}

static void w_u64(struct wbuf *b, uint64_t v)
{
    w_uint(b, v, 8);
}

static void w_i64(struct wbuf *b, int64_t v)
{
    w_uint(b, (uint64_t)v, 8);
}

static void w_str(struct wbuf *b, const char *s)
{
    size_t n = strlen(s);
    w_u8(b, n);
    w_bytes(b, s, n);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t p = *(const uint64_t *)x, q = *(const uint64_t *)y;
    return p < q ? -1 : p > q;
}

static void w_window(struct wbuf *b, uint8_t period, int64_t number, const struct acc *accs,
                     size_t nacc)
{
    uint32_t n = 0;
    for (size_t i = 0; i < nacc; i++)
        n += !acc_empty(&accs[i]);
    w_u8(b, period);
    w_i64(b, number);
    w_u32(b, n);
    for (size_t i = 0; i < nacc; i++) {
        const struct acc *w = &accs[i];
        if (acc_empty(w))
            continue;
        w_u16(b, i / K);
        w_u8(b, i % K);
        w_u16(b, ACC_FIELDS);
        w_i64(b, w->online_s);
        w_i64(b, w->bcast_ms);
        const uint64_t c[13] = {w->n_bcast,  w->n_played, w->n_failed, w->n_emerg, w->n_fault,
                                w->n_motion, w->n_tamper, w->n_vloss,  w->n_stats, w->n_rec,
                                w->sessions, w->peak,     w->traffic};
        for (int j = 0; j < 13; j++)
            w_u64(b, c[j]);
        uint64_t cnt = hset_count(&w->macs);
        uint64_t *hs = cnt ? malloc(cnt * sizeof *hs) : NULL;
        if (cnt && hs == NULL) {
            b->err = true;
            return;
        }
        size_t k = 0;
        if (w->macs.has_zero)
            hs[k++] = 0;
        for (uint32_t j = 0; j < w->macs.cap; j++)
            if (w->macs.slot[j] != 0)
                hs[k++] = w->macs.slot[j];
        if (k)
            qsort(hs, k, sizeof *hs, cmp_u64); /* canonical: save(load(x)) == x */
        w_u32(b, k);
        for (size_t j = 0; j < k; j++)
            w_u64(b, hs[j]);
        free(hs);
    }
}

int ntm_agg_save(const struct ntm_agg *a, void **blob, size_t *len)
{
    if (a == NULL || blob == NULL || len == NULL)
        return -1;
    struct wbuf b = {0};
    w_bytes(&b, MAGIC, 8);
    w_u32(&b, VERSION);
    w_u64(&b, 0); /* body length and checksum, filled in below */
    w_u64(&b, 0);
    w_u32(&b, (uint64_t)a->grace_s);
    w_u32(&b, a->nv);
    for (size_t v = 0; v < a->nv; v++)
        w_str(&b, a->cfg->villages[v].id);
    w_u8(&b, K);
    w_u8(&b, a->started);
    w_i64(&b, a->max_ts);
    w_u64(&b, a->late);
    w_i64(&b, a->first_hour);
    w_i64(&b, a->first_day);
    w_i64(&b, a->h_lo);
    w_i64(&b, a->d_lo);
    w_u32(&b, a->n_devs);
    for (size_t i = 0; i < a->n_devs; i++) {
        const struct dev *d = &a->devs[i];
        w_str(&b, d->id);
        w_u16(&b, d->village);
        w_u8(&b, d->kind);
        w_u8(&b, d->st);
        w_u8(&b, d->has_seg);
        w_u32(&b, (uint32_t)d->interval_s);
        w_i64(&b, d->seg_start);
        w_i64(&b, d->seg_end);
        w_i64(&b, d->floor_ts);
        w_i64(&b, d->credited);
        w_i64(&b, d->today);
        w_i64(&b, d->day_online_s);
    }
    int64_t h_top = a->started ? a->max_ts / HOUR_S : a->h_lo - 1;
    uint32_t n_windows = a->started ? (uint32_t)max64(0, h_top - a->h_lo + 1) + 1 : 0;
    w_u32(&b, n_windows);
    if (a->started) {
        for (int64_t h = a->h_lo; h <= h_top; h++)
            w_window(&b, NTM_PERIOD_HOUR, h, hour_accs(a, h), a->nacc);
        w_window(&b, NTM_PERIOD_DAY, a->d_lo, a->day, a->nacc);
    }
    if (b.err) {
        free(b.p);
        return -1;
    }
    uint64_t body = b.n - HEADER_LEN, sum = ntm_hash64(b.p + HEADER_LEN, body);
    for (int i = 0; i < 8; i++) {
        b.p[12 + i] = (uint8_t)(body >> (8 * i));
        b.p[20 + i] = (uint8_t)(sum >> (8 * i));
    }
    *blob = b.p;
    *len = b.n;
    return 0;
}

struct rbuf {
    const uint8_t *p;
    size_t n, off;
    bool err;
};

static uint64_t r_uint(struct rbuf *b, int bytes)
{
    if (b->err || b->n - b->off < (size_t)bytes) {
        b->err = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)b->p[b->off + (size_t)i] << (8 * i);
    b->off += (size_t)bytes;
    return v;
}

static int64_t r_i64(struct rbuf *b)
{
    return (int64_t)r_uint(b, 8);
}

/* A string of 1..max bytes into out (NUL-terminated). */
static size_t r_str(struct rbuf *b, char *out, size_t max)
{
    size_t n = (size_t)r_uint(b, 1);
    if (b->err || n < 1 || n > max || b->n - b->off < n) {
        b->err = true;
        return 0;
    }
    memcpy(out, b->p + b->off, n);
    out[n] = '\0';
    b->off += n;
    return n;
}

/* Fails the read (and returns false) unless lo <= v <= hi. */
static bool r_check(struct rbuf *b, int64_t v, int64_t lo, int64_t hi)
{
    if (v < lo || v > hi)
        b->err = true;
    return !b->err;
}

/* Reads one window's accumulators into accs (NULL: validated, then dropped). */
static void r_window(struct rbuf *b, struct acc *accs, const int *vmap, uint32_t nv_saved,
                     int64_t len)
{
    uint32_t n = (uint32_t)r_uint(b, 4);
    if (vmap == NULL) /* only after an earlier error: nothing to map to */
        b->err = true;
    if (!r_check(b, n, 0, (int64_t)nv_saved * K))
        return;
    for (uint32_t i = 0; i < n && !b->err; i++) {
        uint32_t v = (uint32_t)r_uint(b, 2);
        uint8_t k = (uint8_t)r_uint(b, 1);
        uint16_t nf = (uint16_t)r_uint(b, 2);
        if (!r_check(b, v, 0, (int64_t)nv_saved - 1) || !r_check(b, k, 0, K - 1) ||
            !r_check(b, nf, ACC_FIELDS, ACC_FIELDS))
            return;
        struct acc tmp = {0}, *w = vmap[v] >= 0 && accs ? &accs[(size_t)vmap[v] * K + k] : &tmp;
        if (w != &tmp && !acc_empty(w)) {
            b->err = true; /* the same village and kind twice */
            return;
        }
        w->online_s = r_i64(b);
        w->bcast_ms = r_i64(b);
        uint64_t *c[13] = {&w->n_bcast,  &w->n_played, &w->n_failed, &w->n_emerg, &w->n_fault,
                           &w->n_motion, &w->n_tamper, &w->n_vloss,  &w->n_stats, &w->n_rec,
                           &w->sessions, &w->peak,     &w->traffic};
        for (int j = 0; j < 13; j++)
            *c[j] = r_uint(b, 8);
        if (!r_check(b, w->online_s, 0, len * (int64_t)UINT32_MAX) ||
            !r_check(b, w->bcast_ms, 0, INT64_MAX / 4) ||
            !r_check(b,
                     w->n_played + w->n_failed <= w->n_bcast && w->n_emerg <= w->n_bcast &&
                         w->n_rec <= w->n_stats,
                     1, 1))
            return;
        /* Counters could overflow when summed into the day: keep them sane. */
        for (int j = 0; j < 10; j++)
            if (!r_check(b, *c[j] > (UINT64_MAX >> 8) ? -1 : 0, 0, 0))
                return;
        uint32_t nh = (uint32_t)r_uint(b, 4);
        if (!r_check(b, nh, 0, (int64_t)((b->n - b->off) / 8)))
            return;
        for (uint32_t j = 0; j < nh; j++) {
            if (!hset_add(&w->macs, r_uint(b, 8))) {
                b->err = true;
                break;
            }
        }
        if (w == &tmp)
            hset_free(&tmp.macs);
    }
}

static void swap_agg(struct ntm_agg *x, struct ntm_agg *y)
{
    struct ntm_agg t = *x;
    *x = *y;
    *y = t;
}

int ntm_agg_load(struct ntm_agg *a, const void *blob, size_t len, int64_t mono_ms)
{
    if (a == NULL || blob == NULL || len < HEADER_LEN)
        return -1;
    const uint8_t *p = blob;
    struct rbuf h = {.p = p, .n = len, .off = 8};
    if (memcmp(p, MAGIC, 8) != 0)
        return -1;
    uint64_t version = r_uint(&h, 4);
    if ((version != 1 && version != VERSION) || r_uint(&h, 8) != len - HEADER_LEN)
        return -1;
    uint64_t sum = r_uint(&h, 8);

    struct ntm_agg *t = ntm_agg_new(a->cfg, &a->sink);
    if (t == NULL)
        return -1;
    struct rbuf b = {.p = p, .n = len, .off = HEADER_LEN};
    int *vmap = NULL;
    uint8_t *loaded = NULL;
    (void)r_uint(&b, 4); /* grace_s when saved */
    uint32_t nv = (uint32_t)r_uint(&b, 4);
    if (r_check(&b, nv, 1, UINT16_MAX + 1) &&
        ((vmap = malloc(nv * sizeof *vmap)) == NULL || (loaded = calloc(a->nv, 1)) == NULL))
        b.err = true;
    for (uint32_t v = 0; v < nv && !b.err; v++) {
        char id[NTM_VILLAGE_ID_MAX + 1];
        size_t n = r_str(&b, id, NTM_VILLAGE_ID_MAX);
        if (b.err || !r_check(&b, ntm_valid_village_id(id, n), 1, 1))
            break;
        vmap[v] = -1;
        for (size_t c = 0; c < a->nv; c++) {
            if (strcmp(a->cfg->villages[c].id, id) == 0) {
                vmap[v] = (int)c;
                if (loaded[c]++)
                    b.err = true; /* the same village twice */
                break;
            }
        }
    }
    r_check(&b, (int64_t)r_uint(&b, 1), K, K);
    uint8_t started = (uint8_t)r_uint(&b, 1);
    t->max_ts = r_i64(&b);
    t->late = r_uint(&b, 8);
    t->first_hour = r_i64(&b);
    t->first_day = r_i64(&b);
    t->h_lo = r_i64(&b);
    t->d_lo = r_i64(&b);
    if (r_check(&b, started, 0, 1) && started) {
        t->started = true;
        if (r_check(&b, t->max_ts, TS_MIN, TS_LIMIT - 1) &&
            r_check(&b, t->first_hour, TS_MIN / HOUR_S, t->max_ts / HOUR_S) &&
            r_check(&b, t->first_day, ntm_local_day(t->first_hour * HOUR_S),
                    ntm_local_day(t->first_hour * HOUR_S)) &&
            r_check(&b, t->h_lo, t->first_hour, TS_LIMIT / HOUR_S) &&
            r_check(&b, t->h_lo, t->max_ts / HOUR_S - MAX_SPAN_H, TS_LIMIT / HOUR_S) &&
            r_check(&b, t->d_lo, ntm_local_day(t->h_lo * HOUR_S),
                    ntm_local_day(t->h_lo * HOUR_S))) {
            /* Room for the saved hours plus those the current grace keeps open. */
            int64_t span = t->max_ts / HOUR_S - t->h_lo + 1;
            if (span > 0 && !alloc_ring(t, (size_t)span + t->cap_h))
                b.err = true;
        }
    } else {
        r_check(&b, t->max_ts | t->first_hour | t->first_day | t->h_lo | t->d_lo, 0, 0);
    }

    uint32_t nd = (uint32_t)r_uint(&b, 4);
    /* 43 (59 in version 2): the smallest device entry */
    r_check(&b, nd, 0, (int64_t)((b.n - b.off) / (version == 1 ? 43 : 59)));
    size_t n0 = t->n_devs;
    free(loaded); /* per configured village above, per device of t from here */
    loaded = b.err ? NULL : calloc(n0 + nd + 1, 1);
    if (loaded == NULL)
        b.err = true;
    for (uint32_t i = 0; i < nd && !b.err; i++) {
        char id[NTM_DEVICE_ID_MAX + 1];
        size_t n = r_str(&b, id, NTM_DEVICE_ID_MAX);
        uint32_t v = (uint32_t)r_uint(&b, 2);
        uint8_t k = (uint8_t)r_uint(&b, 1), st = (uint8_t)r_uint(&b, 1);
        uint8_t has_seg = (uint8_t)r_uint(&b, 1);
        int32_t iv = (int32_t)(uint32_t)r_uint(&b, 4);
        int64_t s0 = r_i64(&b), s1 = r_i64(&b), fl = r_i64(&b), cr = r_i64(&b);
        int64_t today = version == 1 ? 0 : r_i64(&b), day_on = version == 1 ? 0 : r_i64(&b);
        const int64_t tmax = TS_LIMIT + 3 * (int64_t)MAX_INTERVAL_S;
        if (!r_check(&b, today, 0, TS_LIMIT / DAY_S + 1) || !r_check(&b, day_on, 0, DAY_S))
            break;
        if (!r_check(&b, ntm_valid_device_id(id, n), 1, 1) || !r_check(&b, v, 0, nv - 1) ||
            !r_check(&b, k, 0, K - 1) || !r_check(&b, st, ST_NEVER, ST_OFFLINE) ||
            !r_check(&b, has_seg, 0, 1) || !r_check(&b, iv, 1, MAX_INTERVAL_S) ||
            !r_check(&b, s0, 0, tmax) || !r_check(&b, s1, s0, tmax) || !r_check(&b, fl, 0, tmax) ||
            !r_check(&b, cr, 0, tmax) || !r_check(&b, st == ST_ONLINE && !has_seg, 0, 0) ||
            vmap == NULL)
            break;
        if (vmap[v] < 0)
            continue; /* its village is no longer configured */
        struct dev *d = dev_find(t, id);
        if (d != NULL && (d->village != vmap[v] || d->kind != k))
            continue; /* the configuration moved it: it starts afresh */
        d = d ? d : dev_get(t, id, (uint16_t)vmap[v], k);
        if (d == NULL || loaded[d - t->devs]) {
            b.err = true; /* out of memory, or the same device twice */
            break;
        }
        loaded[d - t->devs] = 1;
        d->st = st;
        d->has_seg = has_seg;
        d->interval_s = iv;
        d->seg_start = s0;
        d->seg_end = s1;
        d->floor_ts = fl;
        d->credited = cr;
        d->today = today;
        d->day_online_s = day_on;
    }

    uint32_t nw = (uint32_t)r_uint(&b, 4);
    int64_t h_top = t->started && !b.err ? t->max_ts / HOUR_S : 0;
    if (!b.err) /* h_lo and max_ts are valid: at most MAX_SPAN_H + 1 hours, and the day */
        r_check(&b, nw, 0, t->started ? max64(0, h_top - t->h_lo + 1) + 1 : 0);
    bool day_seen = false;
    uint64_t hours_seen = 0; /* bit h - h_lo, h - h_lo < MAX_SPAN_H + 1 <= 64 */
    for (uint32_t i = 0; i < nw && !b.err; i++) {
        uint8_t period = (uint8_t)r_uint(&b, 1);
        int64_t num = r_i64(&b);
        if (!r_check(&b, period, 0, NTM_PERIOD_COUNT - 1))
            break;
        if (period == NTM_PERIOD_DAY) {
            if (!r_check(&b, num, t->d_lo, t->d_lo) || !r_check(&b, day_seen, 0, 0))
                break;
            day_seen = true;
            r_window(&b, t->day, vmap, nv, DAY_S);
        } else {
            if (!r_check(&b, num, t->h_lo, h_top) ||
                !r_check(&b, (hours_seen >> (num - t->h_lo)) & 1, 0, 0))
                break;
            hours_seen |= (uint64_t)1 << (num - t->h_lo);
            r_window(&b, hour_accs(t, num), vmap, nv, HOUR_S);
        }
    }
    free(vmap);
    free(loaded);
    if (b.err || b.off != b.n || ntm_hash64(p + HEADER_LEN, len - HEADER_LEN) != sum) {
        ntm_agg_free(t);
        return -1;
    }
    /* Devices made known to this engine before the load stay known. */
    for (size_t i = 0; i < a->n_devs; i++) {
        const struct dev *d = &a->devs[i];
        if (dev_find(t, d->id) == NULL && dev_get(t, d->id, d->village, d->kind) == NULL) {
            ntm_agg_free(t);
            return -1;
        }
    }
    t->arr_ms = mono_ms;
    t->next_lapse = INT64_MIN; /* recomputed at the next advance */
    swap_agg(a, t);
    ntm_agg_free(t);
    return 0;
}
