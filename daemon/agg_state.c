/* SPDX-License-Identifier: GPL-3.0-or-later */
/* agg_state.c: ntm_agg_save and ntm_agg_load, the versioned binary form of the
 * aggregation engine's whole state, which the daemon keeps in its database and
 * restores at start. It only encodes and checks; what the fields mean is the
 * engine's (agg_impl.h). The format must not change without a new version. */
#include <stdlib.h>
#include <string.h>

#include "agg_impl.h"
#include "hash.h"

/*
 * The format, version 2. Integers are little-endian, signed ones two's
 * complement; a string is u8 length (at least 1) then its bytes, no NUL.
 *
 * header (NTM_AGG_STATE_HEADER_LEN = 28 bytes)
 *   0   8 bytes  magic "NTMAGGST"
 *   8   u32      version: 2 (version 1 is still read, see the device entry)
 *   12  u64      body length: the bytes after the header, exactly
 *   20  u64      checksum: ntm_hash64 (hash.h: FNV-1a 64) of the body
 * body
 *   u32 grace_s   sync.grace_s when saved (informational: not read back)
 *   u32 n_villages (1..65536), each: string village id. Villages are referred
 *                 to below by their index in this list and mapped back to the
 *                 configured ones by id; those no longer configured are dropped
 *   u8  n_kinds   3 (NTM_KIND_COUNT)
 *   u8  started   1 once a record was folded, else 0 (and the six below are 0)
 *   i64 max_ts    largest ts folded (Unix s); the watermark resumes from it
 *   u64 late      records counted as late so far
 *   i64 first_hour, i64 first_day   hour (ts / 3600) and local day of the first record
 *   i64 h_lo, i64 d_lo              oldest open hour and local day
 *   u32 n_devices, each:
 *       string id; u16 village (index above); u8 kind; u8 state (0 never seen,
 *       1 online, 2 offline); u8 has_seg (0/1); u32 interval_s (1..86400);
 *       i64 seg_start, i64 seg_end (the current or last online segment);
 *       i64 floor_ts (earlier availability records are ignored);
 *       i64 credited (online time before it is in the windows);
 *       version 2 only: i64 today (a local day), i64 day_online_s (0..86400),
 *       the device's online seconds of that day (a version-1 blob loads with 0)
 *   u32 n_windows: when started, one per open hour from h_lo to the hour of
 *       max_ts, in order, then the open day; 0 when not started. Each:
 *       u8 period (0 hour, 1 day); i64 number (hour ts / 3600, or local day);
 *       u32 n_acc, the village x kind accumulators that are not all zero, each:
 *           u16 village (index above); u8 kind; u16 n_fields (15);
 *           i64 online_s (device-seconds online); i64 bcast_ms (broadcast ms);
 *           u64 n_bcast, n_played, n_failed, n_emerg, n_fault, n_motion,
 *               n_tamper, n_vloss, n_stats, n_rec, sessions, peak, traffic;
 *           u32 n_hashes, then that many u64 client hashes in ascending order
 *
 * So save(load(x)) == x. ntm_agg_load checks every field against the ranges
 * above and the engine's invariants (no village, device or window twice, at
 * most NTM_AGG_STATE_MAX_SPAN_H + 1 hours, counters that cannot overflow when
 * summed into the day, no byte left over) and refuses the whole blob on any
 * failure, leaving the engine as it was.
 */

