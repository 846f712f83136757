/* SPDX-License-Identifier: GPL-3.0-or-later */
/* request.h: the web program's parsers of what a client or the configuration
 * sends: the request path, the language (?lang= and Accept-Language) and the
 * listen address. Pure functions on bounded text (fuzzed: tests/fuzz/fuzz_web.c);
 * no I/O, no allocation. */
#ifndef NTM_WEB_REQUEST_H
#define NTM_WEB_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

enum web_route { WEB_NOT_FOUND, WEB_PAGE, WEB_METRICS };

/* The route of a request path (as the server decoded it): exactly "/" or
 * "/metrics"; anything else, ".." included, is WEB_NOT_FOUND: no path ever
 * reaches a file. */
enum web_route web_route(const char *path);

/* The page's language, 0 = vi, 1 = en (enum ntm_web_language): the `lang`
 * query value when it is "vi" or "en", else the Accept-Language header's
 * preferred one of the two (by q, then order), else `fallback`. Either may
 * be NULL. */
int web_language(const char *lang_arg, const char *accept_language, int fallback);

/* Parses "ADDRESS:PORT" or "[V6]:PORT" (numeric addresses only). Returns 0
 * and fills ss/len, or -1 with a reason for a person in err. */
int web_parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len, char *err,
                     size_t errlen);
/* Whether a bound address is a loopback one (127.0.0.0/8, ::1, ::ffff:127.x). */
bool web_is_loopback(const struct sockaddr *sa);

#endif
