/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_ingest_text.c: unit tests of ingest's text rules (daemon/ingest_text.c):
 * ntm_ingest_text_problem, whose 8-bytes-at-a-time fast path must find the same
 * first bad byte, for the same reason, as a plain byte-by-byte reading of the
 * rules, at every alignment; and what a `why` may quote of a device's bytes. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ingest_impl.h"

#include "check.h"

/* The rules read one byte at a time: UTF-8 (RFC 3629: no overlong form, no
 * surrogate, nothing above U+10FFFF, no truncated sequence), no NUL byte, no
 * \u0000 escape (a backslash escapes the ASCII byte after it). */
static size_t reference(const uint8_t *s, size_t n, const char **what)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        if (c == 0) {
            *what = "a NUL byte";
            return i;
        }
        if (c == '\\' && i + 1 < n && s[i + 1] < 0x80) {
            if (n - i >= 6 && memcmp(s + i + 1, "u0000", 5) == 0) {
                *what = "an escaped NUL (\\u0000)";
                return i;
            }
            i += 2;
            continue;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xf8 ? 0 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
        uint32_t cp = len == 4 ? c & 0x07u : len == 3 ? c & 0x0fu : c & 0x1fu;
        bool ok = len > 0 && n - i >= len;
        for (size_t k = 1; ok && k < len; k++) {
            ok = (s[i + k] & 0xc0) == 0x80;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (!ok || cp < least[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
            *what = "invalid UTF-8";
            return i;
        }
        i += len;
    }
    return n;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_against_reference(void)
{
    /* bytes where the rules have edges, and whole sequences valid or not */
    static const uint8_t bytes[] = {'a',  '"',  '\\', 'u',  '0',  0x00, 0x7f, 0x80,
                                    0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2,
                                    0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
    static const char *const pieces[] = {
        "\\u0000",      "\\\\u0000",    "\xc3\xa0",         "\xe1\xba\xa3", "\xf0\x9f\x93\xa2",
        "\xef\xbf\xbd", "\xed\x9f\xbf", "\xf4\x8f\xbf\xbf", "\xe0\xa0\x80", "abcdefgh"};
    uint64_t seed = 0x2545f4914f6cdd1dULL;
    uint8_t s[64];
    long differ = 0, bad = 0;
    for (int round = 0; round < 300000; round++) {
        size_t n = (size_t)(rng_next(&seed) % 40);
        for (size_t i = 0; i < n;) {
            uint64_t r = rng_next(&seed);
            if (r % 4 == 0) {
                const char *p = pieces[(r >> 8) % (sizeof pieces / sizeof *pieces)];
                size_t k = strlen(p);
                if (i + k > n)
                    k = n - i; /* cut short: a truncated sequence */
                memcpy(s + i, p, k);
                i += k;
            } else {
                s[i++] = r % 4 == 1 ? (uint8_t)(r >> 16) : bytes[(r >> 8) % sizeof bytes];
            }
        }
        const char *w1 = "", *w2 = "";
        size_t at1 = ntm_ingest_text_problem(s, n, &w1), at2 = reference(s, n, &w2);
        if (at1 != at2 || (at1 < n && strcmp(w1, w2) != 0)) {
            if (differ++ < 5) {
                fprintf(stderr, "text_problem: %zu (%s), the rules: %zu (%s), for", at1, w1, at2,
                        w2);
                for (size_t i = 0; i < n; i++)
                    fprintf(stderr, " %02x", s[i]);
                fprintf(stderr, "\n");
            }
        }
        bad += at2 < n;
    }
    CHECK_INT(differ, 0);
    CHECK(bad > 1000 && bad < 299000); /* both outcomes were tried, many times */

    /* every alignment of a bad byte after a run of ASCII (the fast path's edge) */
    for (size_t lead = 0; lead < 24; lead++) {
        uint8_t t[40];
        memset(t, 'x', sizeof t);
        t[lead] = 0xc0;
        const char *w = "";
        CHECK_INT(ntm_ingest_text_problem(t, sizeof t, &w), lead);
        t[lead] = 0;
        CHECK_INT(ntm_ingest_text_problem(t, sizeof t, &w), lead);
        CHECK(strcmp(w, "a NUL byte") == 0);
        memcpy(t + lead, "\\u0000", 6);
        CHECK_INT(ntm_ingest_text_problem(t, sizeof t, &w), lead);
        CHECK(strcmp(w, "an escaped NUL (\\u0000)") == 0);
    }
}

static void test_echo(void)
{
    char buf[NTM_INGEST_ECHO_BUF];
    CHECK(strcmp(ntm_ingest_echo(buf, "radio", 5), "radio") == 0);
    CHECK(strcmp(ntm_ingest_echo(buf, "a'b\\c\x01\xff", 7), "a?b?c??") == 0);
    /* a MAC address is never quoted, in either form, wherever it stands */
    CHECK(strcmp(ntm_ingest_echo(buf, "x a4:5e:60:12:34:56 y", 21), "x <mac> y") == 0);
    CHECK(strcmp(ntm_ingest_echo(buf, "A4-5E-60-12-34-56", 17), "<mac>") == 0);
    /* longer than NTM_INGEST_ECHO_MAX: cut, with "..." */
    char longer[100];
    memset(longer, 'k', sizeof longer);
    ntm_ingest_echo(buf, longer, sizeof longer);
    CHECK_INT(strlen(buf), NTM_INGEST_ECHO_MAX + 3);
    CHECK(strcmp(buf + NTM_INGEST_ECHO_MAX, "...") == 0);
    /* a MAC that starts just before the limit still fits the buffer */
    memcpy(longer + NTM_INGEST_ECHO_MAX - 1, "a4:5e:60:12:34:56", 17);
    ntm_ingest_echo(buf, longer, sizeof longer);
    CHECK(strstr(buf, "<mac>...") != NULL && strlen(buf) < sizeof buf);
}

int main(void)
{
    test_against_reference();
    test_echo();
    printf("ingest_text: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
