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

#endif
