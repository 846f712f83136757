/* SPDX-License-Identifier: GPL-3.0-or-later */
/* agg_impl.h: the inside of the aggregation engine (struct ntm_agg), shared by its
 * files only: aggregate.c (life cycle, the watermark), agg_windows.c (windows and
 * rows), agg_devices.c (device table, availability) and agg_state.c (save/load).
 * Nothing outside them includes it; the rest of the daemon uses aggregate.h. */
#ifndef NTM_AGG_IMPL_H
#define NTM_AGG_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agg_clients.h"
#include "aggregate.h"

#define NTM_AGG_HOUR_S 3600
#define NTM_AGG_DAY_S 86400
/* A record is placed in a window only when its ts is in [NTM_TS_MIN,
 * NTM_AGG_TS_LIMIT), else counted as late. Ingest replaces a device ts before
 * NTM_TS_MIN by the receive time, so an earlier one can only come from a gateway
 * whose own clock is unset. */
#define NTM_AGG_TS_LIMIT ((int64_t)1 << 40)
/* A device is online for this many heartbeat intervals after a sign of life. */
#define NTM_AGG_LAPSE_INTERVALS 3
/* How far back before the watermark a quiet window (no sign of life, no
 * event, no stats in any village) still gets its rows: a device's stored
 * backlog of the last week is replayed in full, but one message stamped at a
 * firmware's epoch does not make years of zero rows. Such windows are closed
 * without rows and counted (quiet_skipped). */
#define NTM_AGG_QUIET_BACK_S (7 * 86400)

/* What one open window holds for one village and kind. */
struct ntm_agg_acc {
    int64_t online_s; /* device-seconds online in the window */
    int64_t bcast_ms; /* duration of played + interrupted broadcasts, ms */
    uint64_t n_bcast, n_played, n_failed, n_emerg, n_fault;
    uint64_t n_motion, n_tamper, n_vloss, n_stats, n_rec;
    uint64_t sessions, peak, traffic;
    struct ntm_client_set macs;
};

/* A device's state for `online`/`offline` alerts. */
enum ntm_agg_dev_state { NTM_AGG_NEVER_SEEN, NTM_AGG_ONLINE, NTM_AGG_OFFLINE };

struct ntm_agg_dev {
    char id[NTM_DEVICE_ID_MAX + 1];
    uint16_t village;
    uint8_t kind;
    uint8_t st; /* enum ntm_agg_dev_state */
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

    size_t cap_h;              /* ring slots; hour h lives in slot h % cap_h */
    struct ntm_agg_acc *hours; /* cap_h * nacc */
    struct ntm_agg_acc *day;   /* nacc */
    uint32_t *ndev;            /* devices per village x kind */

    struct ntm_agg_dev *devs;
    size_t n_devs, cap_devs;
    uint32_t *idx; /* device index + 1, 0 = empty; idx_cap a power of 2 */
    size_t idx_cap;
    int64_t next_lapse;     /* no online device lapses before this (a lower bound) */
    uint64_t quiet_skipped; /* windows closed without rows (NTM_AGG_QUIET_BACK_S) */
};

static inline int64_t ntm_agg_min64(int64_t x, int64_t y)
{
    return x < y ? x : y;
}

static inline int64_t ntm_agg_max64(int64_t x, int64_t y)
{
    return x > y ? x : y;
}

/* Unix time of the start of local day d. */
static inline int64_t ntm_agg_day_start(int64_t d)
{
    return d * NTM_AGG_DAY_S - NTM_TZ_OFFSET_S;
}

/* The accumulators (nacc of them) of open hour h. */
static inline struct ntm_agg_acc *ntm_agg_hour_accs(const struct ntm_agg *a, int64_t h)
{
    return a->hours + (size_t)(h % (int64_t)a->cap_h) * a->nacc;
}

/* aggregate.c */
/* Replaces the hour ring by an empty one of cap_h slots. False when out of memory. */
bool ntm_agg_alloc_ring(struct ntm_agg *a, size_t cap_h);

/* agg_windows.c */
void ntm_agg_acc_clear(struct ntm_agg_acc *w, size_t n);
bool ntm_agg_acc_empty(const struct ntm_agg_acc *w);
/* Folds a record whose hour is open, at watermark wm. */
void ntm_agg_fold(struct ntm_agg *a, const struct ntm_record *rec, int64_t wm);
/* Emits the lapses and closes the windows that the watermark wm passed. */
void ntm_agg_advance(struct ntm_agg *a, int64_t wm);

/* agg_devices.c */
struct ntm_agg_dev *ntm_agg_dev_find(const struct ntm_agg *a, const char *id);
/* The device, added when new. NULL when out of memory, or when the id is known
 * under another village or kind (ingest rejects those as device_conflict). */
struct ntm_agg_dev *ntm_agg_dev_get(struct ntm_agg *a, const char *id, uint16_t village,
                                    uint8_t kind);
void ntm_agg_emit_alert(struct ntm_agg *a, const struct ntm_agg_dev *d, int64_t ts,
                        enum ntm_alert_type t, const char *detail);
/* Credits the device's online time before `upto` to the open hours. */
void ntm_agg_credit(struct ntm_agg *a, struct ntm_agg_dev *d, int64_t upto);
/* `offline` alerts, in time order, for the online devices whose segment ended
 * at or before the watermark. */
void ntm_agg_scan_lapses(struct ntm_agg *a, int64_t wm);
/* What a record (of an open hour, at watermark wm) says of its device's
 * availability: an explicit offline, or a sign of life. *d is the device, added
 * when new, or NULL when memory ran out (the record still counts). Returns false,
 * and changes nothing, when the id is known under another village or kind. */
bool ntm_agg_dev_record(struct ntm_agg *a, const struct ntm_record *rec, int64_t wm,
                        struct ntm_agg_dev **d);

#endif
