/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ingest_impl.h: what the files of ingest (ingest.c, ingest_text.c,
 * ingest_topic.c, ingest_payload.c, ingest_mac.c) share and nothing else
 * includes: the `why` text helpers, the channels of a kind, the payload's known
 * fields, and the parsed payload's entry point. The rest of the daemon uses ingest.h. */
#ifndef NTM_INGEST_IMPL_H
#define NTM_INGEST_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ingest.h"

/* ---- `why` (ingest_text.c) ---- */

/* Formats the reason into why (when not NULL) and returns r. */
__attribute__((format(printf, 4, 5))) enum ntm_reject
ntm_ingest_fail(char *why, size_t whylen, enum ntm_reject r, const char *fmt, ...);

/* Longest part of a value quoted in a `why` (device-controlled bytes). */
#define NTM_INGEST_ECHO_MAX 40
/* "<mac>" may end past NTM_INGEST_ECHO_MAX, then "..." */
#define NTM_INGEST_ECHO_BUF (NTM_INGEST_ECHO_MAX + 16)
/* Copies at most NTM_INGEST_ECHO_MAX bytes of a device-controlled value into buf
 * for quoting in a `why`: bytes outside printable ASCII (and quotes,
 * backslashes) become '?', anything that parses as a MAC address becomes
 * "<mac>", and a longer value ends in "...". Only used on the rejection path. */
const char *ntm_ingest_echo(char buf[NTM_INGEST_ECHO_BUF], const char *s, size_t len);

/* Offset of the first byte that makes `s` not acceptable as UTF-8 JSON text
 * (invalid UTF-8: overlong, surrogate, above U+10FFFF, truncated; a NUL
 * byte; a \u0000 escape, which would silently cut a C string short), or n
 * when there is none. `what` says which. cJSON checks none of these. */
size_t ntm_ingest_text_problem(const uint8_t *s, size_t n, const char **what);

/* ---- topic (ingest_topic.c) ---- */

/* The channels of each kind: bit c set = channel c exists. */
extern const uint8_t ntm_ingest_kind_channels[NTM_KIND_COUNT];

/* Whether a device of this kind has this channel. */
static inline bool ntm_ingest_kind_has_channel(unsigned kind, unsigned channel)
{
    return kind < NTM_KIND_COUNT && channel < NTM_CH_COUNT &&
           (ntm_ingest_kind_channels[kind] >> channel & 1u) != 0;
}
/* The NTM_REJ_CHANNEL rejection, naming the channels the kind has. */
enum ntm_reject ntm_ingest_channel_missing(unsigned kind, unsigned channel, char *why,
                                           size_t whylen);

/* ---- the payload's fields (ingest_payload.c) ---- */

/* The payload fields the device contract knows, looked up in one pass. */
enum ntm_ingest_field {
    NTM_FIELD_TS,
    NTM_FIELD_ONLINE,
    NTM_FIELD_INTERVAL_S,
    NTM_FIELD_UPTIME_S,
    NTM_FIELD_TYPE,
    NTM_FIELD_START,
    NTM_FIELD_DURATION_S,
    NTM_FIELD_RESULT,
    NTM_FIELD_PRIORITY,
    NTM_FIELD_SOURCE,
    NTM_FIELD_PROGRAM,
    NTM_FIELD_FAULT,
    NTM_FIELD_RECORDING,
    NTM_FIELD_STORAGE_FREE_PCT,
    NTM_FIELD_CLIENTS,
    NTM_FIELD_NEW_SESSIONS,
    NTM_FIELD_RX_BYTES,
    NTM_FIELD_TX_BYTES,
    NTM_FIELD_CLIENT_MACS,
    NTM_FIELD_COUNT
};

extern const char *const ntm_ingest_field_names[NTM_FIELD_COUNT];
/* The field of that member name, or -1 for a name the contract does not have. */
int ntm_ingest_field_index(const char *name);

/* ---- the payload as a JSON value (ingest_payload.c) ---- */

/* Checks that the parsed payload is an object with the fields of the topic's
 * channel, and fills out's ts and those fields. The MAC strings cJSON copied
 * out of the payload are wiped before it returns, whatever the answer. */
enum ntm_reject ntm_ingest_parse_object(const cJSON *root, const struct ntm_topic *topic,
                                        int64_t now_ms, const struct ntm_ingest_opts *opts,
                                        struct ntm_record *out, char *why, size_t whylen);

#endif
