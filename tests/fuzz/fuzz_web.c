/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_web.c: libFuzzer target for the parsers of ntm-gateway-web
 * (daemon/web/request.c). Input: one byte choosing the parser and the
 * fallback language, then NUL-separated strings: the request path; the ?lang=
 * value and the Accept-Language header; or the listen address. Checked: the
 * route is one of three and only for "/" or "/metrics"; the language is 0 or 1
 * and the fallback when neither text names vi or en; an accepted listen
 * address has a port and a family, a refused one a reason; same input, same
 * answer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "web/request.h"

static bool names_a_language(const char *s)
{
    for (const char *p = s; p && *p; p++)
        if ((p[0] | 0x20) == 'v' && (p[1] | 0x20) == 'i')
            return true;
        else if ((p[0] | 0x20) == 'e' && (p[1] | 0x20) == 'n')
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *text = malloc(size + 1);
    FUZZ_ASSERT(text != NULL);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    text[size] = '\0';
    const char *a = text, *b = text + strlen(text) + 1;
    if (b > text + size - 1)
        b = NULL;
    int op = data[0] % 3, fallback = (data[0] >> 2) & 1;

    if (op == 0) {
        enum web_route r = web_route(a);
        FUZZ_ASSERT(r == WEB_NOT_FOUND || r == WEB_PAGE || r == WEB_METRICS);
        FUZZ_ASSERT((r == WEB_PAGE) == (strcmp(a, "/") == 0));
        FUZZ_ASSERT((r == WEB_METRICS) == (strcmp(a, "/metrics") == 0));
        FUZZ_ASSERT(web_route(NULL) == WEB_NOT_FOUND);
    } else if (op == 1) {
        int l = web_language(a[0] ? a : NULL, b, fallback);
        FUZZ_ASSERT(l == 0 || l == 1);
        FUZZ_ASSERT(web_language(a[0] ? a : NULL, b, fallback) == l);
        if (!names_a_language(a) && !names_a_language(b))
            FUZZ_ASSERT(l == fallback);
        FUZZ_ASSERT(web_language(NULL, NULL, fallback) == fallback);
    } else {
        struct sockaddr_storage ss;
        socklen_t len = 0;
        char err[256];
        err[0] = '\0';
        int rc = web_parse_listen(a, &ss, &len, err, sizeof err);
        if (rc == 0) {
            FUZZ_ASSERT(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
            uint16_t port = ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                    : ((struct sockaddr_in6 *)&ss)->sin6_port;
            FUZZ_ASSERT(ntohs(port) >= 1);
            FUZZ_ASSERT(len == (ss.ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                        : sizeof(struct sockaddr_in6)));
            (void)web_is_loopback((struct sockaddr *)&ss);
        } else {
            FUZZ_ASSERT(rc == -1 && err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
        }
    }
    free(text);
    return 0;
}
