/* config.c: reads the gateway's YAML configuration (libyaml's document API) into a
 * struct ntm_config: strict validation, defaults, and errors as path:line:column lines.
 * It owns no global state and opens nothing but the configuration file itself. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <yaml.h>

#define MAX_FILE_SIZE (16u << 20) /* a configuration is a few KiB; refuse anything huge */
#define MAX_ERRORS 64             /* kept for the report; more are only counted */
#define MAX_OPTIONS 256           /* options per uplink entry */
#define MSG_MAX 512

struct perr {
    size_t line, column, seq;
    char msg[MSG_MAX];
};

/* A valid id and where it was declared: sorted to find duplicates and look ids up. */
struct idref {
    const char *id;
    size_t idx;
    yaml_mark_t mark;
};

struct ctx {
    const char *name; /* the path shown in messages */
    const unsigned char *text;
    size_t len;
    yaml_document_t *doc;
    struct ntm_config *cfg;
    struct perr *errs;
    size_t n_errs, n_dropped;
    bool oom;
    struct idref *villages; /* the valid village ids, sorted */
    size_t n_village_refs;
    bool villages_complete; /* every village entry had a valid id */
};

/* ---- errors ---- */

__attribute__((format(printf, 4, 5))) static void error_at(struct ctx *c, size_t line,
                                                           size_t column, const char *fmt, ...)
{
    if (c->n_errs == MAX_ERRORS) {
        c->n_dropped++;
        return;
    }
    struct perr *e = &c->errs[c->n_errs];
    e->line = line;
    e->column = column;
    e->seq = c->n_errs++;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

#define ERR(c, mark, ...) error_at((c), (mark).line + 1, (mark).column + 1, __VA_ARGS__)

static bool failed(const struct ctx *c)
{
    return c->n_errs + c->n_dropped > 0 || c->oom;
}

static int perr_cmp(const void *a, const void *b)
{
    const struct perr *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Writes the errors in file order as "name:line:column: message" lines separated by
 * newlines: the first one even when cut short, then whole lines while they fit with
 * room left to say how many more there were. */
static void write_errors(struct ctx *c, char *err, size_t errlen)
{
    if (err == NULL || errlen == 0)
        return;
    err[0] = '\0';
    if (c->n_errs == 0) {
        snprintf(err, errlen, "%s: %s", c->name,
                 c->oom ? "out of memory" : "invalid configuration");
        return;
    }
    qsort(c->errs, c->n_errs, sizeof c->errs[0], perr_cmp);
    size_t used = 0, written = 0;
    size_t note = strlen(c->name) + 40; /* room kept for the "more errors" line */
    char line[MSG_MAX + 512];
    for (size_t i = 0; i < c->n_errs; i++) {
        int n = snprintf(line, sizeof line, "%s%s:%zu:%zu: %s", i ? "\n" : "", c->name,
                         c->errs[i].line, c->errs[i].column, c->errs[i].msg);
        size_t len = n < 0 ? 0 : (size_t)n >= sizeof line ? sizeof line - 1 : (size_t)n;
        if (i == 0) {
            snprintf(err, errlen, "%s", line);
            used = len < errlen ? len : errlen - 1;
        } else if (used + len + (i + 1 < c->n_errs || c->n_dropped ? note : 0) < errlen) {
            memcpy(err + used, line, len + 1);
            used += len;
        } else {
            break;
        }
        written++;
    }
    size_t more = c->n_errs - written + c->n_dropped;
    if (more > 0) {
        int n = snprintf(line, sizeof line, "\n%s: %zu more error%s not shown", c->name, more,
                         more == 1 ? "" : "s");
        if (n > 0 && used + (size_t)n < errlen)
            memcpy(err + used, line, (size_t)n + 1);
    }
}

/* ---- nodes ---- */

static yaml_node_t *node(struct ctx *c, int id)
{
    return yaml_document_get_node(c->doc, id);
}

static const char *text_of(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static size_t len_of(const yaml_node_t *n)
{
    return n->data.scalar.length;
}

static bool is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* An empty plain scalar, `~` or `null`: a key written without a value. */
static bool is_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (!is_plain(n))
        return false;
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (len_of(n) == strlen(nulls[i]) && memcmp(text_of(n), nulls[i], len_of(n)) == 0)
            return true;
    return false;
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
    return n->type == YAML_SCALAR_NODE && len_of(n) == strlen(s) &&
           memcmp(text_of(n), s, len_of(n)) == 0;
}

/* s[0..len) in quotes for a message: shortened, with quotes and control bytes escaped. */
static const char *quote(char *buf, size_t size, const char *s, size_t len, char q)
{
    const size_t show = 48;
    size_t o = 0;
    buf[o++] = q;
    size_t i = 0;
    for (; i < len && i < show && o + 8 < size; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == (unsigned char)q || ch == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)ch;
        } else if (ch < 0x20 || ch == 0x7f) {
            o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
        } else {
            buf[o++] = (char)ch;
        }
    }
    if (i < len) {
        while (o > 1 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80) /* no half characters */
            o--;
        if (o > 1 && ((unsigned char)buf[o - 1] & 0xc0) == 0xc0)
            o--;
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o++] = q;
    buf[o] = '\0';
    return buf;
}

