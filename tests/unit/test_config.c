/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_config.c: unit tests of config.c: the contract file, the shipped examples,
 * defaults, and one test per kind of configuration error (exact file:line:column).
 * Run from tests/unit (meson's workdir); NTM_SOURCE_ROOT points at the checkout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"

#include "check.h"

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (a_ != NULL && b_ != NULL && strcmp(a_, b_) == 0) {                                     \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" vs \"%s\")\n", __FILE__,        \
                    __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                     \
        }                                                                                          \
    } while (0)

static char err[4096];

static struct ntm_config *parse(const char *text)
{
    return ntm_config_parse("t.yaml", text, strlen(text), err, sizeof err);
}

/* Parsing `text` must fail, and its first error line must be at line:column and contain
 * `want`. */
static void expect_error_at(int at, const char *text, int line, int column, const char *want)
{
    struct ntm_config *cfg = parse(text);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t.yaml:%d:%d: ", line, column);
    size_t first_len = strcspn(err, "\n");
    char first[sizeof err];
    memcpy(first, err, first_len);
    first[first_len] = '\0';
    bool ok =
        cfg == NULL && strncmp(first, prefix, strlen(prefix)) == 0 && strstr(first, want) != NULL;
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "%s:%d: expected error \"%s...%s\", got %s\"%s\"\n", __FILE__, at, prefix,
                want, cfg ? "success and " : "", err);
    }
    ntm_config_free(cfg);
}
#define EXPECT_ERROR(text, line, column, want) expect_error_at(__LINE__, text, line, column, want)

/* Parsing `text` must succeed; returns the config (to free). */
static struct ntm_config *expect_ok_at(int at, const char *text)
{
    struct ntm_config *cfg = parse(text);
    if (cfg != NULL) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "%s:%d: expected success, got \"%s\"\n", __FILE__, at, err);
    }
    return cfg;
}
#define EXPECT_OK(text) expect_ok_at(__LINE__, text)

/* The smallest valid file; lines 1 to 7. Tests append sections from line 8 on. */
#define BASE                                                                                       \
    "gateway:\n"                                                                                   \
    "  id: gw-1\n"                                                                                 \
    "commune:\n"                                                                                   \
    "  code: \"16279\"\n"                                                                          \
    "  province_code: \"38\"\n"                                                                    \
    "villages:\n"                                                                                  \
    "  - id: v1\n"

static const char *source_root(void)
{
    const char *root = getenv("NTM_SOURCE_ROOT");
    return root && *root ? root : "../..";
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *copy = malloc(n + 1);
    if (copy != NULL)
        memcpy(copy, buf, n + 1);
    return copy;
}

/* 1-based line of the first occurrence of needle in text, or -1. */
static int line_of(const char *text, const char *needle)
{
    const char *p = strstr(text, needle);
    if (p == NULL)
        return -1;
    int line = 1;
    for (const char *q = text; q < p; q++)
        line += *q == '\n';
    return line;
}

/* Replaces every occurrence of `from` by `to` in a malloc'd string. */
static char *replace(char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    for (char *p = strstr(s, from); p != NULL; p = strstr(s, from)) {
        size_t off = (size_t)(p - s);
        char *n = malloc(strlen(s) - fl + tl + 1);
        memcpy(n, s, off);
        memcpy(n + off, to, tl);
        strcpy(n + off + tl, p + fl);
        free(s);
        s = n;
    }
    return s;
}

/* Every value of the contract file (config/gateway.yaml repeats them). */
static void check_contract_values(const struct ntm_config *cfg, const char *path)
{
    char *text = read_text(path);
    CHECK(text != NULL);
    CHECK_STR(cfg->path, path);
    CHECK_STR(cfg->gateway_id, "gw-16279-01");
    CHECK_STR(cfg->commune_code, "16279");
    CHECK_STR(cfg->province_code, "38");
    CHECK_STR(cfg->commune_name, "Hoằng Giang");

    CHECK_INT(cfg->n_villages, 2);
    CHECK_STR(cfg->villages[0].id, "thon-dong");
    CHECK_STR(cfg->villages[0].name, "Thôn Đông");
    CHECK_STR(cfg->villages[1].id, "thon-tay");
    CHECK_STR(cfg->villages[1].name, "Thôn Tây");

    CHECK_INT(cfg->n_devices, 3);
    CHECK_STR(cfg->devices[0].id, "spk-01");
    CHECK_INT(cfg->devices[0].kind, NTM_KIND_SPEAKER);
    CHECK_INT(cfg->devices[0].village, 0);
    CHECK_STR(cfg->devices[1].id, "cam-01");
    CHECK_INT(cfg->devices[1].kind, NTM_KIND_CAMERA);
    CHECK_INT(cfg->devices[1].village, 0);
    CHECK_STR(cfg->devices[2].id, "ap-01");
    CHECK_INT(cfg->devices[2].kind, NTM_KIND_WIFI);
    CHECK_INT(cfg->devices[2].village, 1);

    CHECK_STR(cfg->mqtt.host, "127.0.0.1");
    CHECK_INT(cfg->mqtt.port, 1883);
    CHECK_STR(cfg->mqtt.client_id, "ntm-gateway");
    CHECK_INT(cfg->mqtt.keepalive_s, 30);
    CHECK_INT(cfg->mqtt.max_payload, 16384);
    CHECK(cfg->mqtt.ca_file == NULL && cfg->mqtt.cert_file == NULL && cfg->mqtt.key_file == NULL);
    CHECK(cfg->mqtt.username == NULL && cfg->mqtt.password_file == NULL);

    CHECK_STR(cfg->storage.path, "/var/lib/ntm-gateway/buffer.db");
    CHECK_INT(cfg->storage.max_mb, 512);
    CHECK_INT(cfg->storage.commit_ms, 50);
    CHECK_INT(cfg->storage.commit_max, 4000);
    CHECK_INT(cfg->storage.sync_ms, 1000);
    CHECK_INT(cfg->storage.quarantine_max, 1000);
    CHECK_INT(cfg->sync.interval_s, 10);
    CHECK_INT(cfg->sync.grace_s, 120);
    CHECK_INT(cfg->log.level, LOG_INFO);
    /* the contract sets plugin_dir; the shipped example leaves it to the default */
    if (text && strstr(text, "\nplugin_dir:"))
        CHECK_STR(cfg->plugin_dir, "/usr/lib/x86_64-linux-gnu/ntm-gateway/plugins");
    else
        CHECK_STR(cfg->plugin_dir, NTM_DEFAULT_PLUGIN_DIR);

    CHECK_INT(cfg->n_uplinks, 2);
    const struct ntm_uplink_conf *u = &cfg->uplinks[0];
    CHECK_STR(u->plugin, "provincial-http");
    CHECK_INT(u->line, text ? line_of(text, "- plugin: provincial-http") : 0);
    CHECK_INT(u->column, 5);
    CHECK_INT(u->n_options, 2);
    CHECK_STR(u->options[0].key, "base_url");
    CHECK_STR(u->options[0].value, "https://ioc.example.gov.vn/ntm");
    CHECK_INT(u->options[0].line, text ? line_of(text, "base_url:") : 0);
    CHECK_INT(u->options[0].column, 15);
    CHECK(!u->options[0].quoted);
    CHECK_STR(u->options[1].key, "token_file");
    CHECK_STR(u->options[1].value, "/etc/ntm-gateway/token");
    CHECK_INT(u->options[1].line, text ? line_of(text, "token_file:") : 0);
    u = &cfg->uplinks[1];
    CHECK_STR(u->plugin, "file");
    CHECK_INT(u->n_options, 1);
    CHECK_STR(u->options[0].key, "dir");
    CHECK_STR(u->options[0].value, "/var/spool/ntm-gateway/outbox");
    free(text);
}

