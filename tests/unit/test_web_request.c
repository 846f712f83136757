/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_web_request.c: the parsers of ntm-gateway-web (daemon/web/request.c):
 * routes (traversal never reaches a file), the page's language from ?lang=
 * and Accept-Language, the listen address and what counts as loopback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "web/request.h"

static void test_routes(void)
{
    CHECK_INT(web_route("/"), WEB_PAGE);
    CHECK_INT(web_route("/metrics"), WEB_METRICS);
    const char *refused[] = {
        "",         "/../etc/passwd", "/metrics/", "/metrics/../x", "//", "/index.html", "/METRICS",
        "/%2e%2e/", "/metrics?",      NULL};
    for (int i = 0; refused[i]; i++)
        CHECK_INT(web_route(refused[i]), WEB_NOT_FOUND);
    CHECK_INT(web_route(NULL), WEB_NOT_FOUND);
}

static void test_language(void)
{
    CHECK_INT(web_language("en", NULL, 0), 1);
    CHECK_INT(web_language("vi", "en", 1), 0);
    CHECK_INT(web_language("fr", NULL, 0), 0);             /* unknown ?lang: the fallback */
    CHECK_INT(web_language("fr", "en-US,en;q=0.9", 0), 1); /* ...then the header */
    CHECK_INT(web_language(NULL, "en-US,en;q=0.9,vi;q=0.8", 0), 1);
    CHECK_INT(web_language(NULL, "vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7", 1), 0);
    CHECK_INT(web_language(NULL, "fr-FR, en;q=0.5, vi;q=0.6", 1), 0);
    CHECK_INT(web_language(NULL, "en;q=0, vi;q=0", 1), 1); /* both refused */
    CHECK_INT(web_language(NULL, "en;q=0", 0), 0);
    CHECK_INT(web_language(NULL, "*", 1), 1);
    CHECK_INT(web_language(NULL, "EN", 0), 1);
    CHECK_INT(web_language(NULL, "en;q=abc", 0), 0); /* malformed q: ignored */
    CHECK_INT(web_language(NULL, "eng, vie", 1), 1); /* three-letter tags are not ours */
    CHECK_INT(web_language(NULL, "", 1), 1);
}

static void test_listen(void)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char err[200];
    CHECK_INT(web_parse_listen("127.0.0.1:8080", &ss, &len, err, sizeof err), 0);
    CHECK_INT(ss.ss_family, AF_INET);
    CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
    CHECK(web_is_loopback((struct sockaddr *)&ss));
    CHECK_INT(web_parse_listen("127.3.4.5:1", &ss, &len, err, sizeof err), 0);
    CHECK(web_is_loopback((struct sockaddr *)&ss));
    CHECK_INT(web_parse_listen("[::]:8080", &ss, &len, err, sizeof err), 0);
    CHECK_INT(ss.ss_family, AF_INET6);
    CHECK(!web_is_loopback((struct sockaddr *)&ss));
    CHECK_INT(web_parse_listen("[::1]:80", &ss, &len, err, sizeof err), 0);
    CHECK(web_is_loopback((struct sockaddr *)&ss));
    CHECK_INT(web_parse_listen("[::ffff:127.0.0.1]:80", &ss, &len, err, sizeof err), 0);
    CHECK(web_is_loopback((struct sockaddr *)&ss));
    CHECK_INT(web_parse_listen("0.0.0.0:8080", &ss, &len, err, sizeof err), 0);
    CHECK(!web_is_loopback((struct sockaddr *)&ss));
    CHECK_INT(web_parse_listen("192.168.1.10:8080", &ss, &len, err, sizeof err), 0);
    CHECK(!web_is_loopback((struct sockaddr *)&ss));
    const char *bad[] = {
        "",         "8080",      "localhost:8080", "127.0.0.1",   "127.0.0.1:0",  "127.0.0.1:65536",
        "::1:8080", "[::1]8080", "[::1]:",         "1.2.3.4:80x", "[1.2.3.4]:80", NULL};
    for (int i = 0; bad[i]; i++) {
        err[0] = '\0';
        CHECK_INT(web_parse_listen(bad[i], &ss, &len, err, sizeof err), -1);
        CHECK(err[0] != '\0');
    }
    web_parse_listen("localhost:8080", &ss, &len, err, sizeof err);
    CHECK(strstr(err, "is not a numeric IPv4 or [IPv6] address") != NULL);
}

int main(void)
{
    test_routes();
    test_language();
    test_listen();
    printf("web_request: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
