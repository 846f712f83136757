/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_config_diff.c: the key tables (daemon/config_keys.c) are sound, and what follows
 * from them: ntm_config_diff names each changed key, live or restart, as the table says;
 * ntm_config_apply_live applies exactly the live ones; and a section or a list entry key
 * added the way config.h describes (tables made here) is compared and applied too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "config_table.h"
#include "config_yaml.h"

#include "check.h"

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (strcmp(a_, b_) == 0) {                                                                 \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s\n  got  \"%s\"\n  want \"%s\"\n",       \
                    __FILE__, __LINE__, #a, #b, a_, b_);                                           \
        }                                                                                          \
    } while (0)

/* ---- the tables themselves ---- */

static bool int_fits(size_t size, long long v)
{
    switch (size) {
    case 1:
        return v >= 0 && v <= UINT8_MAX;
    case 2:
        return v >= 0 && v <= UINT16_MAX;
    case 4:
        return v >= INT32_MIN && v <= INT32_MAX;
    default:
        return size == 8;
    }
}

struct span {
    size_t lo, hi;
};

/* Checks table t, whose fields are in a struct of struct_size bytes; collects the fields'
 * byte spans to find two keys stored in the same place. */
static void check_table(const struct conf_table *t, const char *where, size_t struct_size,
                        struct span *spans, size_t *n_spans)
{
    char *scratch = calloc(1, struct_size);
    CHECK(t->n <= CY_MAX_KEYS && (t->n >= 1 || t->keys == NULL)); /* mappings: none */
    for (size_t i = 0; i < t->n; i++) {
        const struct conf_key *k = &t->keys[i];
        bool ok = k->name != NULL && k->name[0] != '\0' && k->desc != NULL && k->desc[0] != '\0';
        for (size_t j = 0; j < i; j++)
            ok = ok && strcmp(t->keys[j].name, k->name) != 0;
        if (k->flags & CONF_REQUIRED)
            ok = ok && k->def == NULL && k->def_doc == NULL;
        const char *siblings[] = {k->needs, k->when, k->def_from};
        for (size_t s = 0; s < 3; s++)
            ok = ok && (siblings[s] == NULL || conf_find(t, siblings[s]) != NULL);
        ok = ok && (k->when == NULL) == (k->def_when == NULL);
        ok = ok && (k->needs == NULL) == (k->needs_why == NULL);
        switch (k->type) {
        case CONF_STRING:
        case CONF_PATH:
        case CONF_TEXT:
            ok = ok && k->size == sizeof(char *) && (k->valid == NULL) == (k->rule == NULL);
            break;
        case CONF_INT:
        case CONF_ENUM:
        case CONF_VILLAGE:
            ok = ok && k->min <= k->max && int_fits(k->size, k->min) && int_fits(k->size, k->max);
            if (k->type == CONF_ENUM) {
                ok = ok && k->word != NULL && k->word(k->min) != NULL;
                for (long long v = k->min; ok && v <= k->max; v++)
                    ok = k->word(v) == NULL || strlen(k->word(v)) > 0;
            }
            if (k->type == CONF_VILLAGE)
                ok = ok && k->valid != NULL && k->rule != NULL;
            break;
        case CONF_BOOL:
            ok = ok && k->size == sizeof(bool);
            break;
        case CONF_ID:
            ok = ok && k->valid != NULL && k->rule != NULL && k->size > 1;
            break;
        case CONF_DIGITS:
            ok = ok && k->min > 0 && k->size > (size_t)k->min;
            break;
        case CONF_MAP:
            ok = ok && k->map != NULL && k->def == NULL;
            break;
        case CONF_LIST:
            ok = ok && k->list != NULL && k->list->item != NULL && k->list->parse != NULL &&
                 k->list->of != NULL && k->list->entry != NULL && k->def == NULL;
            break;
        }
        if (k->type != CONF_MAP && k->type != CONF_LIST) {
            ok = ok && k->offset + k->size <= struct_size;
            spans[(*n_spans)++] = (struct span){k->offset, k->offset + k->size};
        }
        /* every default is a value the key accepts */
        if (k->def != NULL)
            ok = ok && conf_set_text(k, scratch, k->def);
        if (k->def_when != NULL)
            ok = ok && conf_set_text(k, scratch, k->def_when);
        if (!ok) {
            failed++;
            fprintf(stderr, "config_keys.c: the key %s%s%s is not described right\n",
                    where ? where : "", where ? "." : "", k->name);
        } else {
            passed++;
        }
        char path[128];
        snprintf(path, sizeof path, "%s%s%s", where ? where : "", where ? "." : "", k->name);
        if (k->type == CONF_MAP && k->map != NULL) {
            check_table(k->map, path, struct_size, spans, n_spans);
        } else if (k->type == CONF_LIST && k->list != NULL && k->list->item != NULL) {
            const struct conf_list *l = k->list;
            CHECK(l->items_off + sizeof(void *) <= struct_size &&
                  l->count_off + sizeof(size_t) <= struct_size);
            spans[(*n_spans)++] = (struct span){l->items_off, l->items_off + sizeof(void *)};
            spans[(*n_spans)++] = (struct span){l->count_off, l->count_off + sizeof(size_t)};
            struct span item_spans[64];
            size_t n_item = 0;
            check_table(l->item, path, l->item_size, item_spans, &n_item);
        }
    }
    conf_free_fields(t, scratch);
    free(scratch);
}