/* How a value appears in a message: a scalar in double quotes, else what it is. */
static const char *describe(const yaml_node_t *n, char *buf, size_t size)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (is_null(n))
        return "no value";
    return quote(buf, size, text_of(n), len_of(n), '"');
}

static char *dup_text(struct ctx *c, const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p == NULL) {
        c->oom = true;
        return NULL;
    }
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static void path_of(char *buf, size_t size, const char *where, const char *key)
{
    if (where == NULL)
        snprintf(buf, size, "%s", key);
    else
        snprintf(buf, size, "%s.%s", where, key);
}

/* ---- mappings ---- */

/* Matches the keys of mapping `map` (named `where`, NULL for the top level) against
 * `keys`: vals[i] gets the value of keys[i] or NULL. Unknown, duplicate and non-scalar
 * keys are reported. A null value counts as an empty mapping. False when `map` is not
 * a mapping. */
static bool get_fields(struct ctx *c, yaml_node_t *map, const char *where, const char *const keys[],
                       size_t n, yaml_node_t *vals[])
{
    yaml_node_t *key_nodes[16] = {0};
    char b1[256], b2[256];
    for (size_t i = 0; i < n; i++)
        vals[i] = NULL;
    if (is_null(map))
        return true;
    if (map->type != YAML_MAPPING_NODE) {
        if (where == NULL)
            ERR(c, map->start_mark,
                "the configuration must be a mapping of sections (gateway, commune, villages, "
                "...), got %s",
                describe(map, b1, sizeof b1));
        else
            ERR(c, map->start_mark, "%s must be a mapping, got %s", where,
                describe(map, b1, sizeof b1));
        return false;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(c, p->key);
        if (k == NULL)
            continue;
        if (k->type != YAML_SCALAR_NODE || is_null(k)) {
            ERR(c, k->start_mark, "keys %s%s must be names, got %s",
                where ? "in " : "at the top level", where ? where : "", describe(k, b1, sizeof b1));
            continue;
        }
        size_t i = 0;
        while (i < n && !scalar_is(k, keys[i]))
            i++;
        quote(b1, sizeof b1, text_of(k), len_of(k), '\'');
        if (i == n) {
            size_t o = 0;
            b2[0] = '\0';
            for (size_t j = 0; j < n && o < sizeof b2; j++)
                o += (size_t)snprintf(b2 + o, sizeof b2 - o, "%s%s", j ? ", " : "", keys[j]);
            if (where == NULL)
                ERR(c, k->start_mark, "unknown top-level key %s (expected one of: %s)", b1, b2);
            else
                ERR(c, k->start_mark, "unknown key %s in %s (expected one of: %s)", b1, where, b2);
        } else if (vals[i] != NULL) {
            ERR(c, k->start_mark, "duplicate key %s in %s (first at line %zu, column %zu)", b1,
                where ? where : "the top level", key_nodes[i]->start_mark.line + 1,
                key_nodes[i]->start_mark.column + 1);
        } else {
            vals[i] = node(c, p->value);
            key_nodes[i] = k;
        }
    }
    return true;
}

static void missing(struct ctx *c, const yaml_node_t *map, const char *where, const char *key,
                    const char *what)
{
    if (where == NULL)
        ERR(c, map->start_mark, "missing required section '%s' (%s)", key, what);
    else
        ERR(c, map->start_mark, "missing required key '%s' in %s (%s)", key, where, what);
}

/* ---- scalars ---- */

/* A string value; `allow_empty` admits "". Replaces *out. */
static bool get_str(struct ctx *c, const yaml_node_t *n, const char *path, bool allow_empty,
                    char **out)
{
    char b[256];
    if (n->type != YAML_SCALAR_NODE || is_null(n)) {
        ERR(c, n->start_mark, "%s must be a string, got %s", path, describe(n, b, sizeof b));
        return false;
    }
    if (memchr(text_of(n), '\0', len_of(n)) != NULL) {
        ERR(c, n->start_mark, "%s must not contain a NUL character", path);
        return false;
    }
    if (!allow_empty && len_of(n) == 0) {
        ERR(c, n->start_mark, "%s must not be empty", path);
        return false;
    }
    char *s = dup_text(c, text_of(n), len_of(n));
    if (s == NULL)
        return false;
    free(*out);
    *out = s;
    return true;
}

static bool parse_int_text(const char *s, size_t len, long long *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == len || len - i > 18)
        return false;
    long long v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return true;
}

