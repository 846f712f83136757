/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_config_mappings.c: `mappings:` as config_mappings.c reads it: the
 * contract's example, the shipped Frigate profile by include, and each kind of
 * mapping error once (exact file:line:column); then the evaluation of the
 * Frigate shapes and a vendor format by sources/mapping.c. Run from tests/unit;
 * NTM_SOURCE_ROOT points at the checkout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "sources/mapping.h"
#include "sources/source.h"

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

static char err[8192];
static char base[1024];

static struct ntm_config *parse(const char *mappings)
{
    char *text = malloc(strlen(base) + strlen(mappings) + 1);
    sprintf(text, "%s%s", base, mappings);
    struct ntm_config *c = ntm_config_parse("t.yaml", text, strlen(text), err, sizeof err);
    free(text);
    return c;
}

/* The first error line is at line:column (counted in the whole file: the base is 8 lines)
 * and says `want`. */
static void expect_error_at(int at, const char *mappings, int line, int column, const char *want)
{
    struct ntm_config *cfg = parse(mappings);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t.yaml:%d:%d: ", line, column);
    bool ok = cfg == NULL && strncmp(err, prefix, strlen(prefix)) == 0 &&
              strstr(err, want) != NULL && strstr(err, want) < err + strcspn(err, "\n");
    if (ok) {
        passed++;
    } else {
        failed++;
        fprintf(stderr, "%s:%d: expected \"%s...%s\", got %s\"%s\"\n", __FILE__, at, prefix, want,
                cfg ? "success and " : "", err);
    }
    ntm_config_free(cfg);
}
#define EXPECT_ERROR(m, line, column, want) expect_error_at(__LINE__, m, line, column, want)

