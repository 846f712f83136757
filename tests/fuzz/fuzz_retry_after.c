/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_retry_after.c: libFuzzer target for ntm_retry_after_ms
 * (daemon/retry_after.c). Input: 8 bytes of "now" (Unix ms, little endian,
 * any value), then the header's value (up to its first NUL). Checked: the
 * delay is between 0 and a day; the same call gives the same delay; nothing
 * after a valid value is accepted; and a date read as a delay under a day
 * names the instant glibc's strftime writes back for now + delay. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "fuzz_common.h"
#include "retry_after.h"

#define LAST_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t raw = 0;
    for (int i = 7; i >= 0; i--)
        raw = raw << 8 | data[i];
    size_t len = size - 8;
    char *v = malloc(len + 2); /* room for the NUL and an 'x' */
    FUZZ_ASSERT(v != NULL);
    memcpy(v, data + 8, len);
    v[len] = '\0';
    len = strlen(v);

    int64_t any_now = (int64_t)raw, r = ntm_retry_after_ms(v, any_now);
    FUZZ_ASSERT(r >= 0 && r <= NTM_RETRY_AFTER_MAX_MS);
    FUZZ_ASSERT(ntm_retry_after_ms(v, any_now) == r);

    /* a "now" the daemon's clock could give: 1970 to 9999 */
    int64_t now = (int64_t)(raw % (uint64_t)(LAST_MS + 1));
    r = ntm_retry_after_ms(v, now);
    FUZZ_ASSERT(r >= 0 && r <= NTM_RETRY_AFTER_MAX_MS);
    bool delta = len > 0 && strspn(v, " \t0123456789") == len;

    if (r > 0 && r < NTM_RETRY_AFTER_MAX_MS && !delta) {
        /* a date: the instant now + r, whole seconds, written back by glibc */
        int64_t when = now + r;
        FUZZ_ASSERT(when % 1000 == 0);
        time_t t = (time_t)(when / 1000);
        struct tm tm;
        FUZZ_ASSERT(gmtime_r(&t, &tm) != NULL);
        char imf[64];
        strftime(imf, sizeof imf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        int64_t back = ntm_retry_after_ms(imf, now);
        /* 23:59:60 is read as the next minute, which glibc writes as such */
        FUZZ_ASSERT(back == r);
    }

    /* whatever follows a value makes it no value */
    v[len] = 'x';
    v[len + 1] = '\0';
    FUZZ_ASSERT(ntm_retry_after_ms(v, now) == 0);
    free(v);
    return 0;
}
