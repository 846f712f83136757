/* SPDX-License-Identifier: GPL-3.0-or-later */
/* backoff.c: capped exponential backoff with full jitter (backoff.h). The random
 * draw comes from getrandom(2), never blocking; rand() only if that fails. */
#include "backoff.h"

#include <stdlib.h>
#include <sys/random.h>

int64_t ntm_backoff_ms(int64_t min_ms, int64_t max_ms, unsigned doublings)
{
    if (min_ms < 1)
        min_ms = 1;
    if (max_ms < min_ms)
        max_ms = min_ms;
    int64_t cap = min_ms;
    for (unsigned i = 0; i < doublings && cap < max_ms; i++)
        cap *= 2;
    if (cap > max_ms)
        cap = max_ms;
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = (uint32_t)rand();
    return (int64_t)(r % (uint64_t)(cap + 1));
}
