/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ingest.h: from one MQTT message (topic + payload) to a normalized record,
 * or to a rejection with a reason a person can read. Pure functions: no I/O,
 * no logging, no globals, so that they can be unit-tested and fuzzed. */
#ifndef NTM_INGEST_H
#define NTM_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "record.h"

/* Why a message was rejected. Stable names (ntm_reject_name) are counted,
 * stored in the quarantine and shown by ntmctl. */
enum ntm_reject {
    NTM_ACCEPT = 0,
    NTM_REJ_TOPIC,      /* "bad_topic": not ntm/v1/<village>/<kind>/<device>/<channel> */
    NTM_REJ_VILLAGE,    /* "unknown_village": village not in the configuration */
    NTM_REJ_CHANNEL,    /* "bad_channel": channel that this kind does not have */
    NTM_REJ_TOO_LARGE,  /* "too_large": payload over mqtt.max_payload */
    NTM_REJ_NOT_JSON,   /* "not_json": payload not valid UTF-8 JSON */
    NTM_REJ_NOT_OBJECT, /* "not_object": JSON but not an object */
    NTM_REJ_MISSING,    /* "missing_field" */
    NTM_REJ_TYPE,       /* "wrong_type" */
    NTM_REJ_VALUE,      /* "bad_value": out of range or not a listed value, bad MAC */
    NTM_REJ_DEVICE,     /* "device_conflict": device id already known under another village/kind */
    NTM_REJ_DEVICES,    /* "too_many_devices": a new undeclared device past the cap */
    NTM_REJ_COUNT
};
const char *ntm_reject_name(enum ntm_reject r);

struct ntm_topic {
    char village[NTM_VILLAGE_ID_MAX + 1];
    char device[NTM_DEVICE_ID_MAX + 1];
    uint8_t kind;    /* enum ntm_kind */
    uint8_t channel; /* enum ntm_channel */
};

/* Splits and checks a topic. Returns NTM_ACCEPT or NTM_REJ_TOPIC / NTM_REJ_CHANNEL
 * with `why` filled ("kind 'radio' is not speaker, camera or wifi"). Does not
 * check that the village is configured. */
enum ntm_reject ntm_topic_parse(const char *topic, size_t len, struct ntm_topic *out, char *why,
                                size_t whylen);

/* Gives the secret 16-byte key of a local day (ntm_local_day) for MAC hashing.
 * Returns 0, or -1 when no key can be had (the message is then rejected). */
typedef int (*ntm_mac_key_fn)(void *arg, int64_t local_day, uint8_t key[16]);

struct ntm_ingest_opts {
    size_t max_payload; /* bytes */
    ntm_mac_key_fn mac_key;
    void *mac_key_arg;
    /* The gateway clock is synchronized (NTP): only then is a device ts more
     * than NTM_TS_MAX_AHEAD_S ahead of it judged wrong. An unsynchronized
     * gateway (a board without a battery, before NTP) trusts the devices. */
    bool clock_trusted;
};

/* Validates and normalizes a payload for an already parsed topic. `now_ms` is
 * the gateway's wall clock (Unix ms) at receipt. Fills `out` (its village
 * field is left to the caller) and returns NTM_ACCEPT, or a reason with `why`
 * naming the field ("field 'clients' must be an integer >= 0"). */
enum ntm_reject ntm_payload_parse(const struct ntm_topic *topic, const void *payload, size_t len,
                                  int64_t now_ms, const struct ntm_ingest_opts *opts,
                                  struct ntm_record *out, char *why, size_t whylen);

/* Keyed hash of a 6-byte MAC (SipHash-2-4 with the day's key). */
uint64_t ntm_mac_hash(const uint8_t key[16], const uint8_t mac[6]);
/* Parses "a4:5e:60:12:34:56" or "A4-5E-60-12-34-56". Returns 0 or -1. */
int ntm_mac_parse(const char *s, size_t len, uint8_t mac[6]);

/* How far in the future a device ts may be before the receive time is used
 * instead (the earliest one believed is NTM_TS_MIN in record.h). */
#define NTM_TS_MAX_AHEAD_S 600
/* ...and the bounds when the gateway clock cannot be trusted that far */
#define NTM_TS_UNSYNCED_AHEAD_S (30 * 86400)     /* set but not synchronized */
#define NTM_TS_UNSET_AHEAD_S (5 * 366 * 86400LL) /* never set: from the build time */
#ifndef NTM_BUILD_TS
#define NTM_BUILD_TS 1795305600 /* 2026-11-22, when no build time is given */
#endif

#endif