static bool parse_bool_text(const char *s, size_t len, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (len == strlen(yes[i]) && memcmp(s, yes[i], len) == 0) {
            *out = true;
            return true;
        }
        if (len == strlen(no[i]) && memcmp(s, no[i], len) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool get_int(struct ctx *c, const yaml_node_t *n, const char *path, int min, int max,
                    int *out)
{
    char b[256];
    long long v;
    if (n->type == YAML_SCALAR_NODE && !is_plain(n)) {
        ERR(c, n->start_mark,
            "%s must be an integer from %d to %d, got the string %s (write numbers without quotes)",
            path, min, max, describe(n, b, sizeof b));
        return false;
    }
    if (n->type != YAML_SCALAR_NODE || !parse_int_text(text_of(n), len_of(n), &v) || v < min ||
        v > max) {
        ERR(c, n->start_mark, "%s must be an integer from %d to %d, got %s", path, min, max,
            describe(n, b, sizeof b));
        return false;
    }
    *out = (int)v;
    return true;
}

/* An id checked by `valid` (whose rule `rule` is shown when it fails), copied to buf. */
static bool get_id(struct ctx *c, const yaml_node_t *n, const char *path,
                   bool (*valid)(const char *, size_t), const char *rule, char *buf)
{
    char b[256];
    if (n->type != YAML_SCALAR_NODE || is_null(n) || !valid(text_of(n), len_of(n))) {
        ERR(c, n->start_mark, "%s must be %s, got %s", path, rule, describe(n, b, sizeof b));
        return false;
    }
    memcpy(buf, text_of(n), len_of(n));
    buf[len_of(n)] = '\0';
    return true;
}

/* Exactly `digits` decimal digits, quoted or not, copied as text. */
static bool get_digits(struct ctx *c, const yaml_node_t *n, const char *path, size_t digits,
                       char *buf)
{
    char b[256];
    bool ok = n->type == YAML_SCALAR_NODE && len_of(n) == digits;
    for (size_t i = 0; ok && i < digits; i++)
        ok = text_of(n)[i] >= '0' && text_of(n)[i] <= '9';
    if (!ok) {
        ERR(c, n->start_mark, "%s must be %zu digits, got %s", path, digits,
            describe(n, b, sizeof b));
        return false;
    }
    memcpy(buf, text_of(n), digits);
    buf[digits] = '\0';
    return true;
}

/* ---- ids (the rules are record.c's) ---- */

static bool valid_plugin_name(const char *s, size_t len)
{
    if (s == NULL || len < 1 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

#define RULE_DEVICE_ID "1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'"
#define RULE_VILLAGE_ID "1 to 32 characters of a-z, 0-9, '-' (lower case)"
#define RULE_PLUGIN "a plugin name of 1 to 64 characters of a-z, 0-9, '_', '-'"

static int idref_cmp(const void *a, const void *b)
{
    const struct idref *x = a, *y = b;
    int r = strcmp(x->id, y->id);
    if (r != 0)
        return r;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sorts refs and reports each id declared again (at the later declaration). */
static void report_duplicates(struct ctx *c, struct idref *refs, size_t n, const char *what)
{
    qsort(refs, n, sizeof refs[0], idref_cmp);
    size_t first = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(refs[i].id, refs[first].id) != 0) {
            first = i;
            continue;
        }
        ERR(c, refs[i].mark, "duplicate %s id '%s' (first declared at line %zu, column %zu)", what,
            refs[i].id, refs[first].mark.line + 1, refs[first].mark.column + 1);
    }
}

static int find_village(const struct ctx *c, const char *id)
{
    size_t lo = 0, hi = c->n_village_refs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(c->villages[mid].id, id);
        if (r == 0)
            return (int)c->villages[mid].idx;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- sections ---- */

static void parse_gateway(struct ctx *c, yaml_node_t *n)
{
    static const char *const keys[] = {"id"};
    yaml_node_t *v[1];
    if (!get_fields(c, n, "gateway", keys, 1, v))
        return;
    if (v[0] == NULL)
        missing(c, n, "gateway", "id", "the gateway's unique id");
    else
        get_id(c, v[0], "gateway.id", ntm_valid_gateway_id, RULE_DEVICE_ID, c->cfg->gateway_id);
}

static void parse_commune(struct ctx *c, yaml_node_t *n)
{
    static const char *const keys[] = {"code", "province_code", "name"};
    yaml_node_t *v[3];
    if (!get_fields(c, n, "commune", keys, 3, v))
        return;
    if (v[0] == NULL)
        missing(c, n, "commune", "code", "the commune's 5-digit code");
    else
        get_digits(c, v[0], "commune.code", 5, c->cfg->commune_code);
    if (v[1] == NULL)
        missing(c, n, "commune", "province_code", "the province's 2-digit code");
    else
        get_digits(c, v[1], "commune.province_code", 2, c->cfg->province_code);
    if (v[2] != NULL)
        get_str(c, v[2], "commune.name", true, &c->cfg->commune_name);
}

static size_t seq_len(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* A list value: false (reported) when it is something else; a null is an empty list. */
static bool get_list(struct ctx *c, const yaml_node_t *n, const char *path, const char *of,
                     size_t *len)
{
    char b[256];
    *len = 0;
    if (is_null(n))
        return true;
    if (n->type != YAML_SEQUENCE_NODE) {
        ERR(c, n->start_mark, "%s must be a list of %s, got %s", path, of,
            describe(n, b, sizeof b));
        return false;
    }
    *len = seq_len(n);
    return true;
}

static void parse_villages(struct ctx *c, yaml_node_t *n)
{
    static const char *const keys[] = {"id", "name"};
    struct ntm_config *cfg = c->cfg;
    size_t len;
    if (!get_list(c, n, "villages", "villages", &len))
        return;
    if (len == 0) {
        ERR(c, n->start_mark, "villages must list at least one village");
        return;
    }
    if (len > UINT16_MAX) {
        ERR(c, n->start_mark, "too many villages (%zu; at most %d)", len, UINT16_MAX);
        return;
    }
    cfg->villages = calloc(len, sizeof cfg->villages[0]);
    c->villages = calloc(len, sizeof c->villages[0]);
    if (cfg->villages == NULL || c->villages == NULL) {
        c->oom = true;
        return;
    }
    cfg->n_villages = len;
    c->villages_complete = true;
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *e = node(c, n->data.sequence.items.start[i]);
        struct ntm_village *vil = &cfg->villages[i];
        char where[32], path[64];
        yaml_node_t *v[2];
        snprintf(where, sizeof where, "villages[%zu]", i);
        if (!get_fields(c, e, where, keys, 2, v) || v[0] == NULL) {
            if (e->type == YAML_MAPPING_NODE || is_null(e))
                missing(c, e, where, "id", "the village's id");
            c->villages_complete = false;
            continue;
        }
        path_of(path, sizeof path, where, "id");
        if (!get_id(c, v[0], path, ntm_valid_village_id, RULE_VILLAGE_ID, vil->id)) {
            c->villages_complete = false;
            continue;
        }
        c->villages[c->n_village_refs++] = (struct idref){vil->id, i, v[0]->start_mark};
        path_of(path, sizeof path, where, "name");
        if (v[1] != NULL)
            get_str(c, v[1], path, false, &vil->name);
        else
            vil->name = dup_text(c, vil->id, strlen(vil->id));
    }
    report_duplicates(c, c->villages, c->n_village_refs, "village");
}

static void parse_devices(struct ctx *c, yaml_node_t *n)
{
    static const char *const keys[] = {"id", "kind", "village"};
    static const char *const what[] = {"the device's id", "speaker, camera or wifi",
                                       "the id of a declared village"};
    struct ntm_config *cfg = c->cfg;
    size_t len;
    char b[256];
    if (!get_list(c, n, "devices", "devices", &len) || len == 0)
        return;
    cfg->devices = calloc(len, sizeof cfg->devices[0]);
    struct idref *refs = calloc(len, sizeof refs[0]);
    size_t n_refs = 0;
    if (cfg->devices == NULL || refs == NULL) {
        free(refs);
        c->oom = true;
        return;
    }
    cfg->n_devices = len;
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *e = node(c, n->data.sequence.items.start[i]);
        struct ntm_device_decl *d = &cfg->devices[i];
        char where[32], path[64];
        yaml_node_t *v[3];
        snprintf(where, sizeof where, "devices[%zu]", i);
        if (!get_fields(c, e, where, keys, 3, v))
            continue;
        for (size_t k = 0; k < 3; k++)
            if (v[k] == NULL)
                missing(c, e, where, keys[k], what[k]);
        if (v[0] != NULL) {
            path_of(path, sizeof path, where, "id");
            if (get_id(c, v[0], path, ntm_valid_device_id, RULE_DEVICE_ID, d->id))
                refs[n_refs++] = (struct idref){d->id, i, v[0]->start_mark};
        }
        if (v[1] != NULL) {
            int kind = -1;
            if (v[1]->type == YAML_SCALAR_NODE && memchr(text_of(v[1]), '\0', len_of(v[1])) == NULL)
                kind = ntm_kind_parse(text_of(v[1]));
            if (kind < 0)
                ERR(c, v[1]->start_mark, "%s.kind must be one of speaker, camera, wifi, got %s",
                    where, describe(v[1], b, sizeof b));
            else
                d->kind = (uint8_t)kind;
        }
        if (v[2] != NULL) {
            char vid[NTM_VILLAGE_ID_MAX + 1];
            path_of(path, sizeof path, where, "village");
            if (!get_id(c, v[2], path, ntm_valid_village_id, RULE_VILLAGE_ID, vid))
                continue;
            int idx = find_village(c, vid);
            if (idx >= 0) {
                d->village = (uint16_t)idx;
            } else if (c->villages_complete) {
                char list[200];
                size_t o = 0;
                list[0] = '\0';
                for (size_t k = 0; k < cfg->n_villages && o < sizeof list; k++)
                    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", k ? ", " : "",
                                          k < 8 ? cfg->villages[k].id : "...");
                ERR(c, v[2]->start_mark, "%s '%s' is not a declared village (declared: %s)", path,
                    vid, list);
            }
        }
    }
    report_duplicates(c, refs, n_refs, "device");
    free(refs);
}

static void parse_tls(struct ctx *c, yaml_node_t *n)
{
    static const char *const keys[] = {"ca_file", "cert_file", "key_file"};
    struct ntm_config *cfg = c->cfg;
    yaml_node_t *v[3];
    if (!get_fields(c, n, "mqtt.tls", keys, 3, v))
        return;
    if (v[0] == NULL)
        missing(c, n, "mqtt.tls", "ca_file", "the CA certificate to verify the broker with");
    else
        get_str(c, v[0], "mqtt.tls.ca_file", false, &cfg->mqtt.ca_file);
    if (v[1] != NULL)
        get_str(c, v[1], "mqtt.tls.cert_file", false, &cfg->mqtt.cert_file);
    if (v[2] != NULL)
        get_str(c, v[2], "mqtt.tls.key_file", false, &cfg->mqtt.key_file);
    if (v[1] != NULL && v[2] == NULL)
        missing(c, n, "mqtt.tls", "key_file", "cert_file needs its private key");
    if (v[2] != NULL && v[1] == NULL)
        missing(c, n, "mqtt.tls", "cert_file", "key_file needs its certificate");
}

static void parse_mqtt(struct ctx *c, yaml_node_t *n)
{
    static const char *const keys[] = {"host", "port",     "client_id",     "keepalive_s",
                                       "tls",  "username", "password_file", "max_payload"};
    struct ntm_config *cfg = c->cfg;
    yaml_node_t *v[8];
    if (!get_fields(c, n, "mqtt", keys, 8, v))
        return;
    if (v[0] != NULL)
        get_str(c, v[0], "mqtt.host", false, &cfg->mqtt.host);
    if (v[1] != NULL)
        get_int(c, v[1], "mqtt.port", 1, 65535, &cfg->mqtt.port);
    else if (v[4] != NULL)
        cfg->mqtt.port = 8883;
    if (v[2] != NULL)
        get_str(c, v[2], "mqtt.client_id", false, &cfg->mqtt.client_id);
    if (v[3] != NULL)
        get_int(c, v[3], "mqtt.keepalive_s", 5, 3600, &cfg->mqtt.keepalive_s);
    if (v[4] != NULL)
        parse_tls(c, v[4]);
    if (v[5] != NULL)
        get_str(c, v[5], "mqtt.username", false, &cfg->mqtt.username);
    if (v[6] != NULL) {
        get_str(c, v[6], "mqtt.password_file", false, &cfg->mqtt.password_file);
        if (v[5] == NULL)
            missing(c, n, "mqtt", "username", "a password is only sent with a username");
    }
    if (v[7] != NULL)
        get_int(c, v[7], "mqtt.max_payload", 256, 1048576, &cfg->mqtt.max_payload);
}

static void parse_storage(struct ctx *c, yaml_node_t *n)
{
    static const char *const keys[] = {"path",       "max_mb",  "commit_ms",
                                       "commit_max", "sync_ms", "quarantine_max"};
    struct ntm_config *cfg = c->cfg;
    yaml_node_t *v[6];
    if (!get_fields(c, n, "storage", keys, 6, v))
        return;
    if (v[0] != NULL)
        get_str(c, v[0], "storage.path", false, &cfg->storage.path);
    if (v[1] != NULL)
        get_int(c, v[1], "storage.max_mb", 1, 1048576, &cfg->storage.max_mb);
    if (v[2] != NULL)
        get_int(c, v[2], "storage.commit_ms", 1, 10000, &cfg->storage.commit_ms);
    if (v[3] != NULL)
        get_int(c, v[3], "storage.commit_max", 1, 100000, &cfg->storage.commit_max);
    if (v[4] != NULL)
        get_int(c, v[4], "storage.sync_ms", 10, 60000, &cfg->storage.sync_ms);
    if (v[5] != NULL)
        get_int(c, v[5], "storage.quarantine_max", 0, 1000000, &cfg->storage.quarantine_max);
}

static void parse_sync(struct ctx *c, yaml_node_t *n)
{
    static const char *const keys[] = {"interval_s", "grace_s"};
    yaml_node_t *v[2];
    if (!get_fields(c, n, "sync", keys, 2, v))
        return;
    if (v[0] != NULL)
        get_int(c, v[0], "sync.interval_s", 1, 3600, &c->cfg->sync.interval_s);
    if (v[1] != NULL)
        get_int(c, v[1], "sync.grace_s", 0, 86400, &c->cfg->sync.grace_s);
}

static void parse_log(struct ctx *c, yaml_node_t *n)
{
    static const char *const keys[] = {"level"};
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"error", LOG_ERR},
                  {"warning", LOG_WARNING},
                  {"notice", LOG_NOTICE},
                  {"info", LOG_INFO},
                  {"debug", LOG_DEBUG}};
    yaml_node_t *v[1];
    char b[256];
    if (!get_fields(c, n, "log", keys, 1, v) || v[0] == NULL)
        return;
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        if (scalar_is(v[0], levels[i].name)) {
            c->cfg->log.level = levels[i].level;
            return;
        }
    }
    ERR(c, v[0]->start_mark, "log.level must be one of error, warning, notice, info, debug, got %s",
        describe(v[0], b, sizeof b));
}