static void test_tables(void)
{
    struct span spans[128];
    size_t n = 0;
    check_table(&ntm_conf_root, NULL, sizeof(struct ntm_config), spans, &n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (spans[i].lo < spans[j].hi && spans[j].lo < spans[i].hi) {
                failed++;
                fprintf(stderr, "config_keys.c: two keys share bytes %zu..%zu\n", spans[i].lo,
                        spans[i].hi);
            }
    CHECK(n >= 25);

    /* the defaults, stated in the table, are what a file without the keys gets */
    struct ntm_config d = {0};
    CHECK(conf_set_defaults(&ntm_conf_root, &d));
    CHECK(d.mqtt.port == 1883 && d.mqtt.keepalive_s == 30 && d.log.level == LOG_INFO);
    CHECK(strcmp(d.plugin_dir, NTM_DEFAULT_PLUGIN_DIR) == 0);
    conf_free_fields(&ntm_conf_root, &d);
}

/* ---- ntm_config_diff on the real tables ---- */

#define BASE                                                                                       \
    "gateway: {id: gw-1}\n"                                                                        \
    "commune: {code: \"16279\", province_code: \"38\"}\n"                                          \
    "villages: [{id: v1}, {id: v2, name: Two}]\n"                                                  \
    "devices: [{id: d1, kind: wifi, village: v1}, {id: d2, kind: camera, village: v2}]\n"

static struct ntm_config *parse(const char *text)
{
    char err[2048];
    struct ntm_config *c = ntm_config_parse("t.yaml", text, strlen(text), err, sizeof err);
    if (c == NULL) {
        failed++;
        fprintf(stderr, "cannot parse the test text: %s\n", err);
    }
    return c;
}

/* The changes from a to b as "key live, key restart, ...". */
static const char *changes(const char *a, const char *b)
{
    static char out[1024];
    struct ntm_config *x = parse(a), *y = parse(b);
    struct ntm_config_change ch[16];
    strcpy(out, "(not parsed)");
    if (x != NULL && y != NULL) {
        size_t n = ntm_config_diff(x, y, ch, 16), o = 0;
        out[0] = '\0';
        for (size_t i = 0; i < n && i < 16; i++)
            o += (size_t)snprintf(out + o, sizeof out - o, "%s%s %s", i ? ", " : "", ch[i].key,
                                  ch[i].live ? "live" : "restart");
        CHECK(ntm_config_diff(x, y, NULL, 0) == n); /* the count without room for them */
    }
    ntm_config_free(x);
    ntm_config_free(y);
    return out;
}

static void test_diff(void)
{
    CHECK_STR(changes(BASE, BASE), "");
    /* the defaults written out are no change */
    CHECK_STR(changes(BASE, BASE "mqtt: {host: 127.0.0.1, port: 1883}\nlog: {level: info}\n"), "");
    CHECK_STR(changes(BASE, BASE "mqtt: {host: broker}\nstorage: {sync_ms: 500}\n"
                                 "log: {level: debug}\n"),
              "mqtt.host restart, storage.sync_ms live, log.level live");
    CHECK_STR(changes(BASE, BASE "mqtt: {max_payload: 1024, keepalive_s: 60}\n"
                                 "storage: {max_mb: 64, commit_ms: 20, commit_max: 10,\n"
                                 "  quarantine_max: 0, path: x.db}\n"
                                 "sync: {interval_s: 30, grace_s: 60}\nplugin_dir: p\n"),
              "mqtt.keepalive_s restart, mqtt.max_payload live, storage.path restart, "
              "storage.max_mb live, storage.commit_ms live, storage.commit_max live, "
              "storage.quarantine_max live, sync.interval_s live, sync.grace_s restart, "
              "plugin_dir restart");
    /* tls given: its keys, and the port it implies */
    CHECK_STR(changes(BASE, BASE "mqtt: {tls: {ca_file: ca.pem}, username: u}\n"),
              "mqtt.port restart, mqtt.tls.ca_file restart, mqtt.username restart");
    CHECK_STR(changes("gateway: {id: gw-2}\ncommune: {code: \"16278\", province_code: \"37\", "
                      "name: X}\nvillages: [{id: v1}]\n",
                      "gateway: {id: gw-1}\ncommune: {code: \"16279\", province_code: \"38\"}\n"
                      "villages: [{id: v1}]\n"),
              "gateway.id restart, commune.code restart, commune.province_code restart, "
              "commune.name restart");

    /* lists: entries added or removed are a change of the list; else entry by entry */
    const char *v3 = "gateway: {id: gw-1}\ncommune: {code: \"16279\", province_code: \"38\"}\n"
                     "villages: [{id: v1}, {id: v2, name: Two}, {id: v3}]\n";
    CHECK_STR(changes(BASE, v3), "villages restart, devices restart");
    const char *renamed =
        "gateway: {id: gw-1}\ncommune: {code: \"16279\", province_code: \"38\"}\n"
        "villages: [{id: v1, name: One}, {id: v2, name: Two}]\n"
        "devices: [{id: d1, kind: speaker, village: v2}, {id: d2, kind: camera, village: v2}]\n";
    CHECK_STR(changes(BASE, renamed),
              "villages[0].name restart, devices[0].kind restart, devices[0].village restart");
    CHECK_STR(changes(BASE "uplinks: [{plugin: file, dir: a}]\n",
                      BASE "uplinks: [{plugin: file, dir: b}]\n"),
              "uplinks restart"); /* an option: the plugin checks options, so the list */
    CHECK_STR(changes(BASE "uplinks: [{plugin: file, dir: a}]\n",
                      BASE "uplinks: [{plugin: other, dir: a}]\n"),
              "uplinks[0].plugin restart");
    CHECK_STR(changes(BASE "uplinks: [{plugin: file, dir: a}]\n", BASE), "uplinks restart");
}

static void test_apply_live(void)
{
    struct ntm_config *cur = parse(BASE),
                      *next = parse(BASE "mqtt: {host: broker, max_payload: 1024}\n"
                                         "storage: {sync_ms: 500, path: new.db}\n"
                                         "sync: {interval_s: 30, grace_s: 5}\n"
                                         "log: {level: warning}\n");
    if (cur == NULL || next == NULL) {
        ntm_config_free(cur);
        ntm_config_free(next);
        return;
    }
    CHECK(ntm_config_apply_live(cur, next));
    CHECK(cur->mqtt.max_payload == 1024 && cur->storage.sync_ms == 500 &&
          cur->sync.interval_s == 30 && cur->log.level == LOG_WARNING);
    CHECK_STR(cur->mqtt.host, "127.0.0.1");
    CHECK_STR(cur->storage.path, "/var/lib/ntm-gateway/buffer.db");
    CHECK(cur->sync.grace_s == 120 && cur->n_villages == 2);
    struct ntm_config_change ch[16];
    size_t n = ntm_config_diff(cur, next, ch, 16);
    CHECK(n == 3); /* mqtt.host, storage.path, sync.grace_s */
    for (size_t i = 0; i < n && i < 16; i++)
        CHECK(!ch[i].live);
    ntm_config_free(cur);
    ntm_config_free(next);
}

/* ---- a section and a list entry key added as config.h says ---- */

/* Stand-ins for what is coming: a ping section, and devices with a live address. */
struct ext_dev {
    char id[NTM_DEVICE_ID_MAX + 1];
    char *ip;
    int port;
};

struct ext_cfg {
    struct {
        int interval_s, timeout_ms;
    } ping;
    struct ext_dev *devs;
    size_t n_devs;
};

static const struct conf_key ping_keys[] = {
    {"interval_s", CONF_INT, CONF_E(struct ext_cfg, ping.interval_s), .flags = CONF_LIVE, .min = 5,
     .max = 3600, .def = "60", .desc = "seconds between pings"},
    {"timeout_ms", CONF_INT, CONF_E(struct ext_cfg, ping.timeout_ms), .flags = CONF_LIVE,
     .min = 100, .max = 10000, .def = "1000", .desc = "how long a reply may take"},
};
static const struct conf_table ping_table = CONF_TABLE(ping_keys);

static const struct conf_key dev_keys[] = {
    {"id", CONF_ID, CONF_E(struct ext_dev, id), .flags = CONF_REQUIRED | CONF_UNIQUE,
     .valid = ntm_valid_device_id, .rule = "an id", .desc = "the device's id"},
    {"ip", CONF_STRING, CONF_E(struct ext_dev, ip), .flags = CONF_LIVE, .desc = "its address"},
    {"port", CONF_INT, CONF_E(struct ext_dev, port), .min = 1, .max = 65535, .def = "80",
     .desc = "its port"},
};
static const struct conf_table dev_table = CONF_TABLE(dev_keys);
static const struct conf_list devs_list = {offsetof(struct ext_cfg, devs),
                                           offsetof(struct ext_cfg, n_devs),
                                           sizeof(struct ext_dev),
                                           "devices",
                                           "device",
                                           &dev_table,
                                           .parse = ntm_conf_parse_devices};

static const struct conf_key ext_keys[] = {
    {"ping", CONF_MAP, .map = &ping_table, .desc = "pinging devices"},
    {"devs", CONF_LIST, .list = &devs_list, .desc = "devices"},
};
static const struct conf_table ext_root = CONF_TABLE(ext_keys);

static void ext_init(struct ext_cfg *c, const char *const ids[], const char *const ips[], size_t n)
{
    memset(c, 0, sizeof *c);
    CHECK(conf_set_defaults(&ext_root, c));
    c->devs = calloc(n, sizeof c->devs[0]);
    c->n_devs = n;
    for (size_t i = 0; i < n; i++) {
        CHECK(conf_set_defaults(&dev_table, &c->devs[i]));
        CHECK(conf_set_text(&dev_keys[0], &c->devs[i], ids[i]));
        CHECK(conf_set_text(&dev_keys[1], &c->devs[i], ips[i]));
    }
}

static void test_extension(void)
{
    struct ext_cfg a, b;
    ext_init(&a, (const char *const[]){"d1", "d2"}, (const char *const[]){"10.0.0.1", "10.0.0.2"},
             2);
    ext_init(&b, (const char *const[]){"d1", "d9"}, (const char *const[]){"10.0.0.5", "10.0.0.6"},
             2);
    CHECK(a.ping.interval_s == 60 && a.ping.timeout_ms == 1000 && a.devs[0].port == 80);
    b.ping.timeout_ms = 200;
    struct ntm_config_change ch[8];
    size_t n = conf_diff(&ext_root, &a, &b, ch, 8, false);
    CHECK(n == 4);
    if (n == 4) {
        CHECK_STR(ch[0].key, "ping.timeout_ms");
        CHECK(ch[0].live);
        CHECK_STR(ch[1].key, "devs[0].ip");
        CHECK(ch[1].live); /* the same device, a new address */
        CHECK_STR(ch[2].key, "devs[1].id");
        CHECK(!ch[2].live);
        CHECK_STR(ch[3].key, "devs[1].ip");
        CHECK(!ch[3].live); /* another device: it waits with its id */
    }
    CHECK(conf_diff(&ext_root, &a, &b, NULL, 0, true) == 0);
    CHECK(a.ping.timeout_ms == 200);
    CHECK_STR(a.devs[0].ip, "10.0.0.5");
    CHECK(a.devs[0].ip != b.devs[0].ip); /* a copy: each is freed with its own */
    CHECK_STR(a.devs[1].id, "d2");
    CHECK_STR(a.devs[1].ip, "10.0.0.2");
    n = conf_diff(&ext_root, &a, &b, ch, 8, false);
    CHECK(n == 2 && !ch[0].live && !ch[1].live);
    conf_free_fields(&ext_root, &a);
    conf_free_fields(&ext_root, &b);
    CHECK(a.devs == NULL && a.n_devs == 0);
}

/* The documentation walk sees every key, each once, in the order of the tables. */
static void count_key(void *arg, const struct ntm_config_key_doc *k)
{
    int *n = arg;
    CHECK(k->key[0] != '\0' && k->def[0] != '\0' && k->values[0] != '\0' && k->meaning[0] != '\0');
    if (*n == 0)
        CHECK_STR(k->key, "gateway.id");
    (*n)++;
}

static void test_docs_walk(void)
{
    int n = 0;
    ntm_config_each_key(count_key, &n);
    CHECK_INT(n, 53);
}

int main(void)
{
    test_tables();
    test_diff();
    test_apply_live();
    test_extension();
    test_docs_walk();
    printf("config_diff: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
