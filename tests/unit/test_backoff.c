/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_backoff.c: the one retry schedule (daemon/backoff.c): every wait lies in
 * [0, min(max, min * 2^doublings)], the cap is reached and held, and the draws are
 * spread over the range (full jitter), not bunched at one end. */
#include "backoff.h"
#include "check.h"

static void test_bounds(void)
{
    for (unsigned d = 0; d < 40; d++) {
        int64_t cap = 500;
        for (unsigned i = 0; i < d && cap < 60000; i++)
            cap *= 2;
        if (cap > 60000)
            cap = 60000;
        int64_t lo = cap, hi = 0;
        for (int i = 0; i < 2000; i++) {
            int64_t w = ntm_backoff_ms(500, 60000, d);
            lo = w < lo ? w : lo;
            hi = w > hi ? w : hi;
        }
        CHECK(lo >= 0);
        CHECK(hi <= cap);
        /* 2000 uniform draws: the extremes come within 1 % of each end */
        CHECK(lo <= cap / 100 + 1);
        CHECK(hi >= cap - cap / 100 - 1);
    }
}

static void test_spread(void)
{
    int buckets[10] = {0};
    for (int i = 0; i < 10000; i++)
        buckets[ntm_backoff_ms(1000, 1000, 0) * 10 / 1001]++;
    for (int b = 0; b < 10; b++)
        CHECK(buckets[b] > 800 && buckets[b] < 1200); /* 1000 expected; > 6 sigma margin */
}

static void test_odd_arguments(void)
{
    CHECK(ntm_backoff_ms(0, 0, 5) <= 1);          /* a minimum below 1 ms is 1 ms */
    CHECK(ntm_backoff_ms(2000, 1000, 0) <= 2000); /* a maximum below the minimum is the minimum */
    CHECK(ntm_backoff_ms(1, INT64_MAX / 4, 200) >= 0); /* no overflow however many doublings */
}

int main(void)
{
    test_bounds();
    test_spread();
    test_odd_arguments();
    printf("backoff: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
