/* SPDX-License-Identifier: GPL-3.0-or-later */
/* backoff.h: the daemon's one retry schedule: capped exponential backoff with full
 * jitter (a random wait in [0, min(max, min * 2^doublings)]), so that many gateways,
 * streams or uplinks that failed together do not retry in step. Knows no timers. */
#ifndef NTM_BACKOFF_H
#define NTM_BACKOFF_H

#include <stdint.h>

/* The wait before the next attempt, in milliseconds, after `doublings` doublings of
 * `min_ms` (0 for the first retry), never above `max_ms`. */
int64_t ntm_backoff_ms(int64_t min_ms, int64_t max_ms, unsigned doublings);

#endif
