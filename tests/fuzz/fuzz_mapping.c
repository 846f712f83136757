/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_mapping.c: libFuzzer target for the MQTT mappings (daemon/sources/mapping.c).
 * Input: a JSON path up to the first newline, then a payload. The path is
 * parsed (and looked up in the payload when both parse); the payload is
 * evaluated by fixed mappings (the Frigate profile's shapes and a vendor one
 * with when, scale and a device map) on their topics. Checked: a mapped result
 * is one JSON object holding only the mapping's fields, for a valid device id;
 * a rejection has a reason and a `why`; nothing leaks or reads past the input. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "fuzz_common.h"
#include "sources/mapping.h"

static const char CONFIG[] =
    "gateway: {id: gw-1}\n"
    "commune: {code: \"16279\", province_code: \"38\"}\n"
    "villages: [{id: va}]\n"
    "mappings:\n"
    "  - name: detect\n"
    "    topic: \"frigate/{device}/status/detect\"\n"
    "    channel: state\n"
    "    device: {map: {front: cam-1}}\n"
    "    fields:\n"
    "      online: {from: payload, map: {online: true, offline: false}}\n"
    "  - name: events\n"
    "    topic: \"frigate/events\"\n"
    "    channel: event\n"
    "    device: {from: \"after.camera\"}\n"
    "    when: {type: new}\n"
    "    fields:\n"
    "      type: {value: motion}\n"
    "      ts: {from: \"after.start_time\"}\n"
    "  - name: vendor\n"
    "    topic: \"acme/{village}/{device}/#\"\n"
    "    kind: wifi\n"
    "    channel: stats\n"
    "    when: {\"k[0].x\": 1}\n"
    "    fields:\n"
    "      clients: {from: \"s.c\", scale: 2}\n"
    "      rx_bytes: {from: \"s.rx[3]\"}\n"
    "      new_sessions: {from: \"s.n\", map: {\"1\": 10, \"true\": 20, \"a\": 30}}\n";

static const char *const TOPICS[] = {"frigate/front/status/detect", "frigate/events",
                                     "acme/va/ap-1/x/y"};

static struct ntm_config *cfg;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg) {
        char err[1024];
        cfg = ntm_config_parse("fuzz.yaml", CONFIG, sizeof CONFIG - 1, err, sizeof err);
        if (!cfg)
            fprintf(stderr, "%s\n", err);
        FUZZ_ASSERT(cfg != NULL && cfg->n_mappings == 3);
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : 0;
    const char *payload = nl ? (const char *)nl + 1 : (const char *)data;
    size_t len = nl ? size - plen - 1 : size;

    char *path_text = fuzz_dup(data, plen);
    char why[160];
    struct ntm_map_path p;
    if (ntm_map_path_parse(path_text, plen, &p, why, sizeof why) == 0) {
        FUZZ_ASSERT(p.n >= 1 && p.n <= NTM_MAP_PATH_MAX);
        cJSON *root = cJSON_ParseWithLength(payload, len);
        if (root)
            (void)ntm_map_path_get(root, &p);
        cJSON_Delete(root);
        ntm_map_path_free(&p);
    } else {
        FUZZ_ASSERT(why[0] != '\0' && p.seg == NULL);
    }
    free(path_text);

    char *copy = fuzz_dup(payload, len);
    for (size_t i = 0; i < cfg->n_mappings; i++) {
        const struct ntm_mapping *m = &cfg->mappings[i];
        FUZZ_ASSERT(ntm_mapping_matches(m, TOPICS[i]));
        struct ntm_map_out out;
        enum ntm_reject r;
        enum ntm_map_result res =
            ntm_mapping_eval(m, TOPICS[i], copy, len, 4096, &out, &r, why, sizeof why);
        if (res == NTM_MAP_OK) {
            FUZZ_ASSERT(out.payload != NULL && out.len == strlen(out.payload));
            FUZZ_ASSERT(ntm_valid_device_id(out.device, strlen(out.device)));
            cJSON *o = cJSON_Parse(out.payload);
            FUZZ_ASSERT(o != NULL && cJSON_IsObject(o));
            FUZZ_ASSERT((size_t)cJSON_GetArraySize(o) == m->n_fields);
            cJSON_Delete(o);
        } else if (res == NTM_MAP_REJECT) {
            FUZZ_ASSERT(r > NTM_ACCEPT && r < NTM_REJ_COUNT && why[0] != '\0');
            FUZZ_ASSERT(out.payload == NULL);
        } else {
            FUZZ_ASSERT(res == NTM_MAP_UNMAPPED && out.payload == NULL);
        }
        free(out.payload);
    }
    free(copy);
    return 0;
}
