/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_agg_clients.c: unit tests of the set of client hashes (daemon/agg_clients.c)
 * that counts a window's distinct Wi-Fi clients: 0 as a member, repeats, growth
 * through many members (including ones alike in their low bits), union, and the
 * ascending listing that the saved state relies on. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg_clients.h"

#include "check.h"

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t p = *(const uint64_t *)x, q = *(const uint64_t *)y;
    return p < q ? -1 : p > q;
}

/* Whether the set's listing is exactly want[0..n) (ascending, no repeats). */
static bool lists(const struct ntm_client_set *s, const uint64_t *want, size_t n)
{
    uint64_t *got = NULL;
    size_t k = 99;
    bool ok = ntm_client_set_sorted(s, &got, &k) && k == n &&
              (n == 0 ? got == NULL : memcmp(got, want, n * sizeof *want) == 0) &&
              ntm_client_set_count(s) == n;
    free(got);
    return ok;
}

static void test_small(void)
{
    struct ntm_client_set s = {0};
    CHECK(lists(&s, NULL, 0));
    CHECK(ntm_client_set_add(&s, 7));
    CHECK(ntm_client_set_add(&s, 0));
    CHECK(ntm_client_set_add(&s, UINT64_MAX));
    CHECK(ntm_client_set_add(&s, 7));
    CHECK(ntm_client_set_add(&s, 0));
    const uint64_t want[] = {0, 7, UINT64_MAX};
    CHECK(lists(&s, want, 3));

    /* union: members of both once; the source is unchanged */
    struct ntm_client_set t = {0};
    CHECK(ntm_client_set_add(&t, 7));
    CHECK(ntm_client_set_add(&t, 3));
    CHECK(ntm_client_set_union(&t, &s));
    const uint64_t both[] = {0, 3, 7, UINT64_MAX};
    CHECK(lists(&t, both, 4));
    CHECK(lists(&s, want, 3));
    struct ntm_client_set empty = {0};
    CHECK(ntm_client_set_union(&t, &empty));
    CHECK(lists(&t, both, 4));
    CHECK(ntm_client_set_union(&empty, &t)); /* into an empty set */
    CHECK(lists(&empty, both, 4));

    /* only 0: no slots, still one member */
    struct ntm_client_set z = {0};
    CHECK(ntm_client_set_add(&z, 0));
    CHECK(z.cap == 0);
    const uint64_t zero[] = {0};
    CHECK(lists(&z, zero, 1));

    ntm_client_set_free(&s);
    CHECK(lists(&s, NULL, 0));
    CHECK(ntm_client_set_add(&s, 42)); /* usable again after free */
    const uint64_t one[] = {42};
    CHECK(lists(&s, one, 1));
    ntm_client_set_free(&s);
    ntm_client_set_free(&t);
    ntm_client_set_free(&empty);
    ntm_client_set_free(&z);
}

/* Many members, each added twice, half of them alike in their low 32 bits. */
static void test_many(void)
{
    enum { N = 50000 };
    uint64_t *want = malloc(2 * N * sizeof *want), seed = 0x243f6a8885a308d3ULL;
    struct ntm_client_set s = {0};
    bool all_added = true;
    for (size_t i = 0; i < N; i++) {
        want[2 * i] = rng_next(&seed) | 1;         /* never 0 */
        want[2 * i + 1] = (uint64_t)(i + 1) << 32; /* low 32 bits all 0 */
    }
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < 2 * N; i++)
            all_added &= ntm_client_set_add(&s, want[i]);
    CHECK(all_added);
    qsort(want, 2 * N, sizeof *want, cmp_u64);
    size_t n = 0; /* the random ones are distinct, but make sure */
    for (size_t i = 0; i < 2 * N; i++)
        if (n == 0 || want[i] != want[n - 1])
            want[n++] = want[i];
    CHECK_INT(ntm_client_set_count(&s), n);
    CHECK(lists(&s, want, n));
    CHECK(s.n * 4 <= s.cap * 3); /* grown in time: at most 3/4 full */

    /* the union of two halves is the whole */
    struct ntm_client_set lo = {0}, hi = {0};
    for (size_t i = 0; i < n; i++)
        CHECK(ntm_client_set_add(i < n / 2 ? &lo : &hi, want[i]));
    CHECK(ntm_client_set_union(&lo, &hi));
    CHECK(lists(&lo, want, n));
    ntm_client_set_free(&lo);
    ntm_client_set_free(&hi);
    ntm_client_set_free(&s);
    free(want);
}

int main(void)
{
    test_small();
    test_many();
    printf("agg_clients: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
