/* clock.c: a wall clock that never goes back, and the kernel's sync state.
 * Owns nothing but the two readings in struct ntm_clock. */
#include "clock.h"

#include <string.h>
#include <sys/timex.h>
#include <time.h>

static int64_t read_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ntm_clock_mono_ms(void)
{
    return read_ms(CLOCK_MONOTONIC);
}

void ntm_clock_init(struct ntm_clock *c)
{
    c->last_wall_ms = read_ms(CLOCK_REALTIME);
    c->last_mono_ms = read_ms(CLOCK_MONOTONIC);
    ntm_clock_refresh_synced(c);
}

int64_t ntm_clock_wall_ms(struct ntm_clock *c)
{
    int64_t wall = read_ms(CLOCK_REALTIME), mono = read_ms(CLOCK_MONOTONIC);
    int64_t carried = c->last_wall_ms + (mono - c->last_mono_ms);
    if (wall < carried)
        wall = carried; /* the clock stepped back: keep going from where we were */
    c->last_wall_ms = wall;
    c->last_mono_ms = mono;
    return wall;
}

bool ntm_clock_refresh_synced(struct ntm_clock *c)
{
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    int state = adjtimex(&tx);
    /* -1 (e.g. refused by a seccomp filter) says nothing: not synchronized */
    c->synced = state >= 0 && state != TIME_ERROR && !(tx.status & STA_UNSYNC);
    return c->synced;
}
