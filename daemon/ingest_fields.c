/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ingest_fields.c: the fields a payload may have: their names, the lookup of a
 * member's name, and the typed getters that check a field's JSON type and range
 * and say in the `why` what was wrong. Which fields a channel needs is
 * ingest_channels.c's. Pure: no I/O, no logging, no globals. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ingest_impl.h"

const char *const ntm_ingest_field_names[NTM_FIELD_COUNT] = {
    [NTM_FIELD_TS] = "ts",
    [NTM_FIELD_ONLINE] = "online",
    [NTM_FIELD_INTERVAL_S] = "interval_s",
    [NTM_FIELD_UPTIME_S] = "uptime_s",
    [NTM_FIELD_TYPE] = "type",
    [NTM_FIELD_START] = "start",
    [NTM_FIELD_DURATION_S] = "duration_s",
    [NTM_FIELD_RESULT] = "result",
    [NTM_FIELD_PRIORITY] = "priority",
    [NTM_FIELD_SOURCE] = "source",
    [NTM_FIELD_PROGRAM] = "program",
    [NTM_FIELD_FAULT] = "fault",
    [NTM_FIELD_RECORDING] = "recording",
    [NTM_FIELD_STORAGE_FREE_PCT] = "storage_free_pct",
    [NTM_FIELD_CLIENTS] = "clients",
    [NTM_FIELD_NEW_SESSIONS] = "new_sessions",
    [NTM_FIELD_RX_BYTES] = "rx_bytes",
    [NTM_FIELD_TX_BYTES] = "tx_bytes",
    [NTM_FIELD_CLIENT_MACS] = "client_macs",
};

/* One switch on the first byte, then at most three strcmp: the members of a
 * payload are each looked up once. */
int ntm_ingest_field_index(const char *k)
{
#define RETURN_IF_NAMED(name, f)                                                                   \
    if (strcmp(k + 1, (name) + 1) == 0)                                                            \
    return (f)
    if (k == NULL)
        return -1;
    switch (k[0]) {
    case 'c':
        RETURN_IF_NAMED("clients", NTM_FIELD_CLIENTS);
        RETURN_IF_NAMED("client_macs", NTM_FIELD_CLIENT_MACS);
        break;
    case 'd':
        RETURN_IF_NAMED("duration_s", NTM_FIELD_DURATION_S);
        break;
    case 'f':
        RETURN_IF_NAMED("fault", NTM_FIELD_FAULT);
        break;
    case 'i':
        RETURN_IF_NAMED("interval_s", NTM_FIELD_INTERVAL_S);
        break;
    case 'n':
        RETURN_IF_NAMED("new_sessions", NTM_FIELD_NEW_SESSIONS);
        break;
    case 'o':
        RETURN_IF_NAMED("online", NTM_FIELD_ONLINE);
        break;
    case 'p':
        RETURN_IF_NAMED("priority", NTM_FIELD_PRIORITY);
        RETURN_IF_NAMED("program", NTM_FIELD_PROGRAM);
        break;
    case 'r':
        RETURN_IF_NAMED("result", NTM_FIELD_RESULT);
        RETURN_IF_NAMED("recording", NTM_FIELD_RECORDING);
        RETURN_IF_NAMED("rx_bytes", NTM_FIELD_RX_BYTES);
        break;
    case 's':
        RETURN_IF_NAMED("start", NTM_FIELD_START);
        RETURN_IF_NAMED("source", NTM_FIELD_SOURCE);
        RETURN_IF_NAMED("storage_free_pct", NTM_FIELD_STORAGE_FREE_PCT);
        break;
    case 't':
        if (k[1] == 's' && k[2] == '\0')
            return NTM_FIELD_TS;
        RETURN_IF_NAMED("type", NTM_FIELD_TYPE);
        RETURN_IF_NAMED("tx_bytes", NTM_FIELD_TX_BYTES);
        break;
    case 'u':
        RETURN_IF_NAMED("uptime_s", NTM_FIELD_UPTIME_S);
        break;
    }
    return -1;
#undef RETURN_IF_NAMED
}

const char *ntm_ingest_json_type_name(const cJSON *v)
{
    if (NTM_JSON_TYPE(v) == cJSON_String)
        return "a string";
    if (NTM_JSON_IS_NUMBER(v))
        return "a number";
    if (NTM_JSON_IS_BOOL(v))
        return "a boolean";
    if (NTM_JSON_TYPE(v) == cJSON_NULL)
        return "null";
    if (NTM_JSON_IS_ARRAY(v))
        return "an array";
    if (NTM_JSON_IS_OBJECT(v))
        return "an object";
    return "an invalid value";
}