#define NTM_AGG_STATE_MAGIC "NTMAGGST"
#define NTM_AGG_STATE_VERSION 2u
#define NTM_AGG_STATE_HEADER_LEN 28
#define NTM_AGG_STATE_BODY_LEN_AT 12
#define NTM_AGG_STATE_CHECKSUM_AT 20
/* u64 counters of an accumulator, and its numbers in all (with online_s, bcast_ms) */
#define NTM_AGG_STATE_COUNTERS 13
#define NTM_AGG_STATE_ACC_FIELDS (2 + NTM_AGG_STATE_COUNTERS)
/* the counters summed into the day (n_bcast .. n_rec), kept below 2^56 on load */
#define NTM_AGG_STATE_SUMMED_COUNTERS 10
/* Most hours a saved state may hold between its oldest open hour and its max ts. */
#define NTM_AGG_STATE_MAX_SPAN_H 63
_Static_assert(NTM_AGG_STATE_MAX_SPAN_H < 64, "the hours read are marked in a uint64_t");
/* The smallest device entry (an id of 1 byte), in versions 1 and 2. */
#define NTM_AGG_STATE_DEV_MIN_V1 43
#define NTM_AGG_STATE_DEV_MIN_V2 59

/* ---- writing ---- */

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

static void w_window(struct wbuf *b, uint8_t period, int64_t number, const struct ntm_agg_acc *accs,
                     size_t nacc)
{
    uint32_t n = 0;
    for (size_t i = 0; i < nacc; i++)
        n += !ntm_agg_acc_empty(&accs[i]);
    w_u8(b, period);
    w_i64(b, number);
    w_u32(b, n);
    for (size_t i = 0; i < nacc; i++) {
        const struct ntm_agg_acc *w = &accs[i];
        if (ntm_agg_acc_empty(w))
            continue;
        w_u16(b, i / NTM_KIND_COUNT);
        w_u8(b, i % NTM_KIND_COUNT);
        w_u16(b, NTM_AGG_STATE_ACC_FIELDS);
        w_i64(b, w->online_s);
        w_i64(b, w->bcast_ms);
        const uint64_t c[NTM_AGG_STATE_COUNTERS] = {
            w->n_bcast, w->n_played, w->n_failed, w->n_emerg,  w->n_fault, w->n_motion, w->n_tamper,
            w->n_vloss, w->n_stats,  w->n_rec,    w->sessions, w->peak,    w->traffic};
        for (int j = 0; j < NTM_AGG_STATE_COUNTERS; j++)
            w_u64(b, c[j]);
        uint64_t *hs;
        size_t k;
        if (!ntm_client_set_sorted(&w->macs, &hs, &k)) { /* sorted: save(load(x)) == x */
            b->err = true;
            return;
        }
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
    w_bytes(&b, NTM_AGG_STATE_MAGIC, 8);
    w_u32(&b, NTM_AGG_STATE_VERSION);
    w_u64(&b, 0); /* body length and checksum, filled in below */
    w_u64(&b, 0);
    w_u32(&b, (uint64_t)a->grace_s);
    w_u32(&b, a->nv);
    for (size_t v = 0; v < a->nv; v++)
        w_str(&b, a->cfg->villages[v].id);
    w_u8(&b, NTM_KIND_COUNT);
    w_u8(&b, a->started);
    w_i64(&b, a->max_ts);
    w_u64(&b, a->late);
    w_i64(&b, a->first_hour);
    w_i64(&b, a->first_day);
    w_i64(&b, a->h_lo);
    w_i64(&b, a->d_lo);
    w_u32(&b, a->n_devs);
    for (size_t i = 0; i < a->n_devs; i++) {
        const struct ntm_agg_dev *d = &a->devs[i];
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
    int64_t h_top = a->started ? a->max_ts / NTM_AGG_HOUR_S : a->h_lo - 1;
    uint32_t n_windows = a->started ? (uint32_t)ntm_agg_max64(0, h_top - a->h_lo + 1) + 1 : 0;
    w_u32(&b, n_windows);
    if (a->started) {
        for (int64_t h = a->h_lo; h <= h_top; h++)
            w_window(&b, NTM_PERIOD_HOUR, h, ntm_agg_hour_accs(a, h), a->nacc);
        w_window(&b, NTM_PERIOD_DAY, a->d_lo, a->day, a->nacc);
    }
    if (b.err) {
        free(b.p);
        return -1;
    }
    uint64_t body = b.n - NTM_AGG_STATE_HEADER_LEN;
    uint64_t sum = ntm_hash64(b.p + NTM_AGG_STATE_HEADER_LEN, body);
    for (int i = 0; i < 8; i++) {
        b.p[NTM_AGG_STATE_BODY_LEN_AT + i] = (uint8_t)(body >> (8 * i));
        b.p[NTM_AGG_STATE_CHECKSUM_AT + i] = (uint8_t)(sum >> (8 * i));
    }
    *blob = b.p;
    *len = b.n;
    return 0;
}

/* ---- reading ---- */

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

/* Reads one window's accumulators into accs (NULL: validated, then dropped).
 * vmap maps the blob's village indexes to the configured ones (-1: dropped). */
static void r_window(struct rbuf *b, struct ntm_agg_acc *accs, const int *vmap, uint32_t nv_saved,
                     int64_t len)
{
    uint32_t n = (uint32_t)r_uint(b, 4);
    if (vmap == NULL) /* only after an earlier error: nothing to map to */
        b->err = true;
    if (!r_check(b, n, 0, (int64_t)nv_saved * NTM_KIND_COUNT))
        return;
    for (uint32_t i = 0; i < n && !b->err; i++) {
        uint32_t v = (uint32_t)r_uint(b, 2);
        uint8_t k = (uint8_t)r_uint(b, 1);
        uint16_t nf = (uint16_t)r_uint(b, 2);
        if (!r_check(b, v, 0, (int64_t)nv_saved - 1) || !r_check(b, k, 0, NTM_KIND_COUNT - 1) ||
            !r_check(b, nf, NTM_AGG_STATE_ACC_FIELDS, NTM_AGG_STATE_ACC_FIELDS))
            return;
        struct ntm_agg_acc tmp = {0};
        struct ntm_agg_acc *w =
            vmap[v] >= 0 && accs ? &accs[(size_t)vmap[v] * NTM_KIND_COUNT + k] : &tmp;
        if (w != &tmp && !ntm_agg_acc_empty(w)) {
            b->err = true; /* the same village and kind twice */
            return;
        }
        w->online_s = r_i64(b);
        w->bcast_ms = r_i64(b);
        uint64_t *c[NTM_AGG_STATE_COUNTERS] = {&w->n_bcast, &w->n_played, &w->n_failed, &w->n_emerg,
                                               &w->n_fault, &w->n_motion, &w->n_tamper, &w->n_vloss,
                                               &w->n_stats, &w->n_rec,    &w->sessions, &w->peak,
                                               &w->traffic};
        for (int j = 0; j < NTM_AGG_STATE_COUNTERS; j++)
            *c[j] = r_uint(b, 8);
        if (!r_check(b, w->online_s, 0, len * (int64_t)UINT32_MAX) ||
            !r_check(b, w->bcast_ms, 0, INT64_MAX / 4) ||
            !r_check(b,
                     w->n_played + w->n_failed <= w->n_bcast && w->n_emerg <= w->n_bcast &&
                         w->n_rec <= w->n_stats,
                     1, 1))
            return;
        /* Counters could overflow when summed into the day: keep them sane. */
        for (int j = 0; j < NTM_AGG_STATE_SUMMED_COUNTERS; j++)
            if (!r_check(b, *c[j] > (UINT64_MAX >> 8) ? -1 : 0, 0, 0))
                return;
        uint32_t nh = (uint32_t)r_uint(b, 4);
        if (!r_check(b, nh, 0, (int64_t)((b->n - b->off) / 8)))
            return;
        for (uint32_t j = 0; j < nh; j++) {
            if (!ntm_client_set_add(&w->macs, r_uint(b, 8))) {
                b->err = true;
                break;
            }
        }
        if (w == &tmp)
            ntm_client_set_free(&tmp.macs);
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
    if (a == NULL || blob == NULL || len < NTM_AGG_STATE_HEADER_LEN)
        return -1;
    const uint8_t *p = blob;
    struct rbuf h = {.p = p, .n = len, .off = 8};
    if (memcmp(p, NTM_AGG_STATE_MAGIC, 8) != 0)
        return -1;
    uint64_t version = r_uint(&h, 4);
    if ((version != 1 && version != NTM_AGG_STATE_VERSION) ||
        r_uint(&h, 8) != len - NTM_AGG_STATE_HEADER_LEN)
        return -1;
    uint64_t sum = r_uint(&h, 8);

    struct ntm_agg *t = ntm_agg_new(a->cfg, &a->sink);
    if (t == NULL)
        return -1;
    struct rbuf b = {.p = p, .n = len, .off = NTM_AGG_STATE_HEADER_LEN};
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
    r_check(&b, (int64_t)r_uint(&b, 1), NTM_KIND_COUNT, NTM_KIND_COUNT);
    uint8_t started = (uint8_t)r_uint(&b, 1);
    t->max_ts = r_i64(&b);
    t->late = r_uint(&b, 8);
    t->first_hour = r_i64(&b);
    t->first_day = r_i64(&b);
    t->h_lo = r_i64(&b);
    t->d_lo = r_i64(&b);
    if (r_check(&b, started, 0, 1) && started) {
        t->started = true;
        const int64_t hour_max = NTM_AGG_TS_LIMIT / NTM_AGG_HOUR_S;
        if (r_check(&b, t->max_ts, NTM_TS_MIN, NTM_AGG_TS_LIMIT - 1) &&
            r_check(&b, t->first_hour, NTM_TS_MIN / NTM_AGG_HOUR_S, t->max_ts / NTM_AGG_HOUR_S) &&
            r_check(&b, t->first_day, ntm_local_day(t->first_hour * NTM_AGG_HOUR_S),
                    ntm_local_day(t->first_hour * NTM_AGG_HOUR_S)) &&
            r_check(&b, t->h_lo, t->first_hour, hour_max) &&
            r_check(&b, t->h_lo, t->max_ts / NTM_AGG_HOUR_S - NTM_AGG_STATE_MAX_SPAN_H, hour_max) &&
            r_check(&b, t->d_lo, ntm_local_day(t->h_lo * NTM_AGG_HOUR_S),
                    ntm_local_day(t->h_lo * NTM_AGG_HOUR_S))) {
            /* Room for the saved hours plus those the current grace keeps open. */
            int64_t span = t->max_ts / NTM_AGG_HOUR_S - t->h_lo + 1;
            if (span > 0 && !ntm_agg_alloc_ring(t, (size_t)span + t->cap_h))
                b.err = true;
        }
    } else {
        r_check(&b, t->max_ts | t->first_hour | t->first_day | t->h_lo | t->d_lo, 0, 0);
    }

    uint32_t nd = (uint32_t)r_uint(&b, 4);
    r_check(&b, nd, 0,
            (int64_t)((b.n - b.off) /
                      (version == 1 ? NTM_AGG_STATE_DEV_MIN_V1 : NTM_AGG_STATE_DEV_MIN_V2)));
    size_t n0 = t->n_devs;
    free(loaded); /* per configured village above, per device of t from here */
    loaded = b.err ? NULL : calloc(n0 + nd + 1, 1);
    if (loaded == NULL)
        b.err = true;
    const int64_t tmax =
        NTM_AGG_TS_LIMIT + NTM_AGG_LAPSE_INTERVALS * (int64_t)NTM_HEARTBEAT_INTERVAL_MAX_S;
    for (uint32_t i = 0; i < nd && !b.err; i++) {
        char id[NTM_DEVICE_ID_MAX + 1];
        size_t n = r_str(&b, id, NTM_DEVICE_ID_MAX);
        uint32_t v = (uint32_t)r_uint(&b, 2);
        uint8_t k = (uint8_t)r_uint(&b, 1), st = (uint8_t)r_uint(&b, 1);
        uint8_t has_seg = (uint8_t)r_uint(&b, 1);
        int32_t iv = (int32_t)(uint32_t)r_uint(&b, 4);
        int64_t s0 = r_i64(&b), s1 = r_i64(&b), fl = r_i64(&b), cr = r_i64(&b);
        int64_t today = version == 1 ? 0 : r_i64(&b), day_on = version == 1 ? 0 : r_i64(&b);
        if (!r_check(&b, today, 0, NTM_AGG_TS_LIMIT / NTM_AGG_DAY_S + 1) ||
            !r_check(&b, day_on, 0, NTM_AGG_DAY_S))
            break;
        if (!r_check(&b, ntm_valid_device_id(id, n), 1, 1) || !r_check(&b, v, 0, nv - 1) ||
            !r_check(&b, k, 0, NTM_KIND_COUNT - 1) ||
            !r_check(&b, st, NTM_AGG_NEVER_SEEN, NTM_AGG_OFFLINE) || !r_check(&b, has_seg, 0, 1) ||
            !r_check(&b, iv, 1, NTM_HEARTBEAT_INTERVAL_MAX_S) || !r_check(&b, s0, 0, tmax) ||
            !r_check(&b, s1, s0, tmax) || !r_check(&b, fl, 0, tmax) || !r_check(&b, cr, 0, tmax) ||
            !r_check(&b, st == NTM_AGG_ONLINE && !has_seg, 0, 0) || vmap == NULL)
            break;
        if (vmap[v] < 0)
            continue; /* its village is no longer configured */
        struct ntm_agg_dev *d = ntm_agg_dev_find(t, id);
        if (d != NULL && (d->village != vmap[v] || d->kind != k))
            continue; /* the configuration moved it: it starts afresh */
        d = d ? d : ntm_agg_dev_get(t, id, (uint16_t)vmap[v], k);
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
    int64_t h_top = t->started && !b.err ? t->max_ts / NTM_AGG_HOUR_S : 0;
    /* h_lo and max_ts are valid: at most NTM_AGG_STATE_MAX_SPAN_H + 1 hours, and the day */
    if (!b.err)
        r_check(&b, nw, 0, t->started ? ntm_agg_max64(0, h_top - t->h_lo + 1) + 1 : 0);
    bool day_seen = false;
    uint64_t hours_seen = 0; /* bit h - h_lo; h - h_lo <= NTM_AGG_STATE_MAX_SPAN_H < 64 */
    for (uint32_t i = 0; i < nw && !b.err; i++) {
        uint8_t period = (uint8_t)r_uint(&b, 1);
        int64_t num = r_i64(&b);
        if (!r_check(&b, period, 0, NTM_PERIOD_COUNT - 1))
            break;
        if (period == NTM_PERIOD_DAY) {
            if (!r_check(&b, num, t->d_lo, t->d_lo) || !r_check(&b, day_seen, 0, 0))
                break;
            day_seen = true;
            r_window(&b, t->day, vmap, nv, NTM_AGG_DAY_S);
        } else {
            if (!r_check(&b, num, t->h_lo, h_top) ||
                !r_check(&b, (hours_seen >> (num - t->h_lo)) & 1, 0, 0))
                break;
            hours_seen |= (uint64_t)1 << (num - t->h_lo);
            r_window(&b, ntm_agg_hour_accs(t, num), vmap, nv, NTM_AGG_HOUR_S);
        }
    }
    free(vmap);
    free(loaded);
    if (b.err || b.off != b.n ||
        ntm_hash64(p + NTM_AGG_STATE_HEADER_LEN, len - NTM_AGG_STATE_HEADER_LEN) != sum) {
        ntm_agg_free(t);
        return -1;
    }
    /* Devices made known to this engine before the load stay known. */
    for (size_t i = 0; i < a->n_devs; i++) {
        const struct ntm_agg_dev *d = &a->devs[i];
        if (ntm_agg_dev_find(t, d->id) == NULL &&
            ntm_agg_dev_get(t, d->id, d->village, d->kind) == NULL) {
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