static void test_errors(void)
{
    /* the base ends on line 8: "mappings:" is line 9, the first entry line 10 */
    EXPECT_ERROR("mappings:\n  - {topic: \"a/{device}\", channel: state}\n", 10, 5,
                 "missing required key 'name'");
    EXPECT_ERROR("mappings:\n  - {name: a, channel: state}\n", 10, 5,
                 "missing required key 'topic'");
    EXPECT_ERROR("mappings:\n  - {name: a, topic: \"a/{device}\"}\n", 10, 5,
                 "missing required key 'channel'");
    EXPECT_ERROR("mappings:\n  - {name: a, topic: \"a/{device}\", channel: radio}\n", 10, 45,
                 "mappings[0].channel must be one of state, heartbeat, event, stats");
    EXPECT_ERROR("mappings:\n  - {name: 'a b', topic: \"a/{device}\", channel: state}\n", 10, 12,
                 "mappings[0].name must be 1 to 64 characters");
    EXPECT_ERROR("mappings:\n  - {name: a, topic: \"a/{device}\", channel: state, colour: red}\n",
                 10, 52, "unknown key 'colour' in mappings[0]");
    EXPECT_ERROR("mappings:\n  - {name: a, topic: \"a/#/b/{device}\", channel: state}\n", 10, 22,
                 "'#' may only be the last level");
    EXPECT_ERROR("mappings:\n  - {name: a, topic: \"a/x{device}\", channel: state}\n", 10, 22,
                 "mixes text with + # { }");
    EXPECT_ERROR("mappings:\n  - {name: a, topic: \"a/{device}/{device}\", channel: state}\n", 10,
                 22, "names {device} twice");
    EXPECT_ERROR("mappings:\n  - {name: a, topic: \"ntm/v1/x/{device}\", channel: state}\n", 10, 22,
                 "topics under ntm/ are the device contract's own");
    EXPECT_ERROR("mappings:\n  - {name: a, topic: \"a/b\", channel: state}\n", 10, 22,
                 "the device is named neither by {device}");
    EXPECT_ERROR("mappings:\n  - {name: a, topic: \"a/{device}\", channel: state, "
                 "device: {from: x}}\n",
                 10, 60, "the topic names {device} already");
    EXPECT_ERROR("mappings:\n  - {name: a, topic: \"a/{device}\", channel: state, kind: camera}\n",
                 10, 58, "then the topic must name {village} too");
    EXPECT_ERROR("mappings:\n  - {name: a, topic: \"a/{device}\", channel: state, kind: radio}\n",
                 10, 58, "must be one of speaker, camera, wifi");
    EXPECT_ERROR("mappings:\n  - name: a\n    topic: \"a/{device}\"\n    channel: state\n"
                 "    fields: {onlien: {value: true}}\n",
                 13, 14, "'onlien' is not a field of the state channel (ts, online)");
    EXPECT_ERROR("mappings:\n  - name: a\n    topic: \"a/{device}\"\n    channel: state\n"
                 "    fields: {online: {from: payload, valeu: true}}\n",
                 13, 38, "unknown key 'valeu' in mappings[0].fields.online");
    EXPECT_ERROR("mappings:\n  - name: a\n    topic: \"a/{device}\"\n    channel: state\n"
                 "    fields: {online: {value: true, map: {a: b}}}\n",
                 13, 30, "`value` is a constant and goes alone");
    EXPECT_ERROR("mappings:\n  - name: a\n    topic: \"a/{device}\"\n    channel: state\n"
                 "    fields: {online: {}}\n",
                 13, 22, "missing required key 'value' or 'from'");
    EXPECT_ERROR("mappings:\n  - name: a\n    topic: \"a/{device}\"\n    channel: state\n"
                 "    fields: {online: {from: \"a..b\"}}\n",
                 13, 29, "bad JSON path: the path has an empty key");
    EXPECT_ERROR("mappings:\n  - name: a\n    topic: \"a/{device}\"\n    channel: state\n"
                 "    fields: {online: {from: \"a[x]\"}}\n",
                 13, 29, "'[' must be followed by an index");
    EXPECT_ERROR("mappings:\n  - name: a\n    topic: \"a/{device}\"\n    channel: heartbeat\n"
                 "    fields: {uptime_s: {from: a, scale: lots}}\n",
                 13, 41, "mappings[0].fields.uptime_s.scale must be a number");
    EXPECT_ERROR("mappings:\n  - name: a\n    topic: \"a/{device}\"\n    channel: state\n"
                 "    fields: {online: {from: payload, map: {on: true, on: false}}}\n",
                 13, 54, "lists 'on' twice");
    EXPECT_ERROR("mappings:\n  - name: a\n    topic: \"a/{device}\"\n    channel: state\n"
                 "    when: [type]\n",
                 13, 11, "mappings[0].when must be a mapping of PATH: value");
    EXPECT_ERROR("mappings:\n  - {name: a, topic: \"a/{device}\", channel: state}\n"
                 "  - {name: a, topic: \"b/{device}\", channel: state}\n",
                 11, 5, "duplicate mapping name 'a' (at t.yaml:10:5 and t.yaml:11:5)");
    EXPECT_ERROR("mappings:\n  - {include: frigate, name: x}\n", 10, 30,
                 "`include` goes alone in its entry");
    EXPECT_ERROR("mappings:\n  - {include: nothere}\n", 10, 15, "profile 'nothere' cannot be read");
    EXPECT_ERROR("mappings:\n  - {include: ../etc}\n", 10, 15, "must name a profile");
    EXPECT_ERROR("mappings: {name: a}\n", 9, 11, "mappings must be a list of mappings");
}

static struct ntm_config *frigate(void)
{
    struct ntm_config *c = parse("mappings:\n  - include: frigate\n");
    if (!c)
        fprintf(stderr, "%s\n", err);
    CHECK(c != NULL && c->n_mappings == 3);
    return c;
}

