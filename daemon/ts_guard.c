/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ts_guard.c: the event-time estimate and the judgement of device clocks (see
 * ts_guard.h). Owns the claims of devices whose ts is ahead; must not log,
 * allocate or read a clock (the caller passes monotonic time). */
#include "ts_guard.h"

#include <stdio.h>
#include <string.h>

void ntm_ts_guard_seed(struct ntm_ts_guard *g, int64_t ts, int64_t mono_ms, bool history)
{
    memset(g, 0, sizeof *g);
    g->have = true;
    g->base_ts = ts;
    g->base_mono_ms = mono_ms;
    if (history) {
        g->last_dev[0][0] = '\x01';
        g->last_ms[0] = mono_ms;
    }
}

int64_t ntm_ts_guard_estimate(const struct ntm_ts_guard *g, int64_t mono_ms)
{
    int64_t el = mono_ms > g->base_mono_ms ? (mono_ms - g->base_mono_ms) / 1000 : 0;
    return g->base_ts + el;
}

void ntm_ts_guard_at_least(struct ntm_ts_guard *g, int64_t ts, int64_t mono_ms)
{
    if (g->have && ts > ntm_ts_guard_estimate(g, mono_ms)) {
        g->base_ts = ts;
        g->base_mono_ms = mono_ms;
    }
}

/* Notes that `device` spoke; returns whether another device spoke in the
 * last NTM_TS_GUARD_FRESH_MS before it. */
static bool heard(struct ntm_ts_guard *g, const char *device, int64_t mono_ms)
{
    bool other = false;
    for (int i = 0; i < 2; i++)
        if (g->last_dev[i][0] != '\0' && strcmp(g->last_dev[i], device) != 0 &&
            mono_ms - g->last_ms[i] <= NTM_TS_GUARD_FRESH_MS)
            other = true;
    if (strcmp(g->last_dev[0], device) != 0) {
        memcpy(g->last_dev[1], g->last_dev[0], sizeof g->last_dev[1]);
        g->last_ms[1] = g->last_ms[0];
        snprintf(g->last_dev[0], sizeof g->last_dev[0], "%s", device);
    }
    g->last_ms[0] = mono_ms;
    return other;
}

static bool first_outlier(struct ntm_ts_guard *g, const char *device)
{
    for (size_t i = 0; i < g->n_logged; i++)
        if (strcmp(g->logged[i], device) == 0)
            return false;
    if (g->n_logged < NTM_TS_GUARD_LOGGED)
        snprintf(g->logged[g->n_logged++], sizeof g->logged[0], "%s", device);
    return true; /* past the table: every time (the caller rate-limits) */
}

enum ntm_ts_verdict ntm_ts_guard_check(struct ntm_ts_guard *g, const char *device, int64_t ts,
                                       int64_t mono_ms, bool *first_log)
{
    *first_log = false;
    bool others = heard(g, device, mono_ms);
    if (!g->have) {
        ntm_ts_guard_seed(g, ts, mono_ms, false);
        return NTM_TS_BELIEVED;
    }
    int64_t est = ntm_ts_guard_estimate(g, mono_ms);
    if (ts <= est + NTM_TS_GUARD_AHEAD_S) {
        if (ts > est) {
            g->base_ts = ts;
            g->base_mono_ms = mono_ms;
        }
        return NTM_TS_BELIEVED;
    }
    /* ahead: this device's claim, then how many devices claim about as much */
    size_t keep = 0, mine = SIZE_MAX;
    for (size_t i = 0; i < g->n_claims; i++) {
        if (mono_ms - g->claims[i].mono_ms > NTM_TS_GUARD_FRESH_MS)
            continue;
        g->claims[keep] = g->claims[i];
        if (strcmp(g->claims[keep].device, device) == 0)
            mine = keep;
        keep++;
    }
    g->n_claims = keep;
    if (mine == SIZE_MAX) {
        if (g->n_claims == NTM_TS_GUARD_CLAIMS) { /* the oldest goes */
            memmove(g->claims, g->claims + 1, (NTM_TS_GUARD_CLAIMS - 1) * sizeof *g->claims);
            g->n_claims--;
        }
        mine = g->n_claims++;
        snprintf(g->claims[mine].device, sizeof g->claims[mine].device, "%s", device);
    }
    g->claims[mine].ts = ts;
    g->claims[mine].mono_ms = mono_ms;
    unsigned agree = 0;
    for (size_t i = 0; i < g->n_claims; i++) {
        /* the other claim, run on to now by monotonic time */
        int64_t then = g->claims[i].ts + (mono_ms - g->claims[i].mono_ms) / 1000;
        int64_t d = then > ts ? then - ts : ts - then;
        if (d <= NTM_TS_GUARD_AHEAD_S)
            agree++;
    }
    unsigned need = others ? 2 : 1;
    if (agree >= need) {
        g->base_ts = ts;
        g->base_mono_ms = mono_ms;
        g->n_claims = 0;
        return NTM_TS_BELIEVED;
    }
    g->outliers++;
    *first_log = first_outlier(g, device);
    return NTM_TS_OUTLIER;
}
