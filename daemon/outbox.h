/* outbox.h: the rows of closed windows and the alerts, waiting for a batch,
 * and the forming of batches (ntm.sync.v1 JSON, at most 256 KiB, a seq that is
 * never reused) in the buffer's transaction. Sending is sync.c's business. */
#ifndef NTM_OUTBOX_H
#define NTM_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "aggregate.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "store.h"

#define NTM_BATCH_MAX_BYTES (256 * 1024)

struct ntm_outbox;

struct ntm_health {
    int64_t uptime_s;
    uint64_t buffered_messages, pending_batches, rejected_total, dropped_total, late_total;
};

/* `uplinks` are the delivery cursors' names (one deliveries row per batch each). */
/* Batch times (created_at, batches.created_ms) and clock_synced come from `clock`,
 * the daemon's one clock, which the caller refreshes. */
int ntm_outbox_new(struct ntm_outbox **out, struct ntm_store *st, const struct ntm_config *cfg,
                   struct ntm_log *log, struct ntm_clock *clock, const char *const *uplinks,
                   size_t n_uplinks, char *err, size_t errlen);
void ntm_outbox_free(struct ntm_outbox *ob);

/* aggregate sink targets: rows and alerts join the open transaction */
void ntm_outbox_add_row(struct ntm_outbox *ob, const struct ntm_indicator_row *row);
void ntm_outbox_add_alert(struct ntm_outbox *ob, const struct ntm_alert *a);
void ntm_outbox_day_closed(struct ntm_outbox *ob, int64_t day_end);
/* How many rows and alerts wait for a batch. */
uint64_t ntm_outbox_waiting(const struct ntm_outbox *ob);

/* Forms as many batches as the waiting rows and alerts need, each persisted
 * (body, deliveries) before this returns. msg_hi is the last message folded.
 * Returns the number of batches formed, or -1. */
int ntm_outbox_form(struct ntm_outbox *ob, const struct ntm_health *h, int64_t msg_hi);

/* ISO 8601 with the +07:00 offset: "2026-11-22T15:00:07+07:00" */
void ntm_iso_local(int64_t unix_s, char *buf, size_t len);

#endif
