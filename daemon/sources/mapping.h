/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mapping.h: MQTT mappings, for devices that publish their own MQTT: what a
 * mapping is (read from `mappings:` by config_mappings.c), JSON paths
 * (mapping_path.c) and the evaluation of one message into a device-contract
 * message or a rejection (mapping_eval.c). Pure: no I/O, no logging, no
 * globals; the daemon's side (subscriptions, counters, the gate) is mappings.c. */
#ifndef NTM_MAPPING_H
#define NTM_MAPPING_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "ingest.h"
#include "record.h"

#define NTM_MAP_PATH_MAX 32   /* segments in a JSON path */
#define NTM_MAP_LEVELS_MAX 32 /* levels in a mapping's topic filter */

/* A JSON path: dotted keys with [n] for array elements ("after.camera",
 * "clients[0].mac"). */
struct ntm_map_seg {
    char *key; /* NULL: an array index */
    int index;
};
struct ntm_map_path {
    struct ntm_map_seg *seg;
    size_t n;
};
/* Parses s[0..len) into p (freed with ntm_map_path_free). 0, or -1 with why. */
int ntm_map_path_parse(const char *s, size_t len, struct ntm_map_path *p, char *why, size_t whylen);
void ntm_map_path_free(struct ntm_map_path *p);
/* The value at p in root, or NULL. */
const cJSON *ntm_map_path_get(const cJSON *root, const struct ntm_map_path *p);

/* A YAML scalar as written: `quoted` makes it a string, else true/false/null
 * and numbers take their JSON type. */
struct ntm_map_scalar {
    char *text;
    bool quoted;
};
struct ntm_map_pair {
    char *key;
    struct ntm_map_scalar val;
};

enum ntm_map_from { NTM_MAP_TOPIC, NTM_MAP_CONST, NTM_MAP_PAYLOAD, NTM_MAP_PATH };

/* A field's (or the device's) value: `value:`, `from: payload`, `from: PATH`,
 * then `map:` and `scale:`. */
struct ntm_map_value {
    enum ntm_map_from from;
    struct ntm_map_scalar constant; /* NTM_MAP_CONST */
    char *path_text;                /* NTM_MAP_PATH, as written */
    struct ntm_map_path path;
    struct ntm_map_pair *map;
    size_t n_map;
    bool has_scale;
    double scale;
};

struct ntm_map_field {
    char *name;
    struct ntm_map_value v;
};

struct ntm_map_when {
    char *path_text;
    struct ntm_map_path path;
    char *value; /* compared with the value's text */
};

struct ntm_mapping {
    char *name;    /* unique; in rejections and logs */
    char *topic;   /* the filter as written */
    int channel;   /* enum ntm_channel */
    int kind;      /* enum ntm_kind, or -1: the inventory's */
    char *filter;  /* what is subscribed: {device} and {village} as + */
    char **levels; /* the filter's levels as written */
    size_t n_levels;
    struct ntm_map_value device; /* NTM_MAP_TOPIC: the {device} level */
    struct ntm_map_when *when;
    size_t n_when;
    struct ntm_map_field *fields;
    size_t n_fields;
    bool has_ts;  /* a `ts` field: else the receive time is the message's */
    char *origin; /* "gateway.yaml:40:5", or the profile's file and place */
    char *sig;    /* the entry's text and origin file: equal sigs, equal mappings */
    int line, column;
};
void ntm_mapping_free(struct ntm_mapping *m);

/* Whether topic matches a mapping's filter (MQTT rules; {x} is one level). */
bool ntm_mapping_matches(const struct ntm_mapping *m, const char *topic);

enum ntm_map_result {
    NTM_MAP_OK,       /* out is a device-contract message for the gate */
    NTM_MAP_UNMAPPED, /* `when` did not hold: ignored and counted */
    NTM_MAP_REJECT,   /* r and why say what; the quarantine names the mapping */
};

struct ntm_map_out {
    char device[NTM_DEVICE_ID_MAX + 1];
    char village[NTM_VILLAGE_ID_MAX + 1]; /* "" when the topic names none */
    char *payload;                        /* JSON object text, malloc'd: free() it */
    size_t len;
    unsigned flags; /* NTM_SOURCE_* */
};

/* Evaluates one message on a topic m matches. max_payload bounds the payload
 * read (a larger one is rejected as too_large). */
enum ntm_map_result ntm_mapping_eval(const struct ntm_mapping *m, const char *topic,
                                     const void *payload, size_t len, size_t max_payload,
                                     struct ntm_map_out *out, enum ntm_reject *r, char *why,
                                     size_t whylen);

#endif
