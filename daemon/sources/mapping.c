/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mapping.c: JSON paths, topic filters and the evaluation of one MQTT message
 * by one mapping into a device-contract payload (or a rejection naming the
 * mapping). Pure: no I/O, no logging, no globals; it must not validate the
 * contract's fields itself: the gate does, as for any MQTT message. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mapping.h"
#include "source.h"

/* ---- JSON paths ---- */

void ntm_map_path_free(struct ntm_map_path *p)
{
    for (size_t i = 0; p->seg && i < p->n; i++)
        free(p->seg[i].key);
    free(p->seg);
    p->seg = NULL;
    p->n = 0;
}

/* n bytes of s as a new C string; s need not be NUL-terminated (a payload, or
 * a path inside one), which strndup would read past under ASan's checks */
static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int path_fail(struct ntm_map_path *p, char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why && whylen)
        vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    ntm_map_path_free(p);
    return -1;
}

int ntm_map_path_parse(const char *s, size_t len, struct ntm_map_path *p, char *why, size_t whylen)
{
    memset(p, 0, sizeof *p);
    if (len == 0)
        return path_fail(p, why, whylen, "the path is empty");
    p->seg = calloc(NTM_MAP_PATH_MAX, sizeof *p->seg);
    if (!p->seg)
        return path_fail(p, why, whylen, "out of memory");
    size_t i = 0;
    bool need_key = true; /* at the start and after '.' */
    while (i < len) {
        if (p->n == NTM_MAP_PATH_MAX)
            return path_fail(p, why, whylen, "the path has more than %d parts", NTM_MAP_PATH_MAX);
        struct ntm_map_seg *g = &p->seg[p->n];
        if (s[i] == '[') {
            if (need_key && p->n == 0)
                return path_fail(p, why, whylen, "the path starts with '[' (at %zu)", i);
            size_t j = i + 1;
            long v = 0;
            while (j < len && s[j] >= '0' && s[j] <= '9' && v <= 100000)
                v = v * 10 + (s[j++] - '0');
            if (j == i + 1 || j >= len || s[j] != ']' || v > 100000)
                return path_fail(p, why, whylen,
                                 "'[' must be followed by an index of 0 to 100000 and ']' "
                                 "(at %zu)",
                                 i);
            g->index = (int)v;
            p->n++;
            i = j + 1;
            need_key = false;
            if (i < len && s[i] != '.' && s[i] != '[')
                return path_fail(p, why, whylen, "expected '.' or '[' after ']' (at %zu)", i);
            if (i < len && s[i] == '.') {
                i++;
                need_key = true;
                if (i == len)
                    return path_fail(p, why, whylen, "the path ends with '.'");
            }
            continue;
        }
        size_t j = i;
        while (j < len && s[j] != '.' && s[j] != '[') {
            unsigned char c = (unsigned char)s[j];
            if (c < 0x20 || c == 0x7f || c == ']')
                return path_fail(p, why, whylen,
                                 "the path has a control character or ']' "
                                 "(at %zu)",
                                 j);
            j++;
        }
        if (j == i)
            return path_fail(p, why, whylen, "the path has an empty key (at %zu)", i);
        g->key = dup_bytes(s + i, j - i);
        if (!g->key)
            return path_fail(p, why, whylen, "out of memory");
        p->n++;
        i = j;
        need_key = false;
        if (i < len && s[i] == '.') {
            i++;
            need_key = true;
            if (i == len)
                return path_fail(p, why, whylen, "the path ends with '.'");
        }
    }
    return 0;
}

const cJSON *ntm_map_path_get(const cJSON *root, const struct ntm_map_path *p)
{
    const cJSON *v = root;
    for (size_t i = 0; v && i < p->n; i++) {
        if (p->seg[i].key) {
            if (!cJSON_IsObject(v))
                return NULL;
            v = cJSON_GetObjectItemCaseSensitive(v, p->seg[i].key);
        } else {
            if (!cJSON_IsArray(v))
                return NULL;
            v = cJSON_GetArrayItem(v, p->seg[i].index);
        }
    }
    return v;
}

/* ---- topics ---- */

