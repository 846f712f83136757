/* SPDX-License-Identifier: GPL-3.0-or-later */
/* retry_after.h: the value of an HTTP Retry-After header (RFC 9110 section
 * 10.2.3) as a delay in milliseconds. Part of the HTTP client (http.c reads
 * the header, plugins get the delay); a pure function: the time "now" is
 * passed in, read by the caller from the daemon's one clock. */
#ifndef NTM_RETRY_AFTER_H
#define NTM_RETRY_AFTER_H

#include <stdint.h>

/* The longest delay a server can ask for: a day. */
#define NTM_RETRY_AFTER_MAX_MS (86400 * 1000LL)

/* `value` (NUL-terminated, surrounding blanks allowed) is delta-seconds or an
 * HTTP-date in any of the three forms a recipient must accept: IMF-fixdate
 * ("Sun, 06 Nov 1994 08:49:37 GMT"), the obsolete RFC 850 form ("Sunday,
 * 06-Nov-94 08:49:37 GMT") and asctime's ("Sun Nov  6 08:49:37 1994").
 * Returns the delay from now_ms (Unix ms) to then, at most
 * NTM_RETRY_AFTER_MAX_MS; 0 when value is NULL, not of that syntax (a person
 * gets no message: the header only ever delays a retry), or names a time that
 * is not after now_ms. */
int64_t ntm_retry_after_ms(const char *value, int64_t now_ms);

#endif
