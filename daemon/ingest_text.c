/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ingest_text.c: the text rules of ingest: the `why` of a rejection (and what of
 * a device's bytes it may quote), and which bytes a payload may hold (UTF-8, no
 * NUL). Pure: no I/O, no logging, no globals; it knows no topic or field. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ingest_impl.h"

enum ntm_reject ntm_ingest_fail(char *why, size_t whylen, enum ntm_reject r, const char *fmt, ...)
{
    if (why != NULL && whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return r;
}

const char *ntm_ingest_echo(char buf[NTM_INGEST_ECHO_BUF], const char *s, size_t len)
{
    size_t o = 0, i = 0;
    while (i < len && i < NTM_INGEST_ECHO_MAX) {
        uint8_t mac[6];
        if (len - i >= 17 && ntm_mac_parse(s + i, 17, mac) == 0) {
            explicit_bzero(mac, sizeof mac);
            memcpy(buf + o, "<mac>", 5);
            o += 5;
            i += 17;
            continue;
        }
        unsigned char c = (unsigned char)s[i++];
        buf[o++] = (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') ? (char)c : '?';
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

size_t ntm_ingest_text_problem(const uint8_t *s, size_t n, const char **what)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    const uint64_t bslash = ones * '\\';
    size_t i = 0;

    while (i < n) {
        /* fast path: 8 bytes of ASCII without NUL or backslash at a time */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            uint64_t wb = w ^ bslash;
            if (((w | ((w - ones) & ~w) | ((wb - ones) & ~wb)) & highs) != 0)
                break;
            i += 8;
        }
        if (i >= n)
            break;

        const uint8_t c = s[i];
        if (c < 0x80) {
            if (c == 0) {
                *what = "a NUL byte";
                return i;
            }
            if (c == '\\' && i + 1 < n && s[i + 1] < 0x80) {
                if (s[i + 1] == 'u' && n - i >= 6 && memcmp(s + i + 2, "0000", 4) == 0) {
                    *what = "an escaped NUL (\\u0000)";
                    return i;
                }
                i += 2; /* so that the escaped byte is not read as an escape */
                continue;
            }
            i++;
            continue;
        }

        /* multi-byte sequence: lead byte, allowed range of the 2nd byte */
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* UTF-16 surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            *what = "invalid UTF-8";
            return i;
        }
        if (n - i <= need || s[i + 1] < lo || s[i + 1] > hi) {
            *what = "invalid UTF-8";
            return i;
        }
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xc0) != 0x80) {
                *what = "invalid UTF-8";
                return i;
            }
        i += need + 1;
    }
    return n;
}