bool ntm_mapping_matches(const struct ntm_mapping *m, const char *topic)
{
    const char *p = topic;
    for (size_t i = 0; i < m->n_levels; i++) {
        const char *lv = m->levels[i];
        if (strcmp(lv, "#") == 0)
            return true;
        if (p == NULL)
            return false;
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        bool any = strcmp(lv, "+") == 0 || lv[0] == '{';
        if (!any && (strlen(lv) != n || memcmp(lv, p, n) != 0))
            return false;
        if (any && n == 0 && lv[0] == '{')
            return false; /* an empty level names nothing */
        p = slash ? slash + 1 : NULL;
    }
    return p == NULL;
}

/* The level of topic captured by "{name}" into buf; false when absent. */
static bool capture(const struct ntm_mapping *m, const char *topic, const char *name, char *buf,
                    size_t size)
{
    const char *p = topic;
    for (size_t i = 0; i < m->n_levels && p; i++) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (strcmp(m->levels[i], name) == 0) {
            if (n >= size)
                n = size - 1;
            memcpy(buf, p, n);
            buf[n] = '\0';
            return true;
        }
        p = slash ? slash + 1 : NULL;
    }
    return false;
}

/* ---- values ---- */

static enum ntm_map_result fail(enum ntm_reject *r, enum ntm_reject why_r, char *why, size_t whylen,
                                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why && whylen)
        vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    *r = why_r;
    return NTM_MAP_REJECT;
}

/* A scalar of the configuration as a JSON value. */
static cJSON *scalar_json(const struct ntm_map_scalar *s)
{
    if (!s->quoted) {
        if (strcmp(s->text, "true") == 0)
            return cJSON_CreateTrue();
        if (strcmp(s->text, "false") == 0)
            return cJSON_CreateFalse();
        if (strcmp(s->text, "null") == 0 || strcmp(s->text, "~") == 0)
            return cJSON_CreateNull();
        char *end = NULL;
        double d = strtod(s->text, &end);
        if (s->text[0] && end && *end == '\0' && isfinite(d))
            return cJSON_CreateNumber(d);
    }
    return cJSON_CreateString(s->text);
}

/* The text of a JSON value for `map` and `when`: a string's content, a number
 * or boolean as JSON writes it; NULL for other values. *owned is freed by the
 * caller. */
static const char *value_text(const cJSON *v, char **owned)
{
    *owned = NULL;
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNumber(v) || cJSON_IsBool(v)) {
        *owned = cJSON_PrintUnformatted(v);
        return *owned;
    }
    return NULL;
}