static void parse_uplink(struct ctx *c, yaml_node_t *e, const char *where,
                         struct ntm_uplink_conf *u)
{
    char b[256], path[128];
    u->line = (int)e->start_mark.line + 1;
    u->column = (int)e->start_mark.column + 1;
    if (e->type != YAML_MAPPING_NODE) {
        ERR(c, e->start_mark, "%s must be a mapping with a 'plugin' key, got %s", where,
            describe(e, b, sizeof b));
        return;
    }
    size_t pairs = (size_t)(e->data.mapping.pairs.top - e->data.mapping.pairs.start);
    if (pairs > MAX_OPTIONS + 1) {
        ERR(c, e->start_mark, "%s has too many options (%zu; at most %d)", where, pairs - 1,
            MAX_OPTIONS);
        return;
    }
    u->options = calloc(pairs ? pairs : 1, sizeof u->options[0]);
    if (u->options == NULL) {
        c->oom = true;
        return;
    }
    const yaml_node_t *plugin = NULL;
    for (yaml_node_pair_t *p = e->data.mapping.pairs.start; p < e->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
        if (k == NULL || v == NULL)
            continue;
        if (k->type != YAML_SCALAR_NODE || is_null(k) ||
            memchr(text_of(k), '\0', len_of(k)) != NULL) {
            ERR(c, k->start_mark, "keys in %s must be names, got %s", where,
                describe(k, b, sizeof b));
            continue;
        }
        const yaml_node_t *first = NULL; /* the same key earlier in this entry */
        for (yaml_node_pair_t *q = e->data.mapping.pairs.start; q < p && first == NULL; q++) {
            yaml_node_t *qk = node(c, q->key);
            if (qk != NULL && qk->type == YAML_SCALAR_NODE && len_of(qk) == len_of(k) &&
                memcmp(text_of(qk), text_of(k), len_of(k)) == 0)
                first = qk;
        }
        if (first != NULL) {
            ERR(c, k->start_mark, "duplicate key %s in %s (first at line %zu, column %zu)",
                quote(b, sizeof b, text_of(k), len_of(k), '\''), where, first->start_mark.line + 1,
                first->start_mark.column + 1);
            continue;
        }
        if (scalar_is(k, "plugin")) {
            plugin = v;
            path_of(path, sizeof path, where, "plugin");
            if (v->type != YAML_SCALAR_NODE || is_null(v) ||
                !valid_plugin_name(text_of(v), len_of(v)))
                ERR(c, v->start_mark, "%s must be %s, got %s", path, RULE_PLUGIN,
                    describe(v, b, sizeof b));
            else
                u->plugin = dup_text(c, text_of(v), len_of(v));
            continue;
        }
        bool plain_key = true;
        for (size_t i = 0; i < len_of(k); i++)
            plain_key = plain_key && (unsigned char)text_of(k)[i] >= 0x20;
        path_of(path, sizeof path, where,
                plain_key ? text_of(k) : quote(b, sizeof b, text_of(k), len_of(k), '\''));
        if (v->type != YAML_SCALAR_NODE) {
            ERR(c, v->start_mark, "%s must be a single value, got %s", path,
                describe(v, b, sizeof b));
            continue;
        }
        if (memchr(text_of(v), '\0', len_of(v)) != NULL) {
            ERR(c, v->start_mark, "%s must not contain a NUL character", path);
            continue;
        }
        struct ntm_conf_option *o = &u->options[u->n_options];
        o->key = dup_text(c, text_of(k), len_of(k));
        o->value = dup_text(c, is_null(v) ? "" : text_of(v), is_null(v) ? 0 : len_of(v));
        o->line = (int)v->start_mark.line + 1;
        o->column = (int)v->start_mark.column + 1;
        o->quoted = !is_plain(v);
        if (o->key == NULL || o->value == NULL) {
            free(o->key);
            free(o->value);
            o->key = o->value = NULL;
            continue;
        }
        u->n_options++;
    }
    if (plugin == NULL)
        missing(c, e, where, "plugin", "the name of the uplink plugin to load");
}

