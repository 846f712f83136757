/* SPDX-License-Identifier: GPL-3.0-or-later */
/* text_safe.h: text from outside (server answers, topics, device strings) made
 * safe to keep and to print: valid UTF-8, cut at whole characters, control and
 * bidi characters escaped, secrets masked. Pure functions: no allocation, no I/O. */
#ifndef NTM_TEXT_SAFE_H
#define NTM_TEXT_SAFE_H

#include <stdbool.h>
#include <stddef.h>

/* Copies in[0..len) into out (outlen bytes, always NUL-terminated when outlen > 0)
 * as valid UTF-8: an invalid byte becomes "\xNN", a C0 control, DEL, a C1 control
 * (U+0080..U+009F) or a bidi control (U+061C, U+200E, U+200F, U+202A..U+202E,
 * U+2066..U+2069) becomes "\uXXXX". Stops before the first character or escape that
 * would not fit. Returns the bytes written (without the NUL). */
size_t ntm_text_safe(char *out, size_t outlen, const char *in, size_t len);

/* ntm_text_safe of the NUL-terminated s ("" for NULL); returns out. */
const char *ntm_text_safe_str(char *out, size_t outlen, const char *s);

/* True when s[0..len) is valid UTF-8 with no character ntm_text_safe escapes. */
bool ntm_text_is_safe(const char *s, size_t len);

/* The length of the longest prefix of s[0..len), at most max bytes, that does
 * not end inside a UTF-8 character (of valid UTF-8; other bytes count as one). */
size_t ntm_text_utf8_cut(const char *s, size_t len, size_t max);

/* Masks, in the NUL-terminated s, every occurrence of `secret` with "***", and a
 * prefix of it of at least 4 bytes that ends s (an echo cut short). A NULL or
 * empty secret changes nothing. Returns how many were masked. */
size_t ntm_text_scrub(char *s, const char *secret);

#endif
