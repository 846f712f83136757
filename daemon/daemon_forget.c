/* SPDX-License-Identifier: GPL-3.0-or-later */
/* daemon_forget.c: applies the operator's `ntmctl forget` requests (rows of
 * forget_requests) on the loop: the device leaves the store, the aggregation
 * and the saved state in one transaction, and each is logged. It must not
 * decide what a device is (the store and the engine do) nor touch messages. */
#include <inttypes.h>
#include <string.h>

#include "daemon.h"

#define FORGET_BATCH 64

/* Its return will be said again as a new undeclared device (pipeline.c). */
static void unnote(struct ntm_daemon *d, const char *device)
{
    for (size_t i = 0; i < d->n_undeclared; i++) {
        if (strcmp(d->undeclared[i], device) != 0)
            continue;
        memmove(d->undeclared[i], d->undeclared[i + 1],
                (d->n_undeclared - i - 1) * sizeof d->undeclared[0]);
        d->n_undeclared--;
        return;
    }
}

static void log_result(struct ntm_daemon *d, const char *device, enum ntm_forget r)
{
    struct ntm_log_field f[] = {{"DEVICE", device}, {"RESULT", ntm_forget_name(r)}};
    if (r == NTM_FORGOTTEN)
        ntm_log_emit(&d->log, LOG_NOTICE, NULL, f, 2,
                     "forgot undeclared device %s at the operator's request (ntmctl forget): it "
                     "no longer counts in its village's figures from the next closed window, and "
                     "a message from it would make it a new undeclared device",
                     device);
    else if (r == NTM_FORGET_DECLARED)
        ntm_log_emit(&d->log, LOG_WARNING, NULL, f, 2,
                     "did not forget device %s (ntmctl forget): it is declared in %s; it stays "
                     "until it is removed from devices: there and the daemon restarted",
                     device, d->cfg->path);
    else
        ntm_log_emit(&d->log, LOG_WARNING, NULL, f, 2,
                     "did not forget device %s (ntmctl forget): no such device is known; "
                     "nothing changed",
                     device);
}

void ntm_daemon_forget_pending(struct ntm_daemon *d)
{
    /* the state saved with the forget must cover every message folded so far:
     * none may wait outside the database (a checkpoint, a failed write), or a
     * restart would replay the device back. Such a moment passes: tried at
     * the next sync tick. */
    if (!d->agg || !ntm_store_snapshot_ok(d->store))
        return;
    struct ntm_forget_request req[FORGET_BATCH];
    int n = ntm_store_forget_pending(d->store, req, FORGET_BATCH);
    if (n <= 0)
        return;
    /* the messages before the forget are committed on their own: what the
     * tail journal brings back after a crash is after the saved state */
    if (ntm_store_commit(d->store) != 0)
        return;
    int64_t now = ntm_clock_wall_ms(&d->clock);
    for (int i = 0; i < n; i++) {
        enum ntm_forget r;
        if (ntm_store_forget_device(d->store, req[i].device, &r) != 0)
            break; /* the write failed: the request waits */
        /* the engine may still hold one the store forgot in a run cut short */
        if (r != NTM_FORGET_DECLARED && ntm_agg_forget_device(d->agg, req[i].device) == 0)
            r = NTM_FORGOTTEN;
        if (r == NTM_FORGOTTEN)
            unnote(d, req[i].device);
        if (ntm_store_forget_done(d->store, req[i].id, r, now) != 0)
            break;
        log_result(d, req[i].device, r);
    }
    /* the saved state without them, in the same transaction as the forget
     * (when that cannot be, it is due still: saved at the next tick) */
    d->snapshot_due = true;
    ntm_daemon_save_snapshot(d);
    ntm_store_commit(d->store);
}