static void test_contract(void)
{
    char path[4096];
    /* the installers' key contract, kept verbatim as a fixture */
    snprintf(path, sizeof path, "%s/tests/fixtures/config/contract-gateway.yaml", source_root());
    struct ntm_config *cfg = ntm_config_load(path, err, sizeof err);
    CHECK(cfg != NULL);
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    check_contract_values(cfg, path);
    ntm_config_free(cfg);

    /* The optional keys the contract shows commented out, uncommented as written. */
    char *text = read_text(path);
    CHECK(text != NULL);
    if (text == NULL)
        return;
    text = replace(text, "  # tls: ", "  tls: ");
    text = replace(text, "  # username: ", "  username: ");
    text = replace(text, "\n  # password_file: ", "\n  password_file: ");
    text = replace(text, "\n    # ca_file: ", "\n    ca_file: ");
    text = replace(text, "    # gzip: ", "    gzip: ");
    cfg = ntm_config_parse(path, text, strlen(text), err, sizeof err);
    CHECK(cfg != NULL);
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
    } else {
        CHECK(cfg->mqtt.ca_file != NULL && cfg->mqtt.cert_file != NULL &&
              cfg->mqtt.key_file != NULL && cfg->mqtt.username != NULL &&
              cfg->mqtt.password_file != NULL);
        CHECK_INT(cfg->mqtt.port, 1883); /* given explicitly */
        CHECK_INT(cfg->uplinks[0].n_options, 4);
        bool gzip = false;
        CHECK(ntm_conf_option_bool(ntm_uplink_option(&cfg->uplinks[0], "gzip"), &gzip));
        CHECK(gzip);
        ntm_config_free(cfg);
    }
    free(text);
}

/* The shipped conffile parses, with placeholders where each commune must
 * write its own values (start-up refuses them: test_config_placeholders). */
static void test_shipped_example(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config/gateway.yaml", source_root());
    struct ntm_config *cfg = ntm_config_load(path, err, sizeof err);
    CHECK(cfg != NULL);
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_STR(cfg->gateway_id, "CHANGE-ME");
    CHECK_STR(cfg->commune_code, "00000");
    CHECK_STR(cfg->province_code, "00");
    CHECK_INT(cfg->n_villages, 1);
    CHECK_STR(cfg->villages[0].id, "change-me");
    CHECK_INT(cfg->n_devices, 0);
    CHECK_STR(cfg->mqtt.host, "127.0.0.1");
    CHECK_INT(cfg->mqtt.port, 1883);
    CHECK_STR(cfg->storage.path, "/var/lib/ntm-gateway/buffer.db");
    CHECK_INT(cfg->storage.max_mb, 512);
    CHECK_INT(cfg->sync.interval_s, 10);
    CHECK_INT(cfg->sync.grace_s, 120);
    CHECK_STR(cfg->plugin_dir, NTM_DEFAULT_PLUGIN_DIR);
    CHECK_INT(cfg->n_uplinks, 1);
    if (cfg->n_uplinks == 1) {
        CHECK_STR(cfg->uplinks[0].plugin, "provincial-http");
        const struct ntm_conf_option *b = ntm_uplink_option(&cfg->uplinks[0], "base_url");
        CHECK(b != NULL && strstr(b->value, "CHANGE-ME") != NULL);
    }
    ntm_config_free(cfg);
}

