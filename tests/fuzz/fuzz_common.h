/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_common.h: helpers shared by the libFuzzer targets of tests/fuzz.
 * A failed invariant aborts, which libFuzzer reports as a crash with the input. */
#ifndef NTM_FUZZ_COMMON_H
#define NTM_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(e)                                                                             \
    do {                                                                                           \
        if (!(e)) {                                                                                \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #e);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A heap copy of exactly `len` bytes (no NUL after it), so that ASan sees any
 * read past the end of what the parser was given. */
static inline char *fuzz_dup(const void *p, size_t len)
{
    char *c = malloc(len ? len : 1);
    if (c == NULL)
        abort();
    if (len)
        memcpy(c, p, len);
    return c;
}

/* `why` is a NUL-terminated string inside its buffer. */
static inline int fuzz_terminated(const char *why, size_t whylen)
{
    return memchr(why, '\0', whylen) != NULL;
}

#endif
