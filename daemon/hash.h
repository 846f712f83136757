/* SPDX-License-Identifier: GPL-3.0-or-later */
/* hash.h: the daemon's one non-cryptographic hash (FNV-1a, 64 bits), for its
 * in-memory tables and the aggregation state's checksum. Not for anything an
 * adversary chooses to collide with a key: personal data is hashed with the
 * keyed SipHash of siphash.h. */
#ifndef NTM_HASH_H
#define NTM_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t ntm_hash64(const void *p, size_t n);
/* The same, of a NUL-terminated string. */
uint64_t ntm_hash_str(const char *s);
/* A faster one for the per-message path (8 bytes a step, multiply and fold),
 * continuing from `seed` (0 to start): not the same values as ntm_hash64. */
uint64_t ntm_hash64_words(uint64_t seed, const void *p, size_t n);

#endif
