/* SPDX-License-Identifier: GPL-3.0-or-later */
/* hash.c: FNV-1a, 64 bits (offset basis 14695981039346656037, prime
 * 1099511628211), and a word-at-a-time hash for the per-message path. Owns
 * nothing. */
#include "hash.h"

#include <string.h>

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

#define WORD_MUL 0x9e3779b97f4a7c15ULL

static uint64_t fold(uint64_t h, uint64_t w)
{
    h = (h ^ w) * WORD_MUL;
    return h ^ (h >> 29);
}

uint64_t ntm_hash64_words(uint64_t seed, const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = seed ^ FNV64_BASIS ^ (n * WORD_MUL);
    for (; n >= 8; n -= 8, b += 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = fold(h, w);
    }
    uint64_t w = 0;
    if (n > 0) /* p may be NULL when n is 0 (an empty MQTT payload) */
        memcpy(&w, b, n);
    return fold(h, w ^ ((uint64_t)n << 56));
}
