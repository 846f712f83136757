/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_text_safe.c: the one sanitizer (daemon/text_safe.c): valid UTF-8 out of
 * anything, controls and bidi characters escaped, cuts between characters,
 * secrets masked even when an echo is cut short. */
#include <string.h>

#include "check.h"
#include "text_safe.h"

static const char *safe(const char *in, size_t len, size_t outlen)
{
    static char out[512];
    ntm_text_safe(out, outlen, in, len);
    return out;
}

int main(void)
{
    /* plain text and Vietnamese pass unchanged */
    CHECK(strcmp(safe("Thôn Đông 1", strlen("Thôn Đông 1"), 512), "Thôn Đông 1") == 0);
    /* C0, DEL, C1 (U+009B, CSI on the Linux console), bidi U+202E escaped */
    CHECK(strcmp(safe("a\x1b[2Jb\x7f", 7, 512), "a\\x1b[2Jb\\x7f") == 0);
    CHECK(strcmp(safe("x\xc2\x9by", 4, 512), "x\\u009by") == 0);
    CHECK(strcmp(safe("\xe2\x80\xaegnp.exe", 10, 512), "\\u202egnp.exe") == 0);
    CHECK(strcmp(safe("\xe2\x81\xa6\xd8\x9c", 5, 512), "\\u2066\\u061c") == 0);
    /* invalid bytes (raw gzip, an overlong, a surrogate, a cut character) */
    CHECK(strcmp(safe("\x1f\x8b\x08", 3, 512), "\\x1f\\x8b\\x08") == 0);
    CHECK(strcmp(safe("\xc0\xaf", 2, 512), "\\xc0\\xaf") == 0);
    CHECK(strcmp(safe("\xed\xa0\x80", 3, 512), "\\xed\\xa0\\x80") == 0);
    CHECK(strcmp(safe("ab\xc4", 3, 512), "ab\\xc4") == 0);
    /* a NUL inside is escaped, not an end */
    CHECK(strcmp(safe("a\0b", 3, 512), "a\\x00b") == 0);
    /* output too small: stops before a character or escape that does not fit */
    CHECK(strcmp(safe("\xc4\x91\xc4\x91", 4, 4), "\xc4\x91") == 0);
    CHECK(strcmp(safe("ab\x1b", 3, 5), "ab") == 0);
    CHECK(ntm_text_is_safe("Thôn", 5));
    CHECK(!ntm_text_is_safe("\xc2\x9b", 2));
    CHECK(!ntm_text_is_safe("\xff", 1));

    /* cutting at 256 bytes a topic of 2-byte characters after one ASCII byte */
    char topic[400];
    topic[0] = '/';
    for (size_t i = 1; i + 1 < sizeof topic; i += 2)
        memcpy(topic + i, "\xc4\x91", 2);
    size_t cut = ntm_text_utf8_cut(topic, sizeof topic - 1, 256);
    CHECK_INT(cut, 255);
    CHECK(ntm_text_is_safe(topic, cut));
    CHECK_INT(ntm_text_utf8_cut("abc", 3, 256), 3);

    /* secrets */
    char s1[] = "you sent Bearer s3cret-token-ABC; again s3cret-token-ABC.";
    CHECK_INT(ntm_text_scrub(s1, "s3cret-token-ABC"), 2);
    CHECK(strcmp(s1, "you sent Bearer ***; again ***.") == 0);
    char s2[] = "xxxx Bearer s3cret-to";
    CHECK_INT(ntm_text_scrub(s2, "s3cret-token-ABC"), 1);
    CHECK(strstr(s2, "s3cr") == NULL);
    char s3[] = "nothing here";
    CHECK_INT(ntm_text_scrub(s3, NULL), 0);
    CHECK_INT(ntm_text_scrub(s3, ""), 0);
    CHECK(strcmp(s3, "nothing here") == 0);

    printf("text_safe: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
