/* SPDX-License-Identifier: GPL-3.0-or-later */
/* textwidth.c: NFC and display width with libunistring. Owns no state;
 * must not print (ctl_util.c pads with what this measures). */
#include "textwidth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>
#include <uninorm.h>
#include <uniwidth.h>

char *tw_nfc(const char *s)
{
    size_t len = strlen(s), outlen = 0;
    uint8_t *n = u8_check((const uint8_t *)s, len) == NULL
                     ? u8_normalize(UNINORM_NFC, (const uint8_t *)s, len, NULL, &outlen)
                     : NULL;
    if (!n)
        return strdup(s);
    char *out = malloc(outlen + 1);
    if (out) {
        memcpy(out, n, outlen);
        out[outlen] = '\0';
    }
    free(n);
    return out;
}

static int width_of(const uint8_t *p, size_t len)
{
    int w = 0;
    while (len > 0) {
        ucs4_t uc;
        int n = u8_mbtouc(&uc, p, len);
        int cw = uc_width(uc, "UTF-8");
        w += cw > 0 ? cw : 0;
        p += n;
        len -= (size_t)n;
    }
    return w;
}

int tw_width(const char *s)
{
    char *n = tw_nfc(s);
    const char *t = n ? n : s;
    int w = width_of((const uint8_t *)t, strlen(t));
    free(n);
    return w;
}

int tw_fit(const char *s, int width, char *out, size_t outlen)
{
    char *n = tw_nfc(s);
    const char *t = n ? n : s;
    size_t len = strlen(t);
    int total = width_of((const uint8_t *)t, len);
    size_t used = 0;
    int w = 0;
    if (total <= width) {
        used = len < outlen - 1 ? len : outlen - 1;
        w = total;
    } else {
        /* keep room for the ellipsis (1 column, 3 bytes) */
        const uint8_t *p = (const uint8_t *)t;
        size_t left = len;
        while (left > 0) {
            ucs4_t uc;
            int k = u8_mbtouc(&uc, p, left);
            int cw = uc_width(uc, "UTF-8");
            cw = cw > 0 ? cw : 0;
            if (w + cw > width - 1 || used + (size_t)k + 4 > outlen)
                break;
            w += cw;
            used += (size_t)k;
            p += k;
            left -= (size_t)k;
        }
    }
    memcpy(out, t, used);
    if (total > width && width > 0 && used + 4 <= outlen) {
        memcpy(out + used, "\xe2\x80\xa6", 3);
        used += 3;
        w++;
    }
    out[used] = '\0';
    free(n);
    return w;
}
