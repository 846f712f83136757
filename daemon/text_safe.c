/* SPDX-License-Identifier: GPL-3.0-or-later */
/* text_safe.c: the one sanitizer for text that came from outside (see
 * text_safe.h). Owns UTF-8 checking, cutting, escaping and secret masking; must
 * not log, allocate or know where the text goes. */
#include "text_safe.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Decodes one UTF-8 character at s[0..len): its length (1..4) and code point,
 * or 0 when s does not start with a valid (shortest-form, non-surrogate) one. */
static size_t decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return n;
}

static bool must_escape(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c || cp == 0x200e ||
           cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

size_t ntm_text_safe(char *out, size_t outlen, const char *in, size_t len)
{
    if (outlen == 0)
        return 0;
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = decode(s + i, len - i, &cp);
        char esc[16];
        const char *piece;
        size_t pl;
        if (n == 0) {
            snprintf(esc, sizeof esc, "\\x%02x", s[i]);
            piece = esc, pl = 4, n = 1;
        } else if (must_escape(cp) && cp < 0x80) {
            snprintf(esc, sizeof esc, "\\x%02x", (unsigned)cp);
            piece = esc, pl = 4;
        } else if (must_escape(cp)) {
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
            piece = esc, pl = 6;
        } else {
            piece = (const char *)s + i, pl = n;
        }
        if (o + pl + 1 > outlen)
            break;
        memcpy(out + o, piece, pl);
        o += pl;
        i += n;
    }
    out[o] = '\0';
    return o;
}

const char *ntm_text_safe_str(char *out, size_t outlen, const char *s)
{
    if (outlen > 0)
        ntm_text_safe(out, outlen, s ? s : "", s ? strlen(s) : 0);
    return out;
}

bool ntm_text_is_safe(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t n = decode(u + i, len - i, &cp);
        if (n == 0 || must_escape(cp))
            return false;
        i += n;
    }
    return true;
}

size_t ntm_text_utf8_cut(const char *s, size_t len, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        uint32_t cp = 0;
        size_t n = decode(u + i, len - i, &cp);
        if (n == 0)
            n = 1;
        if (i + n > max)
            break;
        i += n;
    }
    return i;
}

size_t ntm_text_scrub(char *s, const char *secret)
{
    if (s == NULL || secret == NULL || secret[0] == '\0')
        return 0;
    size_t sl = strlen(secret), masked = 0;
    for (char *p = strstr(s, secret); p != NULL; p = strstr(p, secret)) {
        if (sl < 3) {
            memset(p, '*', sl);
            p += sl;
        } else {
            memcpy(p, "***", 3);
            memmove(p + 3, p + sl, strlen(p + sl) + 1);
            p += 3;
        }
        masked++;
    }
    size_t ol = strlen(s);
    for (size_t k = (sl - 1 < ol ? sl - 1 : ol); k >= 4; k--) {
        if (memcmp(s + ol - k, secret, k) == 0) {
            memcpy(s + ol - k, "***", 4);
            masked++;
            break;
        }
    }
    return masked;
}