static void parse_uplinks(struct ctx *c, yaml_node_t *n)
{
    size_t len;
    if (!get_list(c, n, "uplinks", "uplink entries", &len) || len == 0)
        return;
    c->cfg->uplinks = calloc(len, sizeof c->cfg->uplinks[0]);
    if (c->cfg->uplinks == NULL) {
        c->oom = true;
        return;
    }
    c->cfg->n_uplinks = len;
    for (size_t i = 0; i < len; i++) {
        char where[32];
        snprintf(where, sizeof where, "uplinks[%zu]", i);
        parse_uplink(c, node(c, n->data.sequence.items.start[i]), where, &c->cfg->uplinks[i]);
    }
}

enum {
    T_GATEWAY,
    T_COMMUNE,
    T_VILLAGES,
    T_DEVICES,
    T_MQTT,
    T_STORAGE,
    T_SYNC,
    T_LOG,
    T_PLUGIN_DIR,
    T_UPLINKS,
    T_COUNT
};

static void parse_root(struct ctx *c, yaml_node_t *root)
{
    static const char *const keys[T_COUNT] = {"gateway",    "commune", "villages", "devices",
                                              "mqtt",       "storage", "sync",     "log",
                                              "plugin_dir", "uplinks"};
    yaml_node_t *v[T_COUNT];
    if (is_null(root) || !get_fields(c, root, NULL, keys, T_COUNT, v)) {
        if (is_null(root))
            ERR(c, root->start_mark,
                "the configuration is empty (expected gateway, commune, "
                "villages, ...)");
        return;
    }
    if (v[T_GATEWAY] != NULL)
        parse_gateway(c, v[T_GATEWAY]);
    else
        missing(c, root, NULL, "gateway", "with the gateway's id");
    if (v[T_COMMUNE] != NULL)
        parse_commune(c, v[T_COMMUNE]);
    else
        missing(c, root, NULL, "commune", "with code and province_code");
    if (v[T_VILLAGES] != NULL)
        parse_villages(c, v[T_VILLAGES]);
    else
        missing(c, root, NULL, "villages", "a list of at least one village");
    if (v[T_DEVICES] != NULL)
        parse_devices(c, v[T_DEVICES]);
    if (v[T_MQTT] != NULL)
        parse_mqtt(c, v[T_MQTT]);
    if (v[T_STORAGE] != NULL)
        parse_storage(c, v[T_STORAGE]);
    if (v[T_SYNC] != NULL)
        parse_sync(c, v[T_SYNC]);
    if (v[T_LOG] != NULL)
        parse_log(c, v[T_LOG]);
    if (v[T_PLUGIN_DIR] != NULL)
        get_str(c, v[T_PLUGIN_DIR], "plugin_dir", false, &c->cfg->plugin_dir);
    if (v[T_UPLINKS] != NULL)
        parse_uplinks(c, v[T_UPLINKS]);
}