/* A short, printable copy of a device-controlled text for a `why`. */
static const char *echo(char buf[48], const char *s)
{
    size_t i = 0;
    for (; s[i] && i < 40; i++)
        buf[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'' && s[i] != '\\') ? s[i] : '?';
    if (s[i]) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static const struct ntm_map_scalar *map_find(const struct ntm_map_value *v, const char *text)
{
    for (size_t i = 0; i < v->n_map; i++)
        if (strcmp(v->map[i].key, text) == 0)
            return &v->map[i].val;
    return NULL;
}

struct eval {
    const struct ntm_mapping *m;
    const char *payload;
    size_t len;
    const cJSON *root; /* NULL when the payload is not JSON */
    const char *json_problem;
    enum ntm_reject *r;
    char *why;
    size_t whylen;
};

/* The JSON value of one field (or the device), new; NULL and a rejection. */
static cJSON *eval_value(struct eval *e, const char *what, const struct ntm_map_value *v,
                         const char *topic_text)
{
    char b[48];
    cJSON *out = NULL;
    const char *text = NULL;
    char *owned = NULL, *trimmed = NULL;
    switch (v->from) {
    case NTM_MAP_CONST:
        return scalar_json(&v->constant);
    case NTM_MAP_TOPIC:
        text = topic_text;
        break;
    case NTM_MAP_PAYLOAD: {
        size_t a = 0, z = e->len;
        while (a < z && (e->payload[a] == ' ' || e->payload[a] == '\t' || e->payload[a] == '\r' ||
                         e->payload[a] == '\n'))
            a++;
        while (z > a && (e->payload[z - 1] == ' ' || e->payload[z - 1] == '\t' ||
                         e->payload[z - 1] == '\r' || e->payload[z - 1] == '\n'))
            z--;
        if (memchr(e->payload + a, '\0', z - a)) {
            fail(e->r, NTM_REJ_NOT_JSON, e->why, e->whylen, "%s: the payload has a NUL byte", what);
            return NULL;
        }
        trimmed = dup_bytes(e->payload + a, z - a);
        if (!trimmed) {
            fail(e->r, NTM_REJ_TOO_LARGE, e->why, e->whylen, "%s: out of memory", what);
            return NULL;
        }
        text = trimmed;
        break;
    }
    case NTM_MAP_PATH: {
        if (!e->root) {
            fail(e->r, NTM_REJ_NOT_JSON, e->why, e->whylen, "%s: the payload is not JSON (%s)",
                 what, e->json_problem);
            return NULL;
        }
        const cJSON *j = ntm_map_path_get(e->root, &v->path);
        if (!j) {
            fail(e->r, NTM_REJ_MISSING, e->why, e->whylen, "%s: path '%s' is not in the payload",
                 what, v->path_text);
            return NULL;
        }
        if (v->n_map == 0 && !v->has_scale)
            return cJSON_Duplicate(j, 1);
        if (v->has_scale && v->n_map == 0) {
            if (!cJSON_IsNumber(j)) {
                fail(e->r, NTM_REJ_TYPE, e->why, e->whylen,
                     "%s: path '%s' must be a number to scale", what, v->path_text);
                return NULL;
            }
            return cJSON_CreateNumber(j->valuedouble * v->scale);
        }
        text = value_text(j, &owned);
        if (!text) {
            fail(e->r, NTM_REJ_TYPE, e->why, e->whylen,
                 "%s: path '%s' must be a string, number or boolean for its map", what,
                 v->path_text);
            return NULL;
        }
        break;
    }
    }
    if (v->n_map > 0) {
        const struct ntm_map_scalar *s = map_find(v, text);
        if (!s) {
            if (v->from == NTM_MAP_TOPIC) /* a device name not listed is the id itself */
                out = cJSON_CreateString(text);
            else
                fail(e->r, NTM_REJ_VALUE, e->why, e->whylen, "%s: '%s' is not in its map", what,
                     echo(b, text));
        } else {
            out = scalar_json(s);
        }
    } else {
        out = cJSON_CreateString(text);
    }
    if (out && v->has_scale) {
        if (!cJSON_IsNumber(out)) {
            cJSON_Delete(out);
            out = NULL;
            fail(e->r, NTM_REJ_TYPE, e->why, e->whylen, "%s: '%s' is not a number to scale", what,
                 echo(b, text));
        } else {
            cJSON_SetNumberValue(out, out->valuedouble * v->scale);
        }
    }
    free(owned);
    free(trimmed);
    return out;
}

static bool needs_json(const struct ntm_mapping *m)
{
    if (m->n_when > 0 || m->device.from == NTM_MAP_PATH)
        return true;
    for (size_t i = 0; i < m->n_fields; i++)
        if (m->fields[i].v.from == NTM_MAP_PATH)
            return true;
    return false;
}

static enum ntm_map_result eval_device(struct eval *e, const char *topic, struct ntm_map_out *out)
{
    const struct ntm_mapping *m = e->m;
    char name[NTM_DEVICE_ID_MAX * 2 + 2] = "";
    if (m->device.from == NTM_MAP_TOPIC)
        capture(m, topic, "{device}", name, sizeof name);
    cJSON *id = eval_value(e, "device", &m->device, name);
    if (!id)
        return NTM_MAP_REJECT;
    char b[48];
    char *owned = NULL;
    const char *text = value_text(id, &owned);
    size_t n = text ? strlen(text) : 0;
    enum ntm_map_result res = NTM_MAP_OK;
    if (n == 0 || n > NTM_DEVICE_ID_MAX || !ntm_valid_device_id(text, n))
        res = fail(e->r, NTM_REJ_TOPIC, e->why, e->whylen,
                   "device '%s' is not a valid device id ([A-Za-z0-9_.-], 1 to 64)",
                   text ? echo(b, text) : "?");
    else
        memcpy(out->device, text, n + 1);
    free(owned);
    cJSON_Delete(id);
    if (res == NTM_MAP_OK)
        capture(m, topic, "{village}", out->village, sizeof out->village);
    return res;
}

enum ntm_map_result ntm_mapping_eval(const struct ntm_mapping *m, const char *topic,
                                     const void *payload, size_t len, size_t max_payload,
                                     struct ntm_map_out *out, enum ntm_reject *r, char *why,
                                     size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (why && whylen)
        why[0] = '\0';
    *r = NTM_ACCEPT;
    if (len > max_payload)
        return fail(r, NTM_REJ_TOO_LARGE, why, whylen, "payload is %zu bytes, more than %zu", len,
                    max_payload);
    struct eval e = {.m = m,
                     .payload = payload ? payload : "",
                     .len = payload ? len : 0,
                     .json_problem = "not parsed",
                     .r = r,
                     .why = why,
                     .whylen = whylen};
    cJSON *root = NULL;
    if (needs_json(m)) {
        root = len ? cJSON_ParseWithLength(e.payload, len) : NULL;
        e.json_problem = len ? "it does not parse" : "it is empty";
        e.root = root;
    }
    enum ntm_map_result res = NTM_MAP_OK;
    for (size_t i = 0; i < m->n_when && res == NTM_MAP_OK; i++) {
        char *owned = NULL;
        const cJSON *j = root ? ntm_map_path_get(root, &m->when[i].path) : NULL;
        const char *text = j ? value_text(j, &owned) : NULL;
        if (!root)
            res = fail(r, NTM_REJ_NOT_JSON, why, whylen, "when: the payload is not JSON (%s)",
                       e.json_problem);
        else if (!text || strcmp(text, m->when[i].value) != 0)
            res = NTM_MAP_UNMAPPED;
        free(owned);
    }
    if (res == NTM_MAP_OK)
        res = eval_device(&e, topic, out);
    cJSON *obj = res == NTM_MAP_OK ? cJSON_CreateObject() : NULL;
    if (res == NTM_MAP_OK && !obj)
        res = fail(r, NTM_REJ_TOO_LARGE, why, whylen, "out of memory");
    for (size_t i = 0; res == NTM_MAP_OK && i < m->n_fields; i++) {
        char what[96];
        snprintf(what, sizeof what, "field '%s'", m->fields[i].name);
        cJSON *v = eval_value(&e, what, &m->fields[i].v, NULL);
        if (!v)
            res = NTM_MAP_REJECT;
        else
            cJSON_AddItemToObject(obj, m->fields[i].name, v);
    }
    if (res == NTM_MAP_OK) {
        out->payload = cJSON_PrintUnformatted(obj);
        if (!out->payload)
            res = fail(r, NTM_REJ_TOO_LARGE, why, whylen, "out of memory");
        else
            out->len = strlen(out->payload);
        out->flags = m->has_ts ? 0 : NTM_SOURCE_RECV_TIME;
    }
    cJSON_Delete(obj);
    cJSON_Delete(root);
    return res;
}

/* ---- freeing ---- */

static void value_free(struct ntm_map_value *v)
{
    free(v->constant.text);
    free(v->path_text);
    ntm_map_path_free(&v->path);
    for (size_t i = 0; i < v->n_map; i++) {
        free(v->map[i].key);
        free(v->map[i].val.text);
    }
    free(v->map);
    memset(v, 0, sizeof *v);
}

void ntm_mapping_free(struct ntm_mapping *m)
{
    if (!m)
        return;
    free(m->name);
    free(m->topic);
    free(m->filter);
    for (size_t i = 0; i < m->n_levels; i++)
        free(m->levels[i]);
    free(m->levels);
    value_free(&m->device);
    for (size_t i = 0; i < m->n_when; i++) {
        free(m->when[i].path_text);
        ntm_map_path_free(&m->when[i].path);
        free(m->when[i].value);
    }
    free(m->when);
    for (size_t i = 0; i < m->n_fields; i++) {
        free(m->fields[i].name);
        value_free(&m->fields[i].v);
    }
    free(m->fields);
    free(m->origin);
    free(m->sig);
    memset(m, 0, sizeof *m);
}
