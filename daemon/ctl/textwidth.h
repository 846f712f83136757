/* SPDX-License-Identifier: GPL-3.0-or-later */
/* textwidth.h: terminal width of UTF-8 text after NFC normalisation (Unikey
 * and some phones type Vietnamese decomposed, NFD: "ê" + combining acute).
 * Built on GNU libunistring (uninorm.h, uniwidth.h). */
#ifndef NTM_TEXTWIDTH_H
#define NTM_TEXTWIDTH_H

#include <stddef.h>

/* A NUL-terminated NFC copy of s (malloc'd; invalid UTF-8 is kept as is);
 * NULL when out of memory. */
char *tw_nfc(const char *s);
/* Terminal columns of s (after NFC; combining marks take none). */
int tw_width(const char *s);
/* Writes s (NFC) into out, cut to at most `width` columns (ending in "…" when
 * cut), and returns the columns used. */
int tw_fit(const char *s, int width, char *out, size_t outlen);

#endif
