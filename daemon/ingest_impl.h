/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ingest_impl.h: what the files of ingest (ingest.c, ingest_text.c,
 * ingest_topic.c, ingest_fields.c, ingest_channels.c) share and nothing else
 * includes: the `why` text helpers, the payload's known fields and the typed
 * getters that check them. The rest of the daemon uses ingest.h. */
#ifndef NTM_INGEST_IMPL_H
#define NTM_INGEST_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "ingest.h"

/* Counters and uptime are integers that a double holds exactly. */
#define NTM_INT_MAX_EXACT 9007199254740992.0 /* 2^53 */

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

/* Whether a device of this kind has this channel. */
bool ntm_ingest_kind_has_channel(unsigned kind, unsigned channel);
/* The NTM_REJ_CHANNEL rejection, naming the channels the kind has. */
enum ntm_reject ntm_ingest_channel_missing(unsigned kind, unsigned channel, char *why,
                                           size_t whylen);

/* ---- the payload's fields (ingest_fields.c) ---- */

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

/* cJSON's type tests, inline (the library's own are calls into the .so) */
#define NTM_JSON_TYPE(j) ((j)->type & 0xff)
#define NTM_JSON_IS_NUMBER(j) (NTM_JSON_TYPE(j) == cJSON_Number)
#define NTM_JSON_IS_STRING(j) (NTM_JSON_TYPE(j) == cJSON_String && (j)->valuestring != NULL)
#define NTM_JSON_IS_BOOL(j) (NTM_JSON_TYPE(j) == cJSON_True || NTM_JSON_TYPE(j) == cJSON_False)
#define NTM_JSON_IS_ARRAY(j) (NTM_JSON_TYPE(j) == cJSON_Array)
#define NTM_JSON_IS_OBJECT(j) (NTM_JSON_TYPE(j) == cJSON_Object)

struct ntm_payload_ctx {
    const cJSON *f[NTM_FIELD_COUNT]; /* the first member of each known name, or NULL */
    char *why;
    size_t whylen;
    bool clock_trusted;
};

const char *ntm_ingest_json_type_name(const cJSON *v);
enum ntm_reject ntm_ingest_missing(struct ntm_payload_ctx *c, enum ntm_ingest_field f);
enum ntm_reject ntm_ingest_wrong_type(struct ntm_payload_ctx *c, enum ntm_ingest_field f,
                                      const char *want);

/* Each getter leaves *v alone when the field is absent and not required. */
enum ntm_reject ntm_ingest_get_bool(struct ntm_payload_ctx *c, enum ntm_ingest_field f,
                                    bool required, bool *v);
/* A finite number in [min, max]; integral too when `integer`. */
enum ntm_reject ntm_ingest_get_number(struct ntm_payload_ctx *c, enum ntm_ingest_field f,
                                      bool required, double min, double max, bool integer,
                                      double *v);
/* An integer in [0, 2^53]. */
enum ntm_reject ntm_ingest_get_count(struct ntm_payload_ctx *c, enum ntm_ingest_field f,
                                     bool required, int64_t *v);
/* A string that is one of name(first..n): its index in *v. */
enum ntm_reject ntm_ingest_get_enum(struct ntm_payload_ctx *c, enum ntm_ingest_field f,
                                    bool required, const char *(*name)(int), int first, int n,
                                    int *v);

/* ---- per channel (ingest_channels.c) ---- */

/* Fills out's ts and the fields of the topic's channel from c's fields. */
enum ntm_reject ntm_ingest_parse_fields(struct ntm_payload_ctx *c, const struct ntm_topic *topic,
                                        int64_t now_ms, const struct ntm_ingest_opts *opts,
                                        struct ntm_record *out);
/* Overwrites the MAC strings that cJSON copied out of the payload before the
 * tree is freed, so that no raw MAC lingers in freed heap memory. */
void ntm_ingest_wipe_macs(const cJSON *client_macs);

#endif