/* ---- syntax errors ---- */

/* Line and column (1-based, in characters) of a byte offset into the text. */
static void position_of(const struct ctx *c, size_t offset, size_t *line, size_t *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset && i < c->len; i++) {
        if (c->text[i] == '\n') {
            ++*line;
            *column = 1;
        } else if ((c->text[i] & 0xc0) != 0x80) {
            ++*column;
        }
    }
}

/* The byte at a 0-based line and character column, or -1. */
static int byte_at(const struct ctx *c, size_t line, size_t column)
{
    size_t i = 0;
    for (; i < c->len && line > 0; i++)
        if (c->text[i] == '\n')
            line--;
    for (; i < c->len && c->text[i] != '\n'; i++) {
        if ((c->text[i] & 0xc0) == 0x80)
            continue;
        if (column-- == 0)
            return c->text[i];
    }
    return -1;
}

static void syntax_error(struct ctx *c, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR) {
        c->oom = true;
        return;
    }
    const char *problem = p->problem ? p->problem : "unknown problem";
    if (p->error == YAML_READER_ERROR) {
        size_t line, column;
        position_of(c, p->problem_offset, &line, &column);
        error_at(c, line, column, "unreadable text (%s); the file must be UTF-8 text", problem);
        return;
    }
    const char *hint = "";
    if (byte_at(c, p->problem_mark.line, p->problem_mark.column) == '\t')
        hint = "; indent with spaces, not tabs";
    if (p->context != NULL)
        ERR(c, p->problem_mark, "YAML syntax error: %s (%s at line %zu, column %zu)%s", problem,
            p->context, p->context_mark.line + 1, p->context_mark.column + 1, hint);
    else
        ERR(c, p->problem_mark, "YAML syntax error: %s%s", problem, hint);
}

