/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_config.c: libFuzzer target for ntm_config_parse (daemon/config.c), the
 * strict YAML configuration loader. The input is the file's text, in a heap
 * block of exactly its size.
 *
 * Checked, besides memory errors, undefined behaviour and leaks: a rejected
 * file gives a terminated error starting with the file name (FILE:LINE:COLUMN
 * or FILE: message), also into a tiny error buffer; an accepted one has what the
 * loader promises (at least one village, ids of the right syntax, devices that
 * point at a configured village and a known kind, a port in range, sizes > 0),
 * and its uplink options can be read the way the plugin host reads them; compared
 * with itself it has no change, compared with a fixed configuration as many either
 * way, and once the live changes are applied only changes needing a restart remain. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "fuzz_common.h"

#define NAME "fuzz.yaml"

static int all_digits(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static void check_config(const struct ntm_config *c)
{
    FUZZ_ASSERT(c->path != NULL);
    FUZZ_ASSERT(ntm_valid_device_id(c->gateway_id, strlen(c->gateway_id))); /* same syntax */
    FUZZ_ASSERT(all_digits(c->commune_code, 5) && all_digits(c->province_code, 2));
    FUZZ_ASSERT(c->n_villages >= 1 && c->villages != NULL);
    for (size_t i = 0; i < c->n_villages; i++) {
        const char *id = c->villages[i].id;
        FUZZ_ASSERT(ntm_valid_village_id(id, strlen(id)));
        FUZZ_ASSERT(c->villages[i].name != NULL);
        FUZZ_ASSERT(ntm_config_village(c, id) == (int)i); /* ids are unique */
    }
    for (size_t i = 0; i < c->n_devices; i++) {
        const struct ntm_device_decl *d = &c->devices[i];
        FUZZ_ASSERT(ntm_valid_device_id(d->id, strlen(d->id)));
        FUZZ_ASSERT(d->kind < NTM_KIND_COUNT && d->village < c->n_villages);
        FUZZ_ASSERT(ntm_config_device(c, d->id) == d); /* ids are unique */
    }
    FUZZ_ASSERT(c->mqtt.host != NULL && c->mqtt.client_id != NULL);
    FUZZ_ASSERT(c->mqtt.port >= 1 && c->mqtt.port <= 65535);
    FUZZ_ASSERT(c->mqtt.max_payload > 0);
    FUZZ_ASSERT(c->storage.path != NULL && c->storage.max_mb > 0);
    FUZZ_ASSERT(c->storage.commit_ms > 0 && c->storage.commit_max > 0 && c->storage.sync_ms > 0);
    FUZZ_ASSERT(c->storage.quarantine_max >= 0);
    FUZZ_ASSERT(c->sync.interval_s > 0 && c->sync.grace_s >= 0);
    FUZZ_ASSERT(c->plugin_dir != NULL);
    for (size_t i = 0; i < c->n_uplinks; i++) {
        const struct ntm_uplink_conf *u = &c->uplinks[i];
        FUZZ_ASSERT(u->plugin != NULL);
        for (size_t k = 0; k < u->n_options; k++) {
            const struct ntm_conf_option *o = &u->options[k];
            FUZZ_ASSERT(o->key != NULL && o->value != NULL);
            FUZZ_ASSERT(ntm_uplink_option(u, o->key) != NULL);
            bool b;
            long long v;
            (void)ntm_conf_option_bool(o, &b);
            if (ntm_conf_option_int(o, -1000, 1000, &v))
                FUZZ_ASSERT(v >= -1000 && v <= 1000);
        }
        FUZZ_ASSERT(ntm_uplink_option(u, "plugin") == NULL);
    }
}

/* A valid configuration to compare every accepted one with. */
static const char BASE[] = "gateway: {id: gw-1}\n"
                           "commune: {code: \"16279\", province_code: \"38\"}\n"
                           "villages: [{id: a}, {id: b, name: B}]\n"
                           "devices: [{id: d1, kind: wifi, village: b}]\n"
                           "mqtt: {max_payload: 1024}\n"
                           "storage: {sync_ms: 500, quarantine_max: 7}\n"
                           "log: {level: debug}\n"
                           "uplinks: [{plugin: file, dir: out}]\n";

static void check_diff(struct ntm_config *c, const char *text, size_t size)
{
    struct ntm_config *same = ntm_config_parse(NAME, text, size, NULL, 0);
    FUZZ_ASSERT(same != NULL);
    FUZZ_ASSERT(ntm_config_diff(c, same, NULL, 0) == 0);
    ntm_config_free(same);

    struct ntm_config *base = ntm_config_parse("base", BASE, sizeof BASE - 1, NULL, 0);
    FUZZ_ASSERT(base != NULL);
    struct ntm_config_change ch[8];
    size_t n = ntm_config_diff(c, base, ch, 8);
    FUZZ_ASSERT(ntm_config_diff(base, c, NULL, 0) == n);
    size_t n_restart = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        FUZZ_ASSERT(ch[i].key[0] != '\0');
    struct ntm_config_change *all = calloc(n ? n : 1, sizeof *all);
    FUZZ_ASSERT(all != NULL);
    FUZZ_ASSERT(ntm_config_diff(c, base, all, n) == n);
    for (size_t i = 0; i < n; i++)
        n_restart += !all[i].live;
    FUZZ_ASSERT(ntm_config_apply_live(c, base));
    /* applying takes a live list (mappings) whole, leaving the old one in base for
     * the caller to free: compare with a fresh copy of base */
    ntm_config_free(base);
    base = ntm_config_parse("base", BASE, sizeof BASE - 1, NULL, 0);
    FUZZ_ASSERT(base != NULL);
    FUZZ_ASSERT(ntm_config_diff(c, base, all, n) == n_restart);
    for (size_t i = 0; i < n_restart; i++)
        FUZZ_ASSERT(!all[i].live);
    free(all);
    ntm_config_free(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_dup(data, size);
    const size_t errlen = 512;
    char *err = malloc(errlen);
    FUZZ_ASSERT(err != NULL);
    memset(err, 'X', errlen);
    struct ntm_config *c = ntm_config_parse(NAME, text, size, err, errlen);
    FUZZ_ASSERT(fuzz_terminated(err, errlen));
    if (c != NULL) {
        check_config(c);
        check_diff(c, text, size);
        check_config(c); /* the live values of BASE are valid too */
        ntm_config_free(c);
    } else {
        FUZZ_ASSERT(strncmp(err, NAME ":", sizeof NAME) == 0);
        /* the same error into 7 bytes: truncated, terminated */
        char *small = malloc(7);
        FUZZ_ASSERT(small != NULL);
        memset(small, 'X', 7);
        FUZZ_ASSERT(ntm_config_parse(NAME, text, size, small, 7) == NULL);
        FUZZ_ASSERT(fuzz_terminated(small, 7));
        free(small);
    }
    free(err);
    free(text);
    return 0;
}