static void check_hoang_giang(const struct ntm_config *cfg)
{
    CHECK_STR(cfg->gateway_id, "gw-hoang-giang-01");
    CHECK_STR(cfg->commune_code, "16279");
    CHECK_INT(cfg->n_villages, 5);
    CHECK_INT(cfg->n_devices, 33);
    CHECK_STR(cfg->villages[0].id, "trung-tam");
    CHECK_STR(cfg->villages[0].name, "Trung tâm xã");
    int count[NTM_KIND_COUNT] = {0};
    for (size_t i = 0; i < cfg->n_devices; i++)
        count[cfg->devices[i].kind]++;
    CHECK_INT(count[NTM_KIND_WIFI], 12);
    CHECK_INT(count[NTM_KIND_CAMERA], 12);
    CHECK_INT(count[NTM_KIND_SPEAKER], 9);
    const struct ntm_device_decl *d = ntm_config_device(cfg, "cam-t4-3");
    CHECK(d != NULL && d->kind == NTM_KIND_CAMERA &&
          d->village == ntm_config_village(cfg, "thon-4"));
}

static void test_hoang_giang(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/config/hoang-giang.yaml", source_root());
    struct ntm_config *cfg = ntm_config_load(path, err, sizeof err);
    CHECK(cfg != NULL);
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    check_hoang_giang(cfg);
    CHECK_INT(cfg->n_uplinks, 0);
    ntm_config_free(cfg);
}

static void test_demo(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config/demo.yaml", source_root());
    struct ntm_config *cfg = ntm_config_load(path, err, sizeof err);
    CHECK(cfg != NULL);
    if (cfg == NULL) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    check_hoang_giang(cfg);
    CHECK_STR(cfg->mqtt.host, "127.0.0.1");
    CHECK_STR(cfg->storage.path, "demo-buffer.db");
    CHECK_INT(cfg->n_uplinks, 0);
    ntm_config_free(cfg);
}

static void test_defaults(void)
{
    struct ntm_config *cfg = EXPECT_OK(BASE);
    if (cfg == NULL)
        return;
    CHECK_STR(cfg->path, "t.yaml");
    CHECK_STR(cfg->commune_name, "");
    CHECK_INT(cfg->n_villages, 1);
    CHECK_STR(cfg->villages[0].name, "v1"); /* the id */
    CHECK_INT(cfg->n_devices, 0);
    CHECK(cfg->devices == NULL);
    CHECK_STR(cfg->mqtt.host, "127.0.0.1");
    CHECK_INT(cfg->mqtt.port, 1883);
    CHECK_STR(cfg->mqtt.client_id, "ntm-gateway");
    CHECK_INT(cfg->mqtt.keepalive_s, 30);
    CHECK_INT(cfg->mqtt.max_payload, 16384);
    CHECK(cfg->mqtt.ca_file == NULL && cfg->mqtt.username == NULL);
    CHECK_STR(cfg->storage.path, "/var/lib/ntm-gateway/buffer.db");
    CHECK_INT(cfg->storage.max_mb, 512);
    CHECK_INT(cfg->storage.commit_ms, 50);
    CHECK_INT(cfg->storage.commit_max, 4000);
    CHECK_INT(cfg->storage.sync_ms, 1000);
    CHECK_INT(cfg->storage.quarantine_max, 1000);
    CHECK_INT(cfg->sync.interval_s, 10);
    CHECK_INT(cfg->sync.grace_s, 120);
    CHECK_INT(cfg->log.level, LOG_INFO);
    CHECK_STR(cfg->plugin_dir, NTM_DEFAULT_PLUGIN_DIR);
    CHECK_INT(cfg->n_uplinks, 0);
    ntm_config_free(cfg);

    /* Sections written without content are empty; explicit values override defaults. */
    cfg = EXPECT_OK(BASE "devices:\nuplinks:\nmqtt:\nstorage:\n  path: rel/buf.db\n"
                         "  max_mb: 1\n  quarantine_max: 0\n  commit_ms: 10000\n"
                         "  commit_max: 100000\n  sync_ms: 10\n"
                         "sync: {interval_s: 3600, grace_s: 0}\nlog: {level: debug}\n"
                         "plugin_dir: plugins\n");
    if (cfg == NULL)
        return;
    CHECK_INT(cfg->n_devices, 0);
    CHECK_INT(cfg->n_uplinks, 0);
    CHECK_INT(cfg->mqtt.port, 1883);
    CHECK_STR(cfg->storage.path, "rel/buf.db");
    CHECK_INT(cfg->storage.max_mb, 1);
    CHECK_INT(cfg->storage.quarantine_max, 0);
    CHECK_INT(cfg->storage.commit_ms, 10000);
    CHECK_INT(cfg->storage.commit_max, 100000);
    CHECK_INT(cfg->storage.sync_ms, 10);
    CHECK_INT(cfg->sync.interval_s, 3600);
    CHECK_INT(cfg->sync.grace_s, 0);
    CHECK_INT(cfg->log.level, LOG_DEBUG);
    CHECK_STR(cfg->plugin_dir, "plugins");
    ntm_config_free(cfg);

    /* Unquoted codes are fine when their text is the right digits. */
    cfg = EXPECT_OK("gateway: {id: G.w_1-x}\ncommune: {code: 01627, province_code: 38}\n"
                    "villages: [{id: a-1, name: A}]\n");
    if (cfg != NULL) {
        CHECK_STR(cfg->gateway_id, "G.w_1-x");
        CHECK_STR(cfg->commune_code, "01627");
        CHECK_STR(cfg->province_code, "38");
        ntm_config_free(cfg);
    }
}

