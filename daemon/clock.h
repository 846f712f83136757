/* clock.h: the daemon's wall clock, made safe for a board without a battery.
 * It follows CLOCK_REALTIME forward, but never goes back: after a backward
 * step it carries on from its last value by the monotonic time passed, so
 * receive times, fallback timestamps and retry due times never jump into the
 * past. It also caches the kernel's "synchronized" state (adjtimex), refreshed
 * by the owner about once a second. One instance, owned by the daemon. */
#ifndef NTM_CLOCK_H
#define NTM_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct ntm_clock {
    int64_t last_wall_ms; /* the last value returned */
    int64_t last_mono_ms; /* CLOCK_MONOTONIC when it was returned */
    bool synced;          /* the kernel says the clock is synchronized */
};

void ntm_clock_init(struct ntm_clock *c);
/* Unix ms; never less than the previous call's value. */
int64_t ntm_clock_wall_ms(struct ntm_clock *c);
/* CLOCK_MONOTONIC in ms: for intervals (rate limits, timeouts), never for
 * times that are stored or sent. */
int64_t ntm_clock_mono_ms(void);
/* Re-reads the synchronized state (adjtimex); returns it. */
bool ntm_clock_refresh_synced(struct ntm_clock *c);

#endif
