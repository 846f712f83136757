/* SPDX-License-Identifier: GPL-3.0-or-later */
/* agg_clients.c: the set of client hashes of agg_clients.h (open addressing,
 * grown at 3/4 full, 0 kept aside as a flag). Pure: no I/O, no globals; it does
 * not hash MACs itself (ingest does, with the day's key). */
#include <stdlib.h>
#include <string.h>

#include "agg_clients.h"

/* The slot index comes from the hash's bits, well mixed: the hashes are keyed
 * SipHash values in the daemon, but anything a test or a restored state gives. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static bool grow(struct ntm_client_set *s)
{
    uint32_t cap = s->cap ? s->cap * 2 : 16;
    if (cap < s->cap)
        return false;
    uint64_t *slot = calloc(cap, sizeof *slot);
    if (slot == NULL)
        return false;
    for (uint32_t i = 0; i < s->cap; i++) {
        uint64_t h = s->slot[i];
        if (h == 0)
            continue;
        uint32_t j = (uint32_t)mix64(h) & (cap - 1);
        while (slot[j] != 0)
            j = (j + 1) & (cap - 1);
        slot[j] = h;
    }
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    return true;
}

bool ntm_client_set_add(struct ntm_client_set *s, uint64_t h)
{
    if (h == 0) {
        s->has_zero = true;
        return true;
    }
    if (((uint64_t)s->n + 1) * 4 > (uint64_t)s->cap * 3 && !grow(s))
        return false;
    uint32_t mask = s->cap - 1, j = (uint32_t)mix64(h) & mask;
    while (s->slot[j] != 0) {
        if (s->slot[j] == h)
            return true;
        j = (j + 1) & mask;
    }
    s->slot[j] = h;
    s->n++;
    return true;
}

bool ntm_client_set_union(struct ntm_client_set *to, const struct ntm_client_set *from)
{
    bool ok = true;
    if (from->has_zero)
        ok = ntm_client_set_add(to, 0);
    for (uint32_t i = 0; i < from->cap; i++)
        if (from->slot[i] != 0 && !ntm_client_set_add(to, from->slot[i]))
            ok = false;
    return ok;
}

uint64_t ntm_client_set_count(const struct ntm_client_set *s)
{
    return (uint64_t)s->n + (s->has_zero ? 1 : 0);
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t p = *(const uint64_t *)x, q = *(const uint64_t *)y;
    return p < q ? -1 : p > q;
}

bool ntm_client_set_sorted(const struct ntm_client_set *s, uint64_t **members, size_t *n)
{
    uint64_t cnt = ntm_client_set_count(s);
    *members = NULL;
    *n = 0;
    if (cnt == 0)
        return true;
    uint64_t *hs = malloc(cnt * sizeof *hs);
    if (hs == NULL)
        return false;
    size_t k = 0;
    if (s->has_zero)
        hs[k++] = 0;
    for (uint32_t j = 0; j < s->cap; j++)
        if (s->slot[j] != 0)
            hs[k++] = s->slot[j];
    qsort(hs, k, sizeof *hs, cmp_u64);
    *members = hs;
    *n = k;
    return true;
}

void ntm_client_set_free(struct ntm_client_set *s)
{
    free(s->slot);
    memset(s, 0, sizeof *s);
}