static void test_mqtt_tls(void)
{
    struct ntm_config *cfg = EXPECT_OK(
        BASE "mqtt:\n  host: broker.lan\n  client_id: gw\n  keepalive_s: 5\n  max_payload: 256\n"
             "  tls: {ca_file: ca.pem, cert_file: c.pem, key_file: k.pem}\n"
             "  username: u\n  password_file: /etc/ntm-gateway/pw\n");
    if (cfg != NULL) {
        CHECK_INT(cfg->mqtt.port, 8883); /* tls without a port */
        CHECK_STR(cfg->mqtt.host, "broker.lan");
        CHECK_STR(cfg->mqtt.client_id, "gw");
        CHECK_INT(cfg->mqtt.keepalive_s, 5);
        CHECK_INT(cfg->mqtt.max_payload, 256);
        CHECK_STR(cfg->mqtt.ca_file, "ca.pem");
        CHECK_STR(cfg->mqtt.cert_file, "c.pem");
        CHECK_STR(cfg->mqtt.key_file, "k.pem");
        CHECK_STR(cfg->mqtt.username, "u");
        CHECK_STR(cfg->mqtt.password_file, "/etc/ntm-gateway/pw");
        ntm_config_free(cfg);
    }
    cfg = EXPECT_OK(BASE "mqtt:\n  port: 9883\n  tls:\n    ca_file: ca.pem\n");
    if (cfg != NULL) {
        CHECK_INT(cfg->mqtt.port, 9883);
        CHECK_STR(cfg->mqtt.ca_file, "ca.pem");
        CHECK(cfg->mqtt.cert_file == NULL && cfg->mqtt.key_file == NULL);
        ntm_config_free(cfg);
    }
    EXPECT_ERROR(BASE "mqtt:\n  tls: {cert_file: c.pem, key_file: k.pem}\n", 9, 8,
                 "missing required key 'ca_file' in mqtt.tls");
    EXPECT_ERROR(BASE "mqtt:\n  tls: {ca_file: a, cert_file: c.pem}\n", 9, 8,
                 "missing required key 'key_file' in mqtt.tls");
    EXPECT_ERROR(BASE "mqtt:\n  tls: {ca_file: a, crt_file: c.pem}\n", 9, 21,
                 "unknown key 'crt_file' in mqtt.tls (expected one of: ca_file, cert_file, "
                 "key_file)");
    EXPECT_ERROR(BASE "mqtt:\n  tls: yes\n", 9, 8, "mqtt.tls must be a mapping, got \"yes\"");
    EXPECT_ERROR(BASE "mqtt:\n  password_file: pw\n", 9, 3,
                 "missing required key 'username' in mqtt");
}

static void test_uplinks(void)
{
    struct ntm_config *cfg =
        EXPECT_OK(BASE "uplinks:\n  - plugin: file\n    dir: out\n    gzip: \"true\"\n"
                       "    level: 7\n    empty:\n  - {plugin: x_2}\n");
    if (cfg == NULL)
        return;
    CHECK_INT(cfg->n_uplinks, 2);
    const struct ntm_uplink_conf *u = &cfg->uplinks[0];
    CHECK_STR(u->plugin, "file");
    CHECK_INT(u->line, 9);
    CHECK_INT(u->column, 5);
    CHECK_INT(u->n_options, 4);
    const struct ntm_conf_option *o = ntm_uplink_option(u, "dir");
    CHECK(o == &u->options[0]);
    CHECK(o != NULL && strcmp(o->value, "out") == 0 && o->line == 10 && o->column == 10);
    o = ntm_uplink_option(u, "gzip");
    CHECK(o != NULL && o->quoted && strcmp(o->value, "true") == 0);
    bool b = false;
    CHECK(!ntm_conf_option_bool(o, &b)); /* a quoted "true" is a string */
    long long v = 0;
    o = ntm_uplink_option(u, "level");
    CHECK(ntm_conf_option_int(o, 0, 10, &v) && v == 7);
    CHECK(!ntm_conf_option_int(o, 0, 6, &v));
    CHECK(!ntm_conf_option_bool(o, &b));
    o = ntm_uplink_option(u, "empty");
    CHECK(o != NULL && strcmp(o->value, "") == 0);
    CHECK(ntm_uplink_option(u, "plugin") == NULL);
    CHECK(ntm_uplink_option(u, "missing") == NULL);
    CHECK(ntm_uplink_option(NULL, "dir") == NULL);
    CHECK_STR(cfg->uplinks[1].plugin, "x_2");
    CHECK_INT(cfg->uplinks[1].n_options, 0);
    ntm_config_free(cfg);

    struct ntm_conf_option opt = {.key = "k", .value = "no"};
    CHECK(ntm_conf_option_bool(&opt, &b) && !b);
    opt.value = "YES";
    CHECK(ntm_conf_option_bool(&opt, &b) && b);
    opt.value = "False";
    CHECK(ntm_conf_option_bool(&opt, &b) && !b);
    opt.value = "maybe";
    CHECK(!ntm_conf_option_bool(&opt, &b));
    opt.value = "-12";
    CHECK(ntm_conf_option_int(&opt, -100, 100, &v) && v == -12);
    opt.value = "12x";
    CHECK(!ntm_conf_option_int(&opt, -100, 100, &v));

    EXPECT_ERROR(BASE "uplinks:\n  - plugin: file\n    \"a\\nb\": [1]\n", 10, 13,
                 "uplinks[0].'a\\x0ab' must be a single value, got a list");
    EXPECT_ERROR(BASE "uplinks:\n  - dir: out\n", 9, 5,
                 "missing required key 'plugin' in uplinks[0]");
    EXPECT_ERROR(BASE "uplinks:\n  - plugin: Provincial\n", 9, 13,
                 "uplinks[0].plugin must be a plugin name");
    EXPECT_ERROR(BASE "uplinks:\n  - plugin: file\n    dir: [a, b]\n", 10, 10,
                 "uplinks[0].dir must be a single value, got a list");
    EXPECT_ERROR(BASE "uplinks:\n  - plugin: file\n    dir: a\n    dir: b\n", 11, 5,
                 "duplicate key 'dir' in uplinks[0] (first at line 10, column 5)");
    EXPECT_ERROR(BASE "uplinks:\n  - plugin: file\n    plugin: http\n", 10, 5,
                 "duplicate key 'plugin' in uplinks[0] (first at line 9, column 5)");
    EXPECT_ERROR(BASE "uplinks:\n  plugin: file\n", 9, 3,
                 "uplinks must be a list of uplink entries, got a mapping");
    EXPECT_ERROR(BASE "uplinks:\n  - file\n", 9, 5,
                 "uplinks[0] must be a mapping with a 'plugin' key, got \"file\"");
}

