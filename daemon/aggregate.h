/* SPDX-License-Identifier: GPL-3.0-or-later */
/* aggregate.h: village indicators by hour and local day, and alerts, from the
 * stream of accepted records (the rules users see are in README.md,
 * "Indicators, alerts and batches").
 *
 * A pure engine: no I/O, no clocks of its own, no logging. The caller feeds
 * records in acceptance order with the gateway's monotonic time of arrival,
 * ticks it, and receives rows and alerts through the sink. Its whole state
 * can be saved to and restored from a byte string, so that a run killed and
 * restarted mid-hour (state restored, then the records accepted since the
 * save fed again in the same order) yields the same rows as one that ran on. */
#ifndef NTM_AGGREGATE_H
#define NTM_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "record.h"

enum ntm_period { NTM_PERIOD_HOUR, NTM_PERIOD_DAY, NTM_PERIOD_COUNT };

struct ntm_indicator_row {
    uint16_t village;   /* index into cfg->villages */
    uint8_t kind;       /* enum ntm_kind */
    uint8_t period;     /* enum ntm_period */
    int64_t start, end; /* Unix s; local (+07:00) clock hours / days */
    const char *name;   /* "uptime_pct", "broadcasts", ... (static strings) */
    const char *unit;   /* "%", "count", "min", "MB" */
    double value;       /* percentages and MB rounded to 2 decimals */
    uint32_t devices;   /* devices of that kind in that village */
};

enum ntm_alert_type {
    NTM_ALERT_TAMPER,
    NTM_ALERT_VIDEO_LOSS,
    NTM_ALERT_STORAGE_ERROR,
    NTM_ALERT_FAULT,
    NTM_ALERT_EMERGENCY_NOT_PLAYED,
    NTM_ALERT_OFFLINE,
    NTM_ALERT_ONLINE,
    NTM_ALERT_COUNT
};
const char *ntm_alert_type_name(enum ntm_alert_type t); /* "tamper", ..., "online" */

struct ntm_alert {
    int64_t ts; /* event time, Unix s */
    uint16_t village;
    uint8_t kind;
    uint8_t type; /* enum ntm_alert_type */
    const char *device;
    const char *detail; /* the fault's name for `fault`, NULL otherwise */
};

struct ntm_agg_sink {
    void *arg;
    /* One row of a window that just closed. All rows of a window come in one
     * burst, followed by window_closed() for that window. */
    void (*row)(void *arg, const struct ntm_indicator_row *row);
    void (*window_closed)(void *arg, enum ntm_period p, int64_t start, int64_t end);
    void (*alert)(void *arg, const struct ntm_alert *alert);
};

struct ntm_agg;

/* Devices: every device declared in cfg, plus those added with
 * ntm_agg_add_device() (the ones seen since the database was created). */
struct ntm_agg *ntm_agg_new(const struct ntm_config *cfg, const struct ntm_agg_sink *sink);
void ntm_agg_free(struct ntm_agg *a);
/* Makes a device known (idempotent); a device first seen in a message is also
 * added by ntm_agg_add() itself. */
int ntm_agg_add_device(struct ntm_agg *a, const char *device, uint16_t village, uint8_t kind);

/* Forgets a device (ntmctl forget): it leaves the table and its village's
 * `devices` figure, and its online time leaves the open day (an open hour may
 * keep the seconds of a segment it ended before, see agg_devices.c; the event
 * counts keep what it sent). Rows already formed are not changed. A record of
 * it folded later makes it a new device. 0, or -1 when it is not known. */
int ntm_agg_forget_device(struct ntm_agg *a, const char *device);

/* Folds one accepted record that arrived at monotonic time mono_ms. Returns
 * true when the record is late (its hour window had closed): it is then only
 * counted (ntm_agg_late_total) and not used at all. May emit alerts, and rows
 * of windows the new watermark closes. */
bool ntm_agg_add(struct ntm_agg *a, const struct ntm_record *rec, int64_t mono_ms);
/* Advances the watermark by the monotonic time passed: closes windows whose
 * end + grace it passed (emitting rows) and emits `offline` alerts for devices
 * whose availability lapsed. Call at least once a second. */
void ntm_agg_tick(struct ntm_agg *a, int64_t mono_ms);

/* The watermark (Unix s), or INT64_MIN before the first record. */
int64_t ntm_agg_watermark(const struct ntm_agg *a, int64_t mono_ms);
uint64_t ntm_agg_late_total(const struct ntm_agg *a);
/* Online state for `ntmctl devices`: 1 online, 0 offline, -1 unknown device. */
int ntm_agg_device_online(const struct ntm_agg *a, const char *device, int64_t mono_ms);

/* The device's online share of the local day so far (midnight to the
 * watermark), in %, for `ntmctl devices`. 0, or -1 for an unknown device. */
int ntm_agg_device_uptime_today(const struct ntm_agg *a, const char *device, int64_t mono_ms,
                                double *pct);

/* Saves the whole state (watermark as max ts, open windows, device
 * availability, late count) as a self-describing byte string (malloc'd). */
int ntm_agg_save(const struct ntm_agg *a, void **blob, size_t *len);
/* Restores a saved state into a fresh engine (made with the same config);
 * the watermark resumes at the saved max ts, with mono_ms as "now".
 * Returns 0, or -1 when the blob is not a valid state (then the engine is unchanged). */
int ntm_agg_load(struct ntm_agg *a, const void *blob, size_t len, int64_t mono_ms);

#endif
