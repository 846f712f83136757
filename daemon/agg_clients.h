/* SPDX-License-Identifier: GPL-3.0-or-later */
/* agg_clients.h: a set of 64-bit client hashes (the keyed MAC hashes of Wi-Fi
 * reports), for counting the distinct clients of a window. Owns only its own
 * memory; knows nothing of windows, MACs or keys (0 is a value like any other). */
#ifndef NTM_AGG_CLIENTS_H
#define NTM_AGG_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* All zero is the empty set. */
struct ntm_client_set {
    uint64_t *slot; /* open addressing, 0 = empty; cap a power of 2 (or 0) */
    uint32_t cap, n;
    bool has_zero;
};

/* Adds h (again: no change). False only when memory ran out (h is then not in the set). */
bool ntm_client_set_add(struct ntm_client_set *s, uint64_t h);
/* Adds every member of `from`; false when memory ran out (some are then missing). */
bool ntm_client_set_union(struct ntm_client_set *to, const struct ntm_client_set *from);
uint64_t ntm_client_set_count(const struct ntm_client_set *s);
/* The members in ascending order, malloc'd (NULL for an empty set), count in *n.
 * Returns false when out of memory. */
bool ntm_client_set_sorted(const struct ntm_client_set *s, uint64_t **members, size_t *n);
/* Frees the memory and leaves the empty set. */
void ntm_client_set_free(struct ntm_client_set *s);

#endif