static void test_unknown_keys(void)
{
    EXPECT_ERROR(BASE "mqtt:\n  host: h\n  prot: 1883\n", 10, 3,
                 "unknown key 'prot' in mqtt (expected one of: host, port, client_id, "
                 "keepalive_s, tls, username, password_file, max_payload)");
    EXPECT_ERROR(BASE "mqtt_host: h\n", 8, 1,
                 "unknown top-level key 'mqtt_host' (expected one of: gateway, commune, "
                 "villages, devices, ping, mqtt, storage, sync, log, web, plugin_dir, "
                 "mapping_dir, mappings, uplinks)");
    EXPECT_ERROR(BASE "storage: {path: a, size_mb: 3}\n", 8, 20,
                 "unknown key 'size_mb' in storage (expected one of: path, max_mb, commit_ms, "
                 "commit_max, sync_ms, quarantine_max, max_undeclared_devices)");
    EXPECT_ERROR(BASE "sync:\n  interval: 10\n", 9, 3, "unknown key 'interval' in sync");
    EXPECT_ERROR(BASE "log:\n  lvl: info\n", 9, 3, "unknown key 'lvl' in log");
    EXPECT_ERROR("gateway:\n  id: g\n  name: x\ncommune: {code: \"16279\", province_code: \"38\"}\n"
                 "villages: [{id: v}]\n",
                 3, 3, "unknown key 'name' in gateway (expected one of: id)");
    EXPECT_ERROR(BASE "  - id: v2\n    nmae: x\n", 9, 5,
                 "unknown key 'nmae' in villages[1] (expected one of: id, name)");
    EXPECT_ERROR(BASE "devices:\n  - {id: d, kind: wifi, village: v1, vilage: v1}\n", 9, 38,
                 "unknown key 'vilage' in devices[0]");
    EXPECT_ERROR(BASE "mqtt:\n  [a]: 1\n", 9, 3, "keys in mqtt must be names, got a list");
}

static void test_wrong_types(void)
{
    EXPECT_ERROR(BASE "mqtt:\n  host: {a: 1}\n", 9, 9, "mqtt.host must be a string, got a mapping");
    EXPECT_ERROR(BASE "mqtt:\n  host:\n", 9, 8, "mqtt.host must be a string, got no value");
    EXPECT_ERROR(BASE "mqtt:\n  port: abc\n", 9, 9,
                 "mqtt.port must be an integer from 1 to 65535, got \"abc\"");
    EXPECT_ERROR(BASE "mqtt:\n  port: \"1883\"\n", 9, 9,
                 "mqtt.port must be an integer from 1 to 65535, got the string \"1883\"");
    EXPECT_ERROR(BASE "mqtt:\n  port: 1883.0\n", 9, 9, "got \"1883.0\"");
    EXPECT_ERROR(BASE "mqtt:\n  port: [1883]\n", 9, 9, "got a list");
    EXPECT_ERROR(BASE "storage:\n  max_mb: -3\n", 9, 11,
                 "storage.max_mb must be an integer from 1 to 1048576, got \"-3\"");
    EXPECT_ERROR(BASE "mqtt: 1883\n", 8, 7, "mqtt must be a mapping, got \"1883\"");
    EXPECT_ERROR(BASE "storage: [a]\n", 8, 10, "storage must be a mapping, got a list");
    EXPECT_ERROR(BASE "plugin_dir: {a: b}\n", 8, 13, "plugin_dir must be a string, got a mapping");
    EXPECT_ERROR(BASE "storage:\n  path: \"\"\n", 9, 9, "storage.path must not be empty");
    EXPECT_ERROR(BASE "storage:\n  path: \"a\\0b\"\n", 9, 9,
                 "storage.path must not contain a NUL character");
    EXPECT_ERROR(BASE "log:\n  level: warn\n", 9, 10,
                 "log.level must be one of error, warning, notice, info, debug, got \"warn\"");
    EXPECT_ERROR("- gateway\n", 1, 1, "the configuration must be a mapping of sections");
    EXPECT_ERROR(BASE "devices: {id: d}\n", 8, 10,
                 "devices must be a list of devices, got a mapping");
    EXPECT_ERROR(BASE "devices:\n  - d1\n", 9, 5, "devices[0] must be a mapping, got \"d1\"");
    EXPECT_ERROR(BASE "  - id: v2\n    name: [x]\n", 9, 11,
                 "villages[1].name must be a string, got a list");

    static const struct {
        const char *section, *key, *bad;
        int col;
        const char *want;
    } ranges[] = {
        {"mqtt", "port", "0", 9, "mqtt.port must be an integer from 1 to 65535, got \"0\""},
        {"mqtt", "port", "65536", 9, "from 1 to 65535"},
        {"mqtt", "keepalive_s", "4", 16, "mqtt.keepalive_s must be an integer from 5 to 3600"},
        {"mqtt", "keepalive_s", "3601", 16, "from 5 to 3600"},
        {"mqtt", "max_payload", "255", 16,
         "mqtt.max_payload must be an integer from 256 to 1048576"},
        {"mqtt", "max_payload", "1048577", 16, "from 256 to 1048576"},
        {"storage", "max_mb", "0", 11, "storage.max_mb must be an integer from 1 to 1048576"},
        {"storage", "max_mb", "1048577", 11, "from 1 to 1048576"},
        {"storage", "commit_ms", "0", 14, "storage.commit_ms must be an integer from 1 to 10000"},
        {"storage", "commit_ms", "10001", 14, "from 1 to 10000"},
        {"storage", "commit_max", "0", 15,
         "storage.commit_max must be an integer from 1 to 100000"},
        {"storage", "commit_max", "100001", 15, "from 1 to 100000"},
        {"storage", "sync_ms", "9", 12, "storage.sync_ms must be an integer from 10 to 60000"},
        {"storage", "sync_ms", "60001", 12, "from 10 to 60000"},
        {"storage", "quarantine_max", "-1", 19,
         "storage.quarantine_max must be an integer from 0 to 1000000"},
        {"storage", "quarantine_max", "1000001", 19, "from 0 to 1000000"},
        {"sync", "interval_s", "0", 15, "sync.interval_s must be an integer from 1 to 3600"},
        {"sync", "interval_s", "3601", 15, "from 1 to 3600"},
        {"sync", "grace_s", "-1", 12, "sync.grace_s must be an integer from 0 to 86400"},
        {"sync", "grace_s", "86401", 12, "from 0 to 86400"},
        {"sync", "grace_s", "99999999999999999999", 12, "from 0 to 86400"},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, BASE "%s:\n  %s: %s\n", ranges[i].section, ranges[i].key,
                 ranges[i].bad);
        expect_error_at(__LINE__ + 1000 * (int)i, text, 9, ranges[i].col, ranges[i].want);
    }
    struct ntm_config *cfg =
        EXPECT_OK(BASE "mqtt: {port: 65535, keepalive_s: 3600, max_payload: 1048576}\n"
                       "storage: {max_mb: 1048576, quarantine_max: 1000000}\n"
                       "sync: {grace_s: 86400, interval_s: 1}\n");
    if (cfg != NULL) {
        CHECK_INT(cfg->mqtt.port, 65535);
        CHECK_INT(cfg->mqtt.keepalive_s, 3600);
        CHECK_INT(cfg->mqtt.max_payload, 1048576);
        CHECK_INT(cfg->storage.max_mb, 1048576);
        CHECK_INT(cfg->storage.quarantine_max, 1000000);
        CHECK_INT(cfg->sync.grace_s, 86400);
        CHECK_INT(cfg->sync.interval_s, 1);
        ntm_config_free(cfg);
    }
}

