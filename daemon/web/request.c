/* SPDX-License-Identifier: GPL-3.0-or-later */
/* request.c: the parsers of request.h (route, language, listen address). They
 * read bounded text only and never touch files or the network. */
#include "request.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum web_route web_route(const char *path)
{
    if (path == NULL)
        return WEB_NOT_FOUND;
    if (strcmp(path, "/") == 0)
        return WEB_PAGE;
    if (strcmp(path, "/metrics") == 0)
        return WEB_METRICS;
    return WEB_NOT_FOUND;
}

static int lang_word(const char *s, size_t n)
{
    if (n == 2 && strncasecmp(s, "vi", 2) == 0)
        return 0;
    if (n == 2 && strncasecmp(s, "en", 2) == 0)
        return 1;
    return -1;
}

/* A q value "0", "0.5", "1", "1.000" as thousandths; -1 when malformed. */
static int q_value(const char *s, size_t n)
{
    if (n == 0 || n > 5 || (s[0] != '0' && s[0] != '1'))
        return -1;
    int v = (s[0] - '0') * 1000;
    if (n == 1)
        return v;
    if (s[1] != '.')
        return -1;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v += (s[i] - '0') * scale;
    }
    return v > 1000 ? -1 : v;
}

int web_language(const char *lang_arg, const char *accept_language, int fallback)
{
    if (lang_arg != NULL) {
        int l = lang_word(lang_arg, strlen(lang_arg));
        if (l >= 0)
            return l;
    }
    if (accept_language == NULL)
        return fallback;
    /* "en-US,en;q=0.9,vi;q=0.8": items by ',', each "tag[;q=V]" */
    int best = -1, best_q = 0;
    const char *p = accept_language;
    for (int items = 0; *p != '\0' && items < 64; items++) {
        size_t len = strcspn(p, ",");
        const char *item = p;
        p += len;
        if (*p == ',')
            p++;
        while (len > 0 && (*item == ' ' || *item == '\t'))
            item++, len--;
        size_t tag = 0;
        while (tag < len && item[tag] != ';' && item[tag] != ' ' && item[tag] != '\t')
            tag++;
        size_t primary = 0;
        while (primary < tag && item[primary] != '-')
            primary++;
        int l = lang_word(item, primary);
        if (l < 0)
            continue;
        int q = 1000;
        const char *semi = memchr(item, ';', len);
        if (semi != NULL) {
            const char *e = item + len;
            const char *v = semi + 1;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            if (e - v >= 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
                v += 2;
                size_t vn = 0;
                while (v + vn < e && v[vn] != ' ' && v[vn] != '\t' && v[vn] != ';')
                    vn++;
                q = q_value(v, vn);
            }
        }
        if (q > best_q) {
            best = l;
            best_q = q;
        }
    }
    return best >= 0 ? best : fallback;
}

int web_parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len, char *err,
                     size_t errlen)
{
    char host[64];
    const char *port;
    memset(ss, 0, sizeof *ss);
    if (text == NULL || *text == '\0') {
        snprintf(err, errlen, "the listen address is empty");
        return -1;
    }
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':' || (size_t)(close - text - 1) >= sizeof host) {
            snprintf(err, errlen, "\"%.80s\" is not [IPv6 address]:port", text);
            return -1;
        }
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon || (size_t)(colon - text) >= sizeof host || strchr(text, ':') != colon) {
            snprintf(err, errlen, "\"%.80s\" is not address:port (an IPv6 address goes in [])",
                     text);
            return -1;
        }
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
        port = colon + 1;
    }
    char *end = NULL;
    long p = strtol(port, &end, 10);
    if (*port < '0' || *port > '9' || *end != '\0' || p < 1 || p > 65535) {
        snprintf(err, errlen, "\"%.80s\": the port is not a number from 1 to 65535", text);
        return -1;
    }
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (text[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)p);
        *len = sizeof *v4;
        return 0;
    }
    if (text[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)p);
        *len = sizeof *v6;
        return 0;
    }
    snprintf(err, errlen, "\"%.80s\": \"%s\" is not a numeric IPv4 or [IPv6] address", text, host);
    return -1;
}

bool web_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a))
            return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}
