/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_config_events.c: a camera's `events:` and a device's `ip` in the
 * configuration: the contract's examples with their defaults, every error with
 * its exact file:line:column, and a SIGHUP diff of them being live. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "check.h"

static char err[4096];

static struct ntm_config *parse(const char *text)
{
    return ntm_config_parse("t.yaml", text, strlen(text), err, sizeof err);
}

/* Parsing must fail with the first error at line:column holding `want`. */
static void expect_error_at(int at, const char *text, int line, int column, const char *want)
{
    struct ntm_config *cfg = parse(text);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t.yaml:%d:%d: ", line, column);
    bool ok = cfg == NULL && strncmp(err, prefix, strlen(prefix)) == 0 && strstr(err, want) &&
              strstr(err, want) < err + strcspn(err, "\n");
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "%s:%d: expected \"%s...%s\", got %s\"%s\"\n", __FILE__, at, prefix, want,
                cfg ? "success and " : "", err);
    }
    ntm_config_free(cfg);
}
#define EXPECT_ERROR(text, line, column, want) expect_error_at(__LINE__, text, line, column, want)

#define BASE                                                                                       \
    "gateway: {id: gw-1}\n"                                                                        \
    "commune: {code: \"16279\", province_code: \"38\"}\n"                                          \
    "villages: [{id: thon-1}]\n"                                                                   \
    "devices:\n"
/* line 5 is the first device */

static void test_contract_example(void)
{
    const char *text = BASE
        "  - {id: cam-t1-1, kind: camera, village: thon-1, ip: 192.168.10.31,\n"
        "     events: {api: hikvision, user: ntm, password_file: /etc/ntm-gateway/cameras.pass}}\n"
        "  - {id: cam-t1-2, kind: camera, village: thon-1,\n"
        "     events: {api: dahua, host: 192.168.10.40, channel: 2, user: ntm,\n"
        "              password_file: /etc/ntm-gateway/cameras.pass}}\n"
        "  - {id: cam-t1-3, kind: camera, village: thon-1,\n"
        "     events: {api: dahua, host: 192.168.10.40, channel: 3, user: ntm,\n"
        "              password_file: /etc/ntm-gateway/cameras.pass}}\n"
        "  - {id: cam-t1-4, kind: camera, village: thon-1, ip: 'fe80::1',\n"
        "     events: {api: hikvision, user: ntm, password_file: /p, https: true,\n"
        "              ca_file: /etc/ca.pem, port: 8443, keepalive_s: 10}}\n"
        "  - {id: loa-1, kind: speaker, village: thon-1, ip: loa-1.lan}\n";
    struct ntm_config *cfg = parse(text);
    CHECK(cfg != NULL);
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    const struct ntm_device_decl *d = cfg->devices;
    CHECK_INT(cfg->n_devices, 5);
    CHECK_INT(d[0].events.api, NTM_EVENTS_HIKVISION);
    CHECK(strcmp(d[0].ip, "192.168.10.31") == 0);
    CHECK(d[0].events.host == NULL);
    CHECK(strcmp(d[0].events.user, "ntm") == 0);
    CHECK(strcmp(d[0].events.password_file, "/etc/ntm-gateway/cameras.pass") == 0);
    CHECK_INT(d[0].events.port, 0); /* 80, or 443 with https */
    CHECK(!d[0].events.https);
    CHECK(d[0].events.ca_file == NULL);
    CHECK_INT(d[0].events.channel, 1);
    CHECK_INT(d[0].events.keepalive_s, 30);
    CHECK_INT(d[1].events.api, NTM_EVENTS_DAHUA);
    CHECK(d[1].ip == NULL && strcmp(d[1].events.host, "192.168.10.40") == 0);
    CHECK_INT(d[1].events.channel, 2);
    CHECK_INT(d[2].events.channel, 3);
    CHECK(d[3].events.https && strcmp(d[3].events.ca_file, "/etc/ca.pem") == 0);
    CHECK_INT(d[3].events.port, 8443);
    CHECK_INT(d[3].events.keepalive_s, 10);
    CHECK_INT(d[4].events.api, NTM_EVENTS_NONE);
    CHECK(strcmp(d[4].ip, "loa-1.lan") == 0);
    ntm_config_free(cfg);
}

#define CAM "  - {id: c1, kind: camera, village: thon-1, ip: 10.0.0.1, "