static void test_missing(void)
{
    EXPECT_ERROR("commune: {code: \"16279\", province_code: \"38\"}\nvillages: [{id: v}]\n", 1, 1,
                 "missing required section 'gateway'");
    EXPECT_ERROR("gateway: {id: g}\nvillages: [{id: v}]\n", 1, 1,
                 "missing required section 'commune'");
    EXPECT_ERROR("gateway: {id: g}\ncommune: {code: \"16279\", province_code: \"38\"}\n", 1, 1,
                 "missing required section 'villages'");
    EXPECT_ERROR("gateway: {}\ncommune: {code: \"16279\", province_code: \"38\"}\n"
                 "villages: [{id: v}]\n",
                 1, 10, "missing required key 'id' in gateway");
    EXPECT_ERROR("gateway:\ncommune: {code: \"16279\", province_code: \"38\"}\n"
                 "villages: [{id: v}]\n",
                 1, 9, "missing required key 'id' in gateway");
    EXPECT_ERROR("gateway: {id: g}\ncommune:\n  province_code: \"38\"\nvillages: [{id: v}]\n", 3, 3,
                 "missing required key 'code' in commune");
    EXPECT_ERROR("gateway: {id: g}\ncommune:\n  code: \"16279\"\nvillages: [{id: v}]\n", 3, 3,
                 "missing required key 'province_code' in commune");
    EXPECT_ERROR("gateway: {id: g}\ncommune: {code: \"16279\", province_code: \"38\"}\n"
                 "villages: []\n",
                 3, 11, "villages must list at least one village");
    EXPECT_ERROR("gateway: {id: g}\ncommune: {code: \"16279\", province_code: \"38\"}\n"
                 "villages:\n",
                 3, 10, "villages must list at least one village");
    EXPECT_ERROR(BASE "  - name: Two\n", 8, 5, "missing required key 'id' in villages[1]");
    EXPECT_ERROR(BASE "devices:\n  - {id: d, village: v1}\n", 9, 5,
                 "missing required key 'kind' in devices[0]");
    EXPECT_ERROR(BASE "devices:\n  - {id: d, kind: camera}\n", 9, 5,
                 "missing required key 'village' in devices[0]");
    EXPECT_ERROR(BASE "devices:\n  - {kind: camera, village: v1}\n", 9, 5,
                 "missing required key 'id' in devices[0]");
}

static void test_duplicates(void)
{
    EXPECT_ERROR(BASE "mqtt:\n  port: 1\n  port: 2\n", 10, 3,
                 "duplicate key 'port' in mqtt (first at line 9, column 3)");
    EXPECT_ERROR(BASE "mqtt: {}\nmqtt: {}\n", 9, 1,
                 "duplicate key 'mqtt' in the top level (first at line 8, column 1)");
    EXPECT_ERROR("gateway:\n  id: a\n  id: b\ncommune: {code: \"16279\", province_code: \"38\"}\n"
                 "villages: [{id: v}]\n",
                 3, 3, "duplicate key 'id' in gateway (first at line 2, column 3)");
    EXPECT_ERROR(BASE "  - id: v2\n  - id: v1\n", 9, 9,
                 "duplicate village id 'v1' (first declared at line 7, column 9)");
    EXPECT_ERROR(BASE "devices:\n  - {id: d1, kind: wifi, village: v1}\n"
                      "  - {id: d2, kind: wifi, village: v1}\n"
                      "  - {id: d1, kind: camera, village: v1}\n",
                 11, 10, "duplicate device id 'd1' (first declared at line 9, column 10)");
}

