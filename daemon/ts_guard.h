/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ts_guard.h: no single device's clock moves event time far ahead. Keeps the
 * gateway's estimate of the current event time (the newest believed ts, run on
 * by monotonic time) and judges each device ts against it: one more than
 * NTM_TS_GUARD_AHEAD_S ahead is believed only when another device's clock
 * says the same (or when no other device spoke lately). Pure: no I/O. */
#ifndef NTM_TS_GUARD_H
#define NTM_TS_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define NTM_TS_GUARD_AHEAD_S 600      /* as far ahead of the estimate as a ts may be */
#define NTM_TS_GUARD_FRESH_MS 3600000 /* a claim or a device older than this is forgotten */
#define NTM_TS_GUARD_CLAIMS 16
#define NTM_TS_GUARD_LOGGED 64 /* devices whose first outlier was logged */

struct ntm_ts_guard_claim {
    char device[NTM_DEVICE_ID_MAX + 1];
    int64_t ts, mono_ms;
};

struct ntm_ts_guard {
    bool have;
    int64_t base_ts, base_mono_ms; /* the estimate: base_ts + (mono - base_mono) / 1000 */
    /* the two latest distinct devices heard, and when (monotonic ms); "\x01"
     * stands for the devices of the previous run, when the buffer had data */
    char last_dev[2][NTM_DEVICE_ID_MAX + 1];
    int64_t last_ms[2];
    struct ntm_ts_guard_claim claims[NTM_TS_GUARD_CLAIMS]; /* ts ahead, not yet confirmed */
    size_t n_claims;
    char logged[NTM_TS_GUARD_LOGGED][NTM_DEVICE_ID_MAX + 1];
    size_t n_logged;
    uint64_t outliers; /* ts not believed, in all */
};

/* Starts the estimate at `ts` (the gateway clock, or the saved watermark when
 * later). history: the buffer had messages (their devices count as heard now,
 * so that the first device after a restart cannot jump alone). */
void ntm_ts_guard_seed(struct ntm_ts_guard *g, int64_t ts, int64_t mono_ms, bool history);

/* The gateway's estimate of the current event time (Unix s). */
int64_t ntm_ts_guard_estimate(const struct ntm_ts_guard *g, int64_t mono_ms);

/* The gateway's own clock, when synchronized, is a floor for the estimate. */
void ntm_ts_guard_at_least(struct ntm_ts_guard *g, int64_t ts, int64_t mono_ms);

enum ntm_ts_verdict {
    NTM_TS_BELIEVED, /* within the estimate, or ahead and confirmed by another device */
    NTM_TS_OUTLIER,  /* ahead, and no other device says so: not believed */
};

/* Judges `device`'s ts: one ahead needs another device's agreement when
 * another device was heard in the last NTM_TS_GUARD_FRESH_MS (else the only
 * clock there is, is believed). *first_log: true when this is the first outlier of
 * this device (to be logged once). */
enum ntm_ts_verdict ntm_ts_guard_check(struct ntm_ts_guard *g, const char *device, int64_t ts,
                                       int64_t mono_ms, bool *first_log);

#endif