static void test_errors(void)
{
    EXPECT_ERROR(BASE CAM "events: {user: ntm, password_file: /p}}\n", 5, 67,
                 "missing required key 'api' in devices[0].events");
    EXPECT_ERROR(BASE CAM "events: {api: axis, user: ntm, password_file: /p}}\n", 5, 73,
                 "devices[0].events.api must be one of hikvision, dahua, got \"axis\"");
    EXPECT_ERROR(BASE CAM "events: {api: dahua, password_file: /p}}\n", 5, 67,
                 "missing required key 'user' in devices[0].events");
    EXPECT_ERROR(BASE CAM "events: {api: dahua, user: ntm}}\n", 5, 67,
                 "missing required key 'password_file' in devices[0].events");
    EXPECT_ERROR(BASE CAM "events: {api: dahua, user: \"a:b\", password_file: /p}}\n", 5, 86,
                 "devices[0].events.user must be 1 to 64 characters, no ':'");
    EXPECT_ERROR(BASE CAM "events: {api: dahua, user: u, password: x, password_file: /p}}\n", 5, 89,
                 "unknown key 'password' in devices[0].events");
    EXPECT_ERROR(BASE CAM "events: {api: dahua, user: u, password_file: /p, channel: 0}}\n", 5, 117,
                 "devices[0].events.channel must be an integer from 1 to 4096, got \"0\"");
    EXPECT_ERROR(BASE CAM "events: {api: dahua, user: u, password_file: /p, port: 70000}}\n", 5,
                 114, "devices[0].events.port must be an integer from 1 to 65535");
    EXPECT_ERROR(BASE CAM "events: {api: dahua, user: u, password_file: /p, keepalive_s: 0}}\n", 5,
                 121, "devices[0].events.keepalive_s must be an integer from 1 to 3600");
    EXPECT_ERROR(BASE CAM "events: {api: dahua, user: u, password_file: /p, host: \"a/b\"}}\n", 5,
                 114, "devices[0].events.host must be an IPv4 or IPv6 address or a host name");
    EXPECT_ERROR(BASE "  - {id: c1, kind: camera, village: thon-1, ip: \"http://x\"}\n", 5, 49,
                 "devices[0].ip must be an IPv4 or IPv6 address or a host name");
    EXPECT_ERROR(BASE "  - {id: c1, kind: camera, village: thon-1,\n"
                      "     events: {api: dahua, user: u, password_file: /p}}\n",
                 6, 14, "devices[0].events needs the camera's address: set events.host, or ip");
    EXPECT_ERROR(BASE "  - {id: s1, kind: speaker, village: thon-1, ip: 10.0.0.1,\n"
                      "     events: {api: dahua, user: u, password_file: /p}}\n",
                 6, 14, "devices[0].events: only cameras (kind: camera) have an event stream");
    EXPECT_ERROR(BASE CAM "events: {api: dahua, user: u, password_file: /p, ca_file: /ca}}\n", 5,
                 67, "devices[0].events: ca_file is only used with https: true");
    /* two channels of one NVR: one stream, so one api, password file, ... */
    EXPECT_ERROR(BASE CAM "events: {api: dahua, user: u, password_file: /p, channel: 1}}\n"
                          "  - {id: c2, kind: camera, village: thon-1,\n"
                          "     events: {api: dahua, host: 10.0.0.1, user: u, password_file: /q,\n"
                          "              channel: 2}}\n",
                 7, 14,
                 "devices[1].events: c1 and c2 share one event stream (same host, port and user) "
                 "but not its api, https, ca_file, password_file or keepalive_s");
    EXPECT_ERROR(BASE CAM "events: {api: dahua, user: u, password_file: /p, channel: 2}}\n"
                          "  - {id: c2, kind: camera, village: thon-1,\n"
                          "     events: {api: dahua, host: 10.0.0.1, user: u, password_file: /p,\n"
                          "              channel: 2}}\n",
                 7, 14, "devices[1].events: c1 and c2 are both on channel 2 of 10.0.0.1");
    /* another user or port is another stream: no conflict */
    struct ntm_config *cfg =
        parse(BASE CAM "events: {api: dahua, user: u, password_file: /p, channel: 2}}\n"
                       "  - {id: c2, kind: camera, village: thon-1,\n"
                       "     events: {api: hikvision, host: 10.0.0.1, port: 81, user: u,\n"
                       "              password_file: /q, channel: 2}}\n");
    CHECK(cfg != NULL);
    ntm_config_free(cfg);
}

/* `ip` and every key of `events` are applied by SIGHUP (the streams follow). */
static void test_live(void)
{
    struct ntm_config *a = parse(BASE CAM "events: {api: dahua, user: u, password_file: /p}}\n"
                                          "  - {id: c2, kind: camera, village: thon-1}\n");
    struct ntm_config *b = parse(
        BASE "  - {id: c1, kind: camera, village: thon-1, ip: 10.0.0.2, events: {api: hikvision, "
             "user: v, password_file: /q, channel: 3, keepalive_s: 5}}\n"
             "  - {id: c2, kind: camera, village: thon-1, ip: 10.0.0.3,\n"
             "     events: {api: dahua, user: u, password_file: /p}}\n");
    CHECK(a != NULL && b != NULL);
    if (a == NULL || b == NULL) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    struct ntm_config_change ch[32];
    size_t n = ntm_config_diff(a, b, ch, 32);
    CHECK_INT(n, 10);
    for (size_t i = 0; i < n && i < 32; i++)
        CHECK(ch[i].live);
    CHECK(ntm_config_apply_live(a, b));
    CHECK_INT(ntm_config_diff(a, b, NULL, 0), 0);
    CHECK(strcmp(a->devices[0].ip, "10.0.0.2") == 0);
    CHECK_INT(a->devices[0].events.api, NTM_EVENTS_HIKVISION);
    CHECK_INT(a->devices[1].events.api, NTM_EVENTS_DAHUA);
    CHECK(strcmp(a->devices[1].events.password_file, "/p") == 0);
    ntm_config_free(a);
    ntm_config_free(b);
}

int main(void)
{
    test_contract_example();
    test_errors();
    test_live();
    printf("config_events: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