static void test_bad_ids(void)
{
    EXPECT_ERROR("gateway:\n  id: gw 1\ncommune: {code: \"16279\", province_code: \"38\"}\n"
                 "villages: [{id: v}]\n",
                 2, 7,
                 "gateway.id must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-', "
                 "got \"gw 1\"");
    EXPECT_ERROR("gateway:\n  id: "
                 "g12345678901234567890123456789012345678901234567890123456789012345\n"
                 "commune: {code: \"16279\", province_code: \"38\"}\nvillages: [{id: v}]\n",
                 2, 7, "gateway.id must be 1 to 64 characters");
    EXPECT_ERROR("gateway:\n  id: \"\"\ncommune: {code: \"16279\", province_code: \"38\"}\n"
                 "villages: [{id: v}]\n",
                 2, 7, "gateway.id must be 1 to 64 characters");
    EXPECT_ERROR("gateway:\n  id: g\ncommune:\n  code: \"1627\"\n  province_code: \"38\"\n"
                 "villages: [{id: v}]\n",
                 4, 9, "commune.code must be 5 digits, got \"1627\"");
    EXPECT_ERROR("gateway:\n  id: g\ncommune:\n  code: 1627a\n  province_code: \"38\"\n"
                 "villages: [{id: v}]\n",
                 4, 9, "commune.code must be 5 digits, got \"1627a\"");
    EXPECT_ERROR("gateway:\n  id: g\ncommune:\n  code: \"16279\"\n  province_code: \"038\"\n"
                 "villages: [{id: v}]\n",
                 5, 18, "commune.province_code must be 2 digits, got \"038\"");
    EXPECT_ERROR("gateway:\n  id: g\ncommune:\n  code: \"16279\"\n  province_code: 3\n"
                 "villages: [{id: v}]\n",
                 5, 18, "commune.province_code must be 2 digits, got \"3\"");
    EXPECT_ERROR(BASE "  - id: Thon-2\n", 8, 9,
                 "villages[1].id must be 1 to 32 characters of a-z, 0-9, '-' (lower case), got "
                 "\"Thon-2\"");
    EXPECT_ERROR(BASE "  - id: thon-ddddddddddddddddddddddddddddddd\n", 8, 9,
                 "villages[1].id must be 1 to 32");
    EXPECT_ERROR(BASE "devices:\n  - {id: cam/1, kind: camera, village: v1}\n", 9, 10,
                 "devices[0].id must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-', got "
                 "\"cam/1\"");
    EXPECT_ERROR(BASE "devices:\n  - {id: cam-1, kind: router, village: v1}\n", 9, 23,
                 "devices[0].kind must be one of speaker, camera, wifi, got \"router\"");
    EXPECT_ERROR(BASE "devices:\n  - {id: cam-1, kind: camera, village: v2}\n", 9, 40,
                 "devices[0].village 'v2' is not a declared village (declared: v1)");
    EXPECT_ERROR(BASE "devices:\n  - {id: cam-1, kind: camera, village: V1}\n", 9, 40,
                 "devices[0].village must be 1 to 32 characters");
    /* A device id may be 64 characters, a village id 32. */
    struct ntm_config *cfg = EXPECT_OK(
        "gateway: {id: g}\ncommune: {code: \"16279\", province_code: \"38\"}\n"
        "villages: [{id: v2345678901234567890123456789012}]\n"
        "devices: [{id: D234567890123456789012345678901234567890123456789012345678901234, "
        "kind: speaker, village: v2345678901234567890123456789012}]\n");
    if (cfg != NULL) {
        CHECK_INT(strlen(cfg->villages[0].id), 32);
        CHECK_INT(strlen(cfg->devices[0].id), 64);
        ntm_config_free(cfg);
    }
}

static void test_syntax(void)
{
    EXPECT_ERROR("", 1, 1, "the file has no configuration in it");
    EXPECT_ERROR("# just a comment\n\n", 1, 1, "the file has no configuration in it");
    EXPECT_ERROR("---\n", 2, 1, "the configuration is empty");
    EXPECT_ERROR("gateway:\n  id: [gw\ncommune: x\n", 3, 8,
                 "YAML syntax error: did not find "
                 "expected ',' or ']'");
    EXPECT_ERROR("gateway:\n  id: g\n   x: 1\n", 3, 5,
                 "YAML syntax error: mapping values are not allowed in this context");
    EXPECT_ERROR("gateway:\n\tid: g\n", 2, 1, "indent with spaces, not tabs");
    EXPECT_ERROR(BASE "mqtt: {host: \xff}\n", 8, 14,
                 "unreadable text (invalid leading UTF-8 octet)");
    EXPECT_ERROR(BASE "---\n" BASE, 9, 1, "a second YAML document");
    EXPECT_ERROR(BASE "mqtt: *nothing\n", 8, 7, "YAML syntax error: found undefined alias");
}

