/* SPDX-License-Identifier: GPL-3.0-or-later */
/* hash.c: FNV-1a, 64 bits (offset basis 14695981039346656037, prime
 * 1099511628211). Owns nothing. */
#include "hash.h"

#define FNV64_BASIS 0xcbf29ce484222325ULL
#define FNV64_PRIME 0x100000001b3ULL

uint64_t ntm_hash64(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = FNV64_BASIS;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * FNV64_PRIME;
    return h;
}

uint64_t ntm_hash_str(const char *s)
{
    uint64_t h = FNV64_BASIS;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * FNV64_PRIME;
    return h;
}
