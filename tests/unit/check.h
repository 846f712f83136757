/* SPDX-License-Identifier: GPL-3.0-or-later */
/* check.h: the unit tests' one assertion: CHECK counts a pass or prints the
 * failing expression with file:line and counts a failure. Each test program
 * prints "NAME: N passed, M failed" last and exits non-zero on any failure. */
#ifndef NTM_TEST_CHECK_H
#define NTM_TEST_CHECK_H

#include <stdio.h>

static int passed, failed;

#define CHECK(e)                                                                                   \
    do {                                                                                           \
        if (e) {                                                                                   \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #e);                  \
        }                                                                                          \
    } while (0)

/* CHECK that two integers are equal, showing both on failure */
#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ == b_) {                                                                            \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld vs %lld)\n", __FILE__, __LINE__,  \
                    #a, #b, a_, b_);                                                               \
        }                                                                                          \
    } while (0)

#endif