static void test_several_errors(void)
{
    struct ntm_config *cfg = parse(BASE "mqtt:\n  port: abc\n  prot: 1\nstorage:\n  max_mb: 0\n");
    CHECK(cfg == NULL);
    CHECK(strstr(err, "t.yaml:9:9: mqtt.port") == err);
    CHECK(strstr(err, "\nt.yaml:10:3: unknown key 'prot' in mqtt") != NULL);
    CHECK(strstr(err, "\nt.yaml:12:11: storage.max_mb must be") != NULL);
    CHECK(err[strlen(err) - 1] != '\n');

    /* Errors from all sections come out in file order. */
    cfg = parse("villages: [{id: BAD}]\ngateway: {id: \"a b\"}\n");
    CHECK(cfg == NULL);
    CHECK(strstr(err, "t.yaml:1:1: missing required section 'commune'") == err);
    CHECK(strstr(err, "\nt.yaml:1:17: villages[0].id") != NULL);
    CHECK(strstr(err, "\nt.yaml:2:15: gateway.id") != NULL);

    /* A small buffer gets the first error, cut short. */
    char small[24];
    cfg = ntm_config_parse("t.yaml", BASE "mqtt: {port: 0}\n", strlen(BASE "mqtt: {port: 0}\n"),
                           small, sizeof small);
    CHECK(cfg == NULL);
    CHECK_STR(small, "t.yaml:8:14: mqtt.port ");
    /* A buffer for one line keeps whole lines only, and says what it left out. */
    char mid[120];
    const char *three = BASE "mqtt: {port: 0, keepalive_s: 1}\nsync: {grace_s: -5}\n";
    cfg = ntm_config_parse("t.yaml", three, strlen(three), mid, sizeof mid);
    CHECK(cfg == NULL);
    CHECK(strstr(mid, "t.yaml:8:14: mqtt.port") == mid);
    CHECK(strstr(mid, "keepalive_s") == NULL);
    CHECK(strstr(mid, "\nt.yaml: 2 more errors not shown") != NULL);
    /* No buffer at all. */
    CHECK(ntm_config_parse("t.yaml", "x: 1", 4, NULL, 0) == NULL);

    /* Many errors: kept up to a bound, the rest counted. */
    char big[8192];
    size_t o = (size_t)snprintf(big, sizeof big, BASE "devices:\n");
    for (int i = 0; i < 100; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "  - {id: d%d, kind: x, village: v1}\n", i);
    cfg = ntm_config_parse("t.yaml", big, o, err, sizeof err);
    CHECK(cfg == NULL);
    CHECK(strstr(err, "t.yaml:9:") == err);
    CHECK(strstr(err, "more errors not shown") != NULL);
}

static void test_load(void)
{
    struct ntm_config *cfg = ntm_config_load("no/such/gateway.yaml", err, sizeof err);
    CHECK(cfg == NULL);
    CHECK(strstr(err, "no/such/gateway.yaml: cannot open: ") == err);
    cfg = ntm_config_load(".", err, sizeof err);
    CHECK(cfg == NULL);
    CHECK(strstr(err, ".: cannot read: ") == err);
    ntm_config_free(NULL);
}

static void test_helpers(void)
{
    struct ntm_config *cfg =
        EXPECT_OK(BASE "  - id: v-2\n    name: Thôn 2\ndevices:\n  - {id: A.b_c-1, kind: wifi, "
                       "village: v-2}\n  - {id: s1, kind: speaker, village: v1}\n");
    if (cfg == NULL)
        return;
    CHECK_INT(ntm_config_village(cfg, "v1"), 0);
    CHECK_INT(ntm_config_village(cfg, "v-2"), 1);
    CHECK_INT(ntm_config_village(cfg, "v3"), -1);
    CHECK_INT(ntm_config_village(cfg, NULL), -1);
    CHECK_STR(cfg->villages[1].name, "Thôn 2");
    const struct ntm_device_decl *d = ntm_config_device(cfg, "A.b_c-1");
    CHECK(d == &cfg->devices[0]);
    CHECK(d != NULL && d->kind == NTM_KIND_WIFI && d->village == 1);
    d = ntm_config_device(cfg, "s1");
    CHECK(d != NULL && d->kind == NTM_KIND_SPEAKER && d->village == 0);
    CHECK(ntm_config_device(cfg, "a.b_c-1") == NULL);
    CHECK(ntm_config_device(cfg, NULL) == NULL);
    ntm_config_free(cfg);

    CHECK(ntm_valid_village_id("thon-1", 6));
    CHECK(ntm_valid_village_id("a", 1));
    CHECK(ntm_valid_village_id("abcdefghijklmnopqrstuvwxyz012345", 32));
    CHECK(!ntm_valid_village_id("abcdefghijklmnopqrstuvwxyz0123456", 33));
    CHECK(!ntm_valid_village_id("", 0));
    CHECK(!ntm_valid_village_id("Thon", 4));
    CHECK(!ntm_valid_village_id("thon_1", 6));
    CHECK(!ntm_valid_village_id("th/n", 4));
    CHECK(!ntm_valid_village_id("th\0n", 4));
    CHECK(ntm_valid_village_id("thon-1/x", 6)); /* only len bytes count */
    CHECK(!ntm_valid_village_id(NULL, 3));
    CHECK(ntm_valid_device_id("Cam_01.a-b", 10));
    CHECK(!ntm_valid_device_id("cam 1", 5));
    CHECK(!ntm_valid_device_id("cam+1", 5));
    CHECK(!ntm_valid_device_id("", 0));
    CHECK(ntm_valid_device_id("0123456789012345678901234567890123456789012345678901234567890123",
                              64));
    CHECK(!ntm_valid_device_id("01234567890123456789012345678901234567890123456789012345678901234",
                               65));
    CHECK(!ntm_valid_device_id("cam#", 4));
    CHECK(!ntm_valid_device_id("đ", strlen("đ")));
}

int main(void)
{
    test_contract();
    test_shipped_example();
    test_hoang_giang();
    test_demo();
    test_defaults();
    test_mqtt_tls();
    test_uplinks();
    test_unknown_keys();
    test_wrong_types();
    test_missing();
    test_duplicates();
    test_bad_ids();
    test_syntax();
    test_several_errors();
    test_load();
    test_helpers();
    printf("config: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
