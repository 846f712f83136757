/* SPDX-License-Identifier: GPL-3.0-or-later */
/* aggregate.c: the indicator and alert engine of aggregate.h: its life cycle,
 * the watermark, and where each record goes (late, or folded into its open
 * hour). Windows and rows are agg_windows.c's, devices and availability
 * agg_devices.c's, the saved state agg_state.c's. No I/O, no clocks, no globals. */
#include <stdlib.h>
#include <string.h>

#include "agg_impl.h"

static const char *const alert_names[NTM_ALERT_COUNT] = {
    "tamper", "video_loss", "storage_error", "fault", "emergency_not_played", "offline", "online"};

const char *ntm_alert_type_name(enum ntm_alert_type t)
{
    return (unsigned)t < NTM_ALERT_COUNT ? alert_names[t] : "unknown";
}

bool ntm_agg_alloc_ring(struct ntm_agg *a, size_t cap_h)
{
    struct ntm_agg_acc *hours = calloc(cap_h * a->nacc, sizeof *hours);
    if (hours == NULL)
        return false;
    if (a->hours != NULL) {
        ntm_agg_acc_clear(a->hours, a->cap_h * a->nacc);
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
    a->nacc = a->nv * NTM_KIND_COUNT;
    a->grace_s = cfg->sync.grace_s < 0 ? 0 : cfg->sync.grace_s;
    if (a->grace_s > NTM_AGG_DAY_S)
        a->grace_s = NTM_AGG_DAY_S;
    a->next_lapse = INT64_MAX;
    a->day = calloc(a->nacc, sizeof *a->day);
    a->ndev = calloc(a->nacc, sizeof *a->ndev);
    if (a->day == NULL || a->ndev == NULL ||
        !ntm_agg_alloc_ring(a, (size_t)(a->grace_s / NTM_AGG_HOUR_S) + 3)) {
        ntm_agg_free(a);
        return NULL;
    }
    /* The declared devices (config.c rejects duplicate ids; only a lack of memory fails). */
    for (size_t i = 0; i < cfg->n_devices; i++) {
        const struct ntm_device_decl *dd = &cfg->devices[i];
        if (dd->village < a->nv && dd->kind < NTM_KIND_COUNT &&
            ntm_valid_device_id(dd->id, strnlen(dd->id, sizeof dd->id)) &&
            ntm_agg_dev_get(a, dd->id, dd->village, dd->kind) == NULL &&
            ntm_agg_dev_find(a, dd->id) == NULL) {
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
        ntm_agg_acc_clear(a->hours, a->cap_h * a->nacc);
    if (a->day != NULL)
        ntm_agg_acc_clear(a->day, a->nacc);
    free(a->hours);
    free(a->day);
    free(a->ndev);
    free(a->devs);
    free(a->idx);
    free(a);
}

static int64_t watermark(const struct ntm_agg *a, int64_t mono_ms)
{
    int64_t el = mono_ms > a->arr_ms ? (mono_ms - a->arr_ms) / 1000 : 0;
    if (el > NTM_AGG_TS_LIMIT)
        el = NTM_AGG_TS_LIMIT;
    return a->max_ts + el;
}

bool ntm_agg_add(struct ntm_agg *a, const struct ntm_record *rec, int64_t mono_ms)
{
    if (a == NULL || rec == NULL || rec->village >= a->nv || rec->kind >= NTM_KIND_COUNT ||
        !ntm_valid_device_id(rec->device, strnlen(rec->device, sizeof rec->device)))
        return false; /* not a record of this configuration: ignored */
    int64_t ts = rec->ts;
    if (ts < NTM_TS_MIN || ts >= NTM_AGG_TS_LIMIT) {
        a->late++;
        return true;
    }
    if (!a->started) {
        a->started = true;
        a->max_ts = ts;
        a->arr_ms = mono_ms;
        a->first_hour = a->h_lo = ts / NTM_AGG_HOUR_S;
        a->first_day = a->d_lo = ntm_local_day(ts);
    } else if (ts > a->max_ts && ts >= a->h_lo * NTM_AGG_HOUR_S) {
        a->max_ts = ts;
        a->arr_ms = mono_ms;
    }
    int64_t wm = watermark(a, mono_ms);
    ntm_agg_advance(a, wm);
    if (ts < a->h_lo * NTM_AGG_HOUR_S) {
        a->late++;
        return true;
    }
    ntm_agg_fold(a, rec, wm);
    return false;
}

void ntm_agg_tick(struct ntm_agg *a, int64_t mono_ms)
{
    if (a != NULL && a->started)
        ntm_agg_advance(a, watermark(a, mono_ms));
}

int64_t ntm_agg_watermark(const struct ntm_agg *a, int64_t mono_ms)
{
    return a != NULL && a->started ? watermark(a, mono_ms) : INT64_MIN;
}

uint64_t ntm_agg_late_total(const struct ntm_agg *a)
{
    return a != NULL ? a->late : 0;
}