/* ---- public ---- */

static char *copy_str(const char *s)
{
    size_t len = strlen(s) + 1;
    char *p = malloc(len);
    return p ? memcpy(p, s, len) : NULL;
}

static bool set_defaults(struct ntm_config *cfg, const char *name)
{
    cfg->path = copy_str(name);
    cfg->commune_name = copy_str("");
    cfg->mqtt.host = copy_str("127.0.0.1");
    cfg->mqtt.port = 1883;
    cfg->mqtt.client_id = copy_str("ntm-gateway");
    cfg->mqtt.keepalive_s = 30;
    cfg->mqtt.max_payload = 16384;
    cfg->storage.path = copy_str("/var/lib/ntm-gateway/buffer.db");
    cfg->storage.max_mb = 512;
    cfg->storage.commit_ms = 50;
    cfg->storage.commit_max = 4000;
    cfg->storage.sync_ms = 1000;
    cfg->storage.quarantine_max = 1000;
    cfg->sync.interval_s = 10;
    cfg->sync.grace_s = 120;
    cfg->log.level = LOG_INFO;
    cfg->plugin_dir = copy_str(NTM_DEFAULT_PLUGIN_DIR);
    return cfg->path && cfg->commune_name && cfg->mqtt.host && cfg->mqtt.client_id &&
           cfg->storage.path && cfg->plugin_dir;
}

