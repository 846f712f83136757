/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_multipart.c: libFuzzer target for the multipart reader
 * (daemon/sources/multipart.c). Byte 0 chooses the part limit (bits 0-1: 64,
 * 1024, 16384, 100000) and the response's Content-Type (bits 2-3: none,
 * boundary=boundary, boundary=myboundary, a wrong boundary); byte 1 seeds the
 * chunk sizes; the rest is the stream. Checked: feeding it whole and in uneven
 * chunks (one byte at a time too) gives the same parts and counts; no part is
 * longer than the limit and each is NUL-terminated; the buffer never passes
 * the limit. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "sources/multipart.h"

#define MAXP 64

struct got {
    size_t n;
    size_t len[MAXP];
    uint64_t sum[MAXP]; /* a checksum of each body */
    size_t max;
};

static int collect(void *arg, const struct ntm_multipart_part *p)
{
    struct got *g = arg;
    FUZZ_ASSERT(p->len > 0 && p->len <= g->max);
    FUZZ_ASSERT(p->body[p->len] == '\0');
    FUZZ_ASSERT(p->content_type != NULL && strlen(p->content_type) < 64);
    if (g->n < MAXP) {
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < p->len; i++)
            h = (h ^ (unsigned char)p->body[i]) * 1099511628211ull;
        g->len[g->n] = p->len;
        g->sum[g->n] = h;
    }
    g->n++;
    return 0;
}

static void feed(const char *ct, size_t max, const uint8_t *d, size_t n, unsigned mode,
                 uint8_t seed, struct got *g, struct ntm_multipart_stats *st)
{
    struct ntm_multipart m;
    memset(g, 0, sizeof *g);
    g->max = max;
    ntm_multipart_init(&m, ct, max, collect, g);
    uint32_t r = seed;
    for (size_t off = 0; off < n;) {
        size_t k = n - off;
        if (mode == 1) {
            k = 1;
        } else if (mode == 2) {
            r = r * 1103515245u + 12345u;
            size_t c = 1 + (r >> 16) % 300;
            k = c < k ? c : k;
        }
        char *copy = fuzz_dup(d + off, k);
        ntm_multipart_feed(&m, copy, k);
        free(copy);
        off += k;
    }
    ntm_multipart_finish(&m);
    FUZZ_ASSERT(m.st.peak_buffer <= max);
    FUZZ_ASSERT(m.st.parts == g->n);
    *st = m.st;
    ntm_multipart_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    static const size_t limits[] = {64, 1024, 16384, 100000};
    static const char *const types[] = {NULL, "multipart/mixed; boundary=boundary",
                                        "multipart/x-mixed-replace; boundary=myboundary",
                                        "multipart/mixed; boundary=\"--wrong\""};
    size_t max = limits[data[0] & 3];
    const char *ct = types[(data[0] >> 2) & 3];
    struct got g[3];
    struct ntm_multipart_stats st[3];
    for (unsigned mode = 0; mode < 3; mode++)
        feed(ct, max, data + 2, size - 2, mode, data[1], &g[mode], &st[mode]);
    for (unsigned mode = 1; mode < 3; mode++) {
        FUZZ_ASSERT(g[mode].n == g[0].n);
        size_t k = g[0].n < MAXP ? g[0].n : MAXP;
        FUZZ_ASSERT(memcmp(g[mode].len, g[0].len, k * sizeof g[0].len[0]) == 0);
        FUZZ_ASSERT(memcmp(g[mode].sum, g[0].sum, k * sizeof g[0].sum[0]) == 0);
        FUZZ_ASSERT(st[mode].oversized == st[0].oversized);
        FUZZ_ASSERT(st[mode].truncated == st[0].truncated);
        FUZZ_ASSERT(st[mode].garbage_bytes == st[0].garbage_bytes);
        FUZZ_ASSERT(st[mode].boundary_learned == st[0].boundary_learned);
    }
    return 0;
}
