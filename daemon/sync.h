/* sync.h: delivery of formed batches to every uplink. Owns the delivery
 * cursors (the deliveries table), the in-flight sends, the retry schedule
 * (exponential backoff 1 s to 5 min with full jitter, Retry-After honoured,
 * the slow 5-minute schedule for refused credentials), the quarantine of
 * batches a server will never accept, and the release of delivered data. */
#ifndef NTM_SYNC_H
#define NTM_SYNC_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "plugin_host.h"
#include "store.h"

#define NTM_RETRY_MIN_MS 1000
#define NTM_RETRY_MAX_MS (5 * 60 * 1000)
#define NTM_RETRY_SLOW_MS (5 * 60 * 1000)

struct ntm_sync;

struct ntm_sync_stats {
    uint64_t pending_batches;  /* batches some uplink has yet to deliver */
    uint64_t delivered_total;  /* deliveries since start */
    int64_t last_delivered_ms; /* wall clock; 0 = none since start */
    uint64_t quarantined;      /* deliveries in quarantine */
};

/* Due times are read on `clock` (it never goes back, so a clock stepped back
 * does not stall a retry). */
int ntm_sync_new(struct ntm_sync **out, uv_loop_t *loop, struct ntm_store *st,
                 const struct ntm_config *cfg, struct ntm_log *log, struct ntm_clock *clock);
/* The loaded uplinks (owned by the caller, outliving sync). */
void ntm_sync_set_uplinks(struct ntm_sync *s, struct ntm_uplink **u, size_t n);
/* ntm_uplink_events.complete */
void ntm_sync_complete(void *arg, struct ntm_uplink *u, uint64_t seq, enum ntm_send_result r,
                       int64_t retry_after_ms, const char *reason);
/* Sends whatever is due now, up to each uplink's in-flight limit. */
void ntm_sync_kick(struct ntm_sync *s);
/* The store made more commits durable: send the batches that waited for it. */
void ntm_sync_durable(struct ntm_sync *s);
void ntm_sync_stats(struct ntm_sync *s, struct ntm_sync_stats *out);

/* One uplink as the live state shows it (strings valid until the next call
 * into sync). */
struct ntm_sync_uplink_info {
    const char *name;
    bool failing;
    int64_t last_ok_ms, failing_since_ms; /* wall clock; 0 = none since start */
    const char *last_error;               /* NULL = none since the last delivery */
    int64_t next_try_ms;                  /* 0 = nothing waiting */
    uint64_t waiting_batches;
};
/* Fills up to `max` entries, in the order of the configuration; returns how many. */
size_t ntm_sync_uplink_info(struct ntm_sync *s, struct ntm_sync_uplink_info *out, size_t max);
/* Stops the timer; in-flight sends are abandoned (they stay pending in the
 * database and are sent again at the next start). Safe on NULL. */
void ntm_sync_free(struct ntm_sync *s);

#endif