struct ntm_config *ntm_config_parse(const char *name, const char *text, size_t len, char *err,
                                    size_t errlen)
{
    struct ctx c = {.name = name ? name : "(config)",
                    .text = (const unsigned char *)(text ? text : ""),
                    .len = text ? len : 0};
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    c.errs = malloc(MAX_ERRORS * sizeof c.errs[0]);
    c.cfg = calloc(1, sizeof *c.cfg);
    if (c.errs == NULL || c.cfg == NULL || !set_defaults(c.cfg, c.name)) {
        c.oom = true;
        goto out;
    }

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        c.oom = true;
        goto out;
    }
    yaml_parser_set_input_string(&parser, c.text, c.len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(&c, &parser);
    } else {
        c.doc = &doc;
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root == NULL) {
            error_at(&c, 1, 1,
                     "the file has no configuration in it (it is empty or only comments)");
        } else {
            parse_root(&c, root);
            yaml_document_t next;
            if (!yaml_parser_load(&parser, &next)) {
                syntax_error(&c, &parser);
            } else {
                yaml_node_t *r2 = yaml_document_get_root_node(&next);
                if (r2 != NULL)
                    ERR(&c, r2->start_mark,
                        "a second YAML document; the configuration must be a single document");
                yaml_document_delete(&next);
            }
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);

out:
    free(c.villages);
    if (failed(&c)) {
        write_errors(&c, err, errlen);
        ntm_config_free(c.cfg);
        c.cfg = NULL;
    }
    free(c.errs);
    return c.cfg;
}

struct ntm_config *ntm_config_load(const char *path, char *err, size_t errlen)
{
    if (path == NULL)
        path = NTM_DEFAULT_CONFIG_PATH;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    const char *problem = NULL;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *nbuf = ncap <= MAX_FILE_SIZE + 1 ? realloc(buf, ncap) : NULL;
            if (nbuf == NULL) {
                problem = ncap > MAX_FILE_SIZE + 1 ? "too large for a configuration file"
                                                   : "out of memory";
                break;
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f))
                problem = strerror(errno);
            break;
        }
    }
    fclose(f);
    struct ntm_config *cfg = NULL;
    if (problem != NULL) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s: cannot read: %s", path, problem);
    } else {
        cfg = ntm_config_parse(path, buf, len, err, errlen);
    }
    free(buf);
    return cfg;
}

void ntm_config_free(struct ntm_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    free(cfg->commune_name);
    for (size_t i = 0; cfg->villages != NULL && i < cfg->n_villages; i++)
        free(cfg->villages[i].name);
    free(cfg->villages);
    free(cfg->devices);
    free(cfg->mqtt.host);
    free(cfg->mqtt.client_id);
    free(cfg->mqtt.ca_file);
    free(cfg->mqtt.cert_file);
    free(cfg->mqtt.key_file);
    free(cfg->mqtt.username);
    free(cfg->mqtt.password_file);
    free(cfg->storage.path);
    free(cfg->plugin_dir);
    for (size_t i = 0; cfg->uplinks != NULL && i < cfg->n_uplinks; i++) {
        struct ntm_uplink_conf *u = &cfg->uplinks[i];
        free(u->plugin);
        for (size_t k = 0; k < u->n_options; k++) {
            free(u->options[k].key);
            free(u->options[k].value);
        }
        free(u->options);
    }
    free(cfg->uplinks);
    free(cfg);
}

int ntm_config_village(const struct ntm_config *cfg, const char *id)
{
    if (cfg == NULL || id == NULL)
        return -1;
    for (size_t i = 0; i < cfg->n_villages; i++)
        if (strcmp(cfg->villages[i].id, id) == 0)
            return (int)i;
    return -1;
}

const struct ntm_device_decl *ntm_config_device(const struct ntm_config *cfg, const char *id)
{
    if (cfg == NULL || id == NULL)
        return NULL;
    for (size_t i = 0; i < cfg->n_devices; i++)
        if (strcmp(cfg->devices[i].id, id) == 0)
            return &cfg->devices[i];
    return NULL;
}

const struct ntm_conf_option *ntm_uplink_option(const struct ntm_uplink_conf *u, const char *key)
{
    if (u == NULL || key == NULL)
        return NULL;
    for (size_t i = 0; i < u->n_options; i++)
        if (strcmp(u->options[i].key, key) == 0)
            return &u->options[i];
    return NULL;
}

bool ntm_conf_option_bool(const struct ntm_conf_option *o, bool *out)
{
    if (o == NULL || o->quoted)
        return false;
    return parse_bool_text(o->value, strlen(o->value), out);
}

bool ntm_conf_option_int(const struct ntm_conf_option *o, long long min, long long max,
                         long long *out)
{
    long long v;
    if (o == NULL || o->quoted || !parse_int_text(o->value, strlen(o->value), &v) || v < min ||
        v > max)
        return false;
    *out = v;
    return true;
}