enum ntm_reject ntm_ingest_missing(struct ntm_payload_ctx *c, enum ntm_ingest_field f)
{
    return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_MISSING, "missing required field '%s'",
                           ntm_ingest_field_names[f]);
}

enum ntm_reject ntm_ingest_wrong_type(struct ntm_payload_ctx *c, enum ntm_ingest_field f,
                                      const char *want)
{
    return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_TYPE, "field '%s' must be %s, got %s",
                           ntm_ingest_field_names[f], want, ntm_ingest_json_type_name(c->f[f]));
}

/* Each get_* leaves *v alone when the field is absent and not required. */

enum ntm_reject ntm_ingest_get_bool(struct ntm_payload_ctx *c, enum ntm_ingest_field f,
                                    bool required, bool *v)
{
    const cJSON *j = c->f[f];
    if (j == NULL)
        return required ? ntm_ingest_missing(c, f) : NTM_ACCEPT;
    if (!NTM_JSON_IS_BOOL(j))
        return ntm_ingest_wrong_type(c, f, "a boolean");
    *v = NTM_JSON_TYPE(j) == cJSON_True;
    return NTM_ACCEPT;
}

/* A finite number in [min, max]; integral too when `integer`. */
enum ntm_reject ntm_ingest_get_number(struct ntm_payload_ctx *c, enum ntm_ingest_field f,
                                      bool required, double min, double max, bool integer,
                                      double *v)
{
    const cJSON *j = c->f[f];
    if (j == NULL)
        return required ? ntm_ingest_missing(c, f) : NTM_ACCEPT;
    if (!NTM_JSON_IS_NUMBER(j))
        return ntm_ingest_wrong_type(c, f, "a number");
    const double d = j->valuedouble;
    const char *what = integer ? "an integer" : "a number";
    if (isfinite(d) && d >= min && d <= max && (!integer || d == floor(d))) {
        *v = d + 0.0; /* no -0 */
        return NTM_ACCEPT;
    }
    if (max < NTM_INT_MAX_EXACT)
        return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_VALUE,
                               "field '%s' must be %s from %.15g to %.15g, got %.15g",
                               ntm_ingest_field_names[f], what, min, max, d);
    if (d > max)
        return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_VALUE,
                               "field '%s' must be at most 2^53, got %.15g",
                               ntm_ingest_field_names[f], d);
    return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_VALUE,
                           "field '%s' must be %s >= %.15g, got %.15g", ntm_ingest_field_names[f],
                           what, min, d);
}

enum ntm_reject ntm_ingest_get_count(struct ntm_payload_ctx *c, enum ntm_ingest_field f,
                                     bool required, int64_t *v)
{
    double d;
    enum ntm_reject r = ntm_ingest_get_number(c, f, required, 0, NTM_INT_MAX_EXACT, true, &d);
    if (r == NTM_ACCEPT && c->f[f] != NULL)
        *v = (int64_t)d;
    return r;
}

/* A string that is one of name(0..n): its index in *v. */
enum ntm_reject ntm_ingest_get_enum(struct ntm_payload_ctx *c, enum ntm_ingest_field f,
                                    bool required, const char *(*name)(int), int first, int n,
                                    int *v)
{
    const cJSON *j = c->f[f];
    if (j == NULL)
        return required ? ntm_ingest_missing(c, f) : NTM_ACCEPT;
    if (!NTM_JSON_IS_STRING(j))
        return ntm_ingest_wrong_type(c, f, "a string");
    const char *s = j->valuestring;
    for (int i = first; i < n; i++)
        if (strcmp(s, name(i)) == 0) {
            *v = i;
            return NTM_ACCEPT;
        }
    /* "played, interrupted or failed" */
    char list[96], e[NTM_INGEST_ECHO_BUF];
    size_t o = 0;
    list[0] = '\0';
    for (int i = first; i < n && o < sizeof list; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
                              i == first   ? ""
                              : i + 1 == n ? " or "
                                           : ", ",
                              name(i));
    return ntm_ingest_fail(c->why, c->whylen, NTM_REJ_VALUE, "field '%s' must be %s, got '%s'",
                           ntm_ingest_field_names[f], list, ntm_ingest_echo(e, s, strlen(s)));
}
