/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_text_safe.c: libFuzzer target for the sanitizer (daemon/text_safe.c).
 * Input: one byte of output size, then any bytes. Checked: the output is NUL-
 * terminated within its size and safe (valid UTF-8, nothing left to escape);
 * a cut never ends inside a character of valid text; a scrubbed string holds
 * no copy of the secret (the first 8 input bytes after the size). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "text_safe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t outlen = (size_t)data[0] * 4 + 1;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    char *out = malloc(outlen);
    FUZZ_ASSERT(out != NULL);
    size_t n = ntm_text_safe(out, outlen, in, len);
    FUZZ_ASSERT(n < outlen && out[n] == '\0' && strlen(out) == n);
    FUZZ_ASSERT(ntm_text_is_safe(out, n));
    size_t cut = ntm_text_utf8_cut(out, n, (size_t)data[0]);
    FUZZ_ASSERT(cut <= n && cut <= data[0]);
    FUZZ_ASSERT(ntm_text_is_safe(out, cut));
    if (len >= 8) {
        char secret[9];
        memcpy(secret, in, 8);
        secret[8] = '\0';
        if (strlen(secret) == 8 && strchr(secret, '*') == NULL) {
            ntm_text_scrub(out, secret);
            FUZZ_ASSERT(strstr(out, secret) == NULL);
        }
    }
    free(out);
    return 0;
}
