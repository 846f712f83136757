/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mappings.h: what the daemon keeps about its MQTT mappings while it runs:
 * per mapping the messages mapped, unmapped (`when` did not hold) and
 * rejected, and per device the mapping it was last heard through; for the
 * live state and ntmctl. Counting only: the evaluation is mapping.c's. */
#ifndef NTM_MAPPINGS_H
#define NTM_MAPPINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "mapping.h"

#define NTM_MAPPINGS_DEVICES_MAX 4096 /* devices remembered for the live state */

struct ntm_mapping_count {
    char name[NTM_DEVICE_ID_MAX + 1];
    uint64_t mapped, unmapped, rejected;
    int64_t last_ms; /* wall clock of the last message matched */
    char last_error[200];
};

struct ntm_mapping_heard {
    char device[NTM_DEVICE_ID_MAX + 1];
    char mapping[NTM_DEVICE_ID_MAX + 1];
    int64_t first_ms, last_ms;
    char last_error[200]; /* the last rejection of a message for it; "" */
};

struct ntm_mappings {
    struct ntm_mapping_count *c; /* one per mapping, in the configuration's order */
    size_t n;
    struct ntm_mapping_heard *d;
    size_t n_d, cap_d;
    uint64_t unmatched; /* messages on a subscribed filter that no mapping matches any more */
};

/* Sets the mappings (at start and on SIGHUP): counts of names kept stay. */
int ntm_mappings_configure(struct ntm_mappings *s, const struct ntm_mapping *m, size_t n);
/* Notes one message of mapping i: its result, its device (may be NULL), why. */
void ntm_mappings_note(struct ntm_mappings *s, size_t i, enum ntm_map_result r, const char *device,
                       int64_t now_ms, const char *why);
/* The "mappings" section of the live state: per device {state: "heard" or
 * "rejected", since_ms, last_ms, last_error, mapping}, and "(mappings)" (no device id has
 * parentheses): per mapping {mapped, unmapped, rejected, last_ms, last_error}. */
void ntm_mappings_live(void *mappings, cJSON *sources);
void ntm_mappings_free(struct ntm_mappings *s);

#endif