/* evaluates payload on topic by the mapping named `name` of c */
static enum ntm_map_result eval(const struct ntm_config *c, const char *name, const char *topic,
                                const char *payload, struct ntm_map_out *out, enum ntm_reject *r,
                                char *why)
{
    for (size_t i = 0; i < c->n_mappings; i++)
        if (strcmp(c->mappings[i].name, name) == 0) {
            CHECK(ntm_mapping_matches(&c->mappings[i], topic));
            return ntm_mapping_eval(&c->mappings[i], topic, payload, strlen(payload), 16384, out, r,
                                    why, 200);
        }
    CHECK(!"no such mapping");
    return NTM_MAP_REJECT;
}

static void test_frigate(void)
{
    struct ntm_config *c = frigate();
    if (!c)
        return;
    struct ntm_map_out o;
    enum ntm_reject r;
    char why[200];
    CHECK_INT(eval(c, "frigate-detect", "frigate/cam-1/status/detect", "online", &o, &r, why),
              NTM_MAP_OK);
    CHECK_STR(o.device, "cam-1");
    CHECK_STR(o.payload, "{\"online\":true}");
    CHECK_INT(o.flags, NTM_SOURCE_RECV_TIME);
    free(o.payload);
    CHECK_INT(eval(c, "frigate-recording", "frigate/cam-1/recordings/state", " OFF\n", &o, &r, why),
              NTM_MAP_OK);
    CHECK_STR(o.payload, "{\"recording\":false}");
    free(o.payload);
    CHECK_INT(
        eval(c, "frigate-events", "frigate/events",
             "{\"type\":\"new\",\"after\":{\"camera\":\"cam-2\",\"start_time\":1795420800.5}}", &o,
             &r, why),
        NTM_MAP_OK);
    CHECK_STR(o.device, "cam-2");
    CHECK_STR(o.payload, "{\"type\":\"motion\",\"ts\":1795420800.5}");
    CHECK_INT(o.flags, 0);
    free(o.payload);
    CHECK_INT(eval(c, "frigate-events", "frigate/events", "{\"type\":\"end\"}", &o, &r, why),
              NTM_MAP_UNMAPPED);
    CHECK_INT(eval(c, "frigate-detect", "frigate/cam-1/status/detect", "maybe", &o, &r, why),
              NTM_MAP_REJECT);
    CHECK_INT(r, NTM_REJ_VALUE);
    CHECK_STR(why, "field 'online': 'maybe' is not in its map");
    CHECK_INT(
        eval(c, "frigate-events", "frigate/events", "{\"type\":\"new\",\"after\":{}}", &o, &r, why),
        NTM_MAP_REJECT);
    CHECK_INT(r, NTM_REJ_MISSING);
    CHECK_STR(why, "device: path 'after.camera' is not in the payload");
    /* A payload is bytes with a length, not a C string: an empty one and one of
     * only blanks, each in a buffer of exactly its length (ASan sees a read past it). */
    static const char *const blank[] = {"", " \r\n"};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(blank[i]);
        char *p = malloc(n ? n : 1);
        memcpy(p, blank[i], n);
        CHECK_INT(ntm_mapping_eval(&c->mappings[0], "frigate/cam-1/status/detect", n ? p : p + 1, n,
                                   16384, &o, &r, why, 200),
                  NTM_MAP_REJECT);
        CHECK_INT(r, NTM_REJ_VALUE);
        CHECK_STR(why, "field 'online': '' is not in its map");
        free(p);
    }
    CHECK(!ntm_mapping_matches(&c->mappings[0], "frigate/cam-1/status/record"));
    CHECK(!ntm_mapping_matches(&c->mappings[0], "frigate//status/detect"));
    ntm_config_free(c);
}

int main(void)
{
    const char *root = getenv("NTM_SOURCE_ROOT");
    snprintf(base, sizeof base,
             "gateway:\n  id: gw-1\ncommune:\n  code: \"16279\"\n  province_code: \"38\"\n"
             "villages:\n  - id: v1\nmapping_dir: %s/config/mappings\n",
             root ? root : "../..");
    test_errors();
    test_frigate();
    printf("config_mappings: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
