/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config_yaml.c: the YAML side of the configuration loader: reads one document with
 * libyaml, gives access to its nodes and scalars, and keeps the errors found, each with
 * its line and column. It knows no key names and stores no values (config.c does). */
#include "config_yaml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ERRORS 64 /* kept for the report; more are only counted */
#define MSG_MAX 512

struct cy_err {
    size_t line, column, seq;
    char msg[MSG_MAX];
};

bool cy_init(struct cy *y, const char *name, const char *text, size_t len)
{
    *y = (struct cy){
        .name = name, .text = (const unsigned char *)(text ? text : ""), .len = text ? len : 0};
    y->errs = malloc(MAX_ERRORS * sizeof y->errs[0]);
    y->oom = y->errs == NULL;
    return !y->oom;
}

void cy_fini(struct cy *y)
{
    free(y->errs);
    y->errs = NULL;
}

/* ---- errors ---- */

void cy_error_at(struct cy *y, size_t line, size_t column, const char *fmt, ...)
{
    if (y->errs == NULL || y->n_errs == MAX_ERRORS) {
        y->n_dropped++;
        return;
    }
    struct cy_err *e = &y->errs[y->n_errs];
    e->line = line;
    e->column = column;
    e->seq = y->n_errs++;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

bool cy_failed(const struct cy *y)
{
    return y->n_errs + y->n_dropped > 0 || y->oom;
}

static int err_cmp(const void *a, const void *b)
{
    const struct cy_err *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->column != y->column)
        return x->column < y->column ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The first line even when cut short, then whole lines while they fit with room left
 * to say how many more there were. */
void cy_write_errors(struct cy *y, char *err, size_t errlen)
{
    if (err == NULL || errlen == 0)
        return;
    err[0] = '\0';
    if (y->n_errs == 0) {
        snprintf(err, errlen, "%s: %s", y->name,
                 y->oom ? "out of memory" : "invalid configuration");
        return;
    }
    qsort(y->errs, y->n_errs, sizeof y->errs[0], err_cmp);
    size_t used = 0, written = 0;
    size_t note = strlen(y->name) + 40; /* room kept for the "more errors" line */
    char line[MSG_MAX + 512];
    for (size_t i = 0; i < y->n_errs; i++) {
        int n = snprintf(line, sizeof line, "%s%s:%zu:%zu: %s", i ? "\n" : "", y->name,
                         y->errs[i].line, y->errs[i].column, y->errs[i].msg);
        size_t len = n < 0 ? 0 : (size_t)n >= sizeof line ? sizeof line - 1 : (size_t)n;
        if (i == 0) {
            snprintf(err, errlen, "%s", line);
            used = len < errlen ? len : errlen - 1;
        } else if (used + len + (i + 1 < y->n_errs || y->n_dropped ? note : 0) < errlen) {
            memcpy(err + used, line, len + 1);
            used += len;
        } else {
            break;
        }
        written++;
    }
    size_t more = y->n_errs - written + y->n_dropped;
    if (more > 0) {
        int n = snprintf(line, sizeof line, "\n%s: %zu more error%s not shown", y->name, more,
                         more == 1 ? "" : "s");
        if (n > 0 && used + (size_t)n < errlen)
            memcpy(err + used, line, (size_t)n + 1);
    }
}

void cy_missing(struct cy *y, const yaml_node_t *map, const char *where, const char *key,
                const char *what)
{
    if (where == NULL)
        CY_ERR(y, map->start_mark, "missing required section '%s' (%s)", key, what);
    else
        CY_ERR(y, map->start_mark, "missing required key '%s' in %s (%s)", key, where, what);
}

/* ---- nodes ---- */

yaml_node_t *cy_node(struct cy *y, int id)
{
    return yaml_document_get_node(y->doc, id);
}

const char *cy_text(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

size_t cy_len(const yaml_node_t *n)
{
    return n->data.scalar.length;
}

bool cy_is_plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

bool cy_is_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    if (!cy_is_plain(n))
        return false;
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        if (cy_len(n) == strlen(nulls[i]) && memcmp(cy_text(n), nulls[i], cy_len(n)) == 0)
            return true;
    return false;
}

bool cy_scalar_is(const yaml_node_t *n, const char *s)
{
    return n->type == YAML_SCALAR_NODE && cy_len(n) == strlen(s) &&
           memcmp(cy_text(n), s, cy_len(n)) == 0;
}

const char *cy_quote(char *buf, size_t size, const char *s, size_t len, char q)
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

const char *cy_describe(const yaml_node_t *n, char *buf, size_t size)
{
    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (cy_is_null(n))
        return "no value";
    return cy_quote(buf, size, cy_text(n), cy_len(n), '"');
}

char *cy_dup(struct cy *y, const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p == NULL) {
        y->oom = true;
        return NULL;
    }
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void cy_path(char *buf, size_t size, const char *where, const char *key)
{
    if (where == NULL)
        snprintf(buf, size, "%s", key);
    else
        snprintf(buf, size, "%s.%s", where, key);
}

/* ---- mappings and lists ---- */

static void not_a_mapping(struct cy *y, const yaml_node_t *map, const char *where)
{
    char b[256];
    if (where == NULL)
        CY_ERR(y, map->start_mark,
               "the configuration must be a mapping of sections (gateway, commune, villages, "
               "...), got %s",
               cy_describe(map, b, sizeof b));
    else
        CY_ERR(y, map->start_mark, "%s must be a mapping, got %s", where,
               cy_describe(map, b, sizeof b));
}

bool cy_fields(struct cy *y, yaml_node_t *map, const char *where, const char *const names[],
               size_t n, yaml_node_t *vals[])
{
    yaml_node_t *key_nodes[CY_MAX_KEYS] = {0};
    char b1[256], b2[512];
    for (size_t i = 0; i < n; i++)
        vals[i] = NULL;
    if (cy_is_null(map))
        return true;
    if (map->type != YAML_MAPPING_NODE) {
        not_a_mapping(y, map, where);
        return false;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = cy_node(y, p->key);
        if (k == NULL)
            continue;
        if (k->type != YAML_SCALAR_NODE || cy_is_null(k)) {
            CY_ERR(y, k->start_mark, "keys %s%s must be names, got %s",
                   where ? "in " : "at the top level", where ? where : "",
                   cy_describe(k, b1, sizeof b1));
            continue;
        }
        size_t i = 0;
        while (i < n && i < CY_MAX_KEYS && !cy_scalar_is(k, names[i]))
            i++;
        cy_quote(b1, sizeof b1, cy_text(k), cy_len(k), '\'');
        if (i == n || i == CY_MAX_KEYS) {
            size_t o = 0;
            b2[0] = '\0';
            for (size_t j = 0; j < n && o < sizeof b2; j++)
                o += (size_t)snprintf(b2 + o, sizeof b2 - o, "%s%s", j ? ", " : "", names[j]);
            if (where == NULL)
                CY_ERR(y, k->start_mark, "unknown top-level key %s (expected one of: %s)", b1, b2);
            else
                CY_ERR(y, k->start_mark, "unknown key %s in %s (expected one of: %s)", b1, where,
                       b2);
        } else if (vals[i] != NULL) {
            CY_ERR(y, k->start_mark, "duplicate key %s in %s (first at line %zu, column %zu)", b1,
                   where ? where : "the top level", key_nodes[i]->start_mark.line + 1,
                   key_nodes[i]->start_mark.column + 1);
        } else {
            vals[i] = cy_node(y, p->value);
            key_nodes[i] = k;
        }
    }
    return true;
}

bool cy_list(struct cy *y, const yaml_node_t *n, const char *path, const char *of, size_t *len)
{
    char b[256];
    *len = 0;
    if (cy_is_null(n))
        return true;
    if (n->type != YAML_SEQUENCE_NODE) {
        CY_ERR(y, n->start_mark, "%s must be a list of %s, got %s", path, of,
               cy_describe(n, b, sizeof b));
        return false;
    }
    *len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    return true;
}

yaml_node_t *cy_item(struct cy *y, const yaml_node_t *list, size_t i)
{
    return cy_node(y, list->data.sequence.items.start[i]);
}

/* ---- scalars ---- */

bool cy_str(struct cy *y, const yaml_node_t *n, const char *path, bool allow_empty, char **out)
{
    char b[256];
    if (n->type != YAML_SCALAR_NODE || cy_is_null(n)) {
        CY_ERR(y, n->start_mark, "%s must be a string, got %s", path, cy_describe(n, b, sizeof b));
        return false;
    }
    if (memchr(cy_text(n), '\0', cy_len(n)) != NULL) {
        CY_ERR(y, n->start_mark, "%s must not contain a NUL character", path);
        return false;
    }
    if (!allow_empty && cy_len(n) == 0) {
        CY_ERR(y, n->start_mark, "%s must not be empty", path);
        return false;
    }
    char *s = cy_dup(y, cy_text(n), cy_len(n));
    if (s == NULL)
        return false;
    free(*out);
    *out = s;
    return true;
}

bool cy_int_text(const char *s, size_t len, long long *out)
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

bool cy_bool_text(const char *s, size_t len, bool *out)
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

bool cy_int(struct cy *y, const yaml_node_t *n, const char *path, long long min, long long max,
            long long *out)
{
    char b[256];
    long long v;
    if (n->type == YAML_SCALAR_NODE && !cy_is_plain(n)) {
        CY_ERR(y, n->start_mark,
               "%s must be an integer from %lld to %lld, got the string %s (write numbers "
               "without quotes)",
               path, min, max, cy_describe(n, b, sizeof b));
        return false;
    }
    if (n->type != YAML_SCALAR_NODE || !cy_int_text(cy_text(n), cy_len(n), &v) || v < min ||
        v > max) {
        CY_ERR(y, n->start_mark, "%s must be an integer from %lld to %lld, got %s", path, min, max,
               cy_describe(n, b, sizeof b));
        return false;
    }
    *out = v;
    return true;
}

bool cy_bool(struct cy *y, const yaml_node_t *n, const char *path, bool *out)
{
    char b[256];
    if (!cy_is_plain(n) || !cy_bool_text(cy_text(n), cy_len(n), out)) {
        CY_ERR(y, n->start_mark, "%s must be true or false%s, got %s", path,
               n->type == YAML_SCALAR_NODE && !cy_is_plain(n) ? " (without quotes)" : "",
               cy_describe(n, b, sizeof b));
        return false;
    }
    return true;
}

bool cy_valid(struct cy *y, const yaml_node_t *n, const char *path,
              bool (*valid)(const char *, size_t), const char *rule)
{
    char b[256];
    if (n->type != YAML_SCALAR_NODE || cy_is_null(n) || !valid(cy_text(n), cy_len(n))) {
        CY_ERR(y, n->start_mark, "%s must be %s, got %s", path, rule, cy_describe(n, b, sizeof b));
        return false;
    }
    return true;
}

bool cy_digits(struct cy *y, const yaml_node_t *n, const char *path, size_t digits, char *buf)
{
    char b[256];
    bool ok = n->type == YAML_SCALAR_NODE && cy_len(n) == digits;
    for (size_t i = 0; ok && i < digits; i++)
        ok = cy_text(n)[i] >= '0' && cy_text(n)[i] <= '9';
    if (!ok) {
        CY_ERR(y, n->start_mark, "%s must be %zu digits, got %s", path, digits,
               cy_describe(n, b, sizeof b));
        return false;
    }
    memcpy(buf, cy_text(n), digits);
    buf[digits] = '\0';
    return true;
}

/* ---- the document ---- */

/* Line and column (1-based, in characters) of a byte offset into the text. */
static void position_of(const struct cy *y, size_t offset, size_t *line, size_t *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset && i < y->len; i++) {
        if (y->text[i] == '\n') {
            ++*line;
            *column = 1;
        } else if ((y->text[i] & 0xc0) != 0x80) {
            ++*column;
        }
    }
}

/* The byte at a 0-based line and character column, or -1. */
static int byte_at(const struct cy *y, size_t line, size_t column)
{
    size_t i = 0;
    for (; i < y->len && line > 0; i++)
        if (y->text[i] == '\n')
            line--;
    for (; i < y->len && y->text[i] != '\n'; i++) {
        if ((y->text[i] & 0xc0) == 0x80)
            continue;
        if (column-- == 0)
            return y->text[i];
    }
    return -1;
}

static void syntax_error(struct cy *y, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR) {
        y->oom = true;
        return;
    }
    const char *problem = p->problem ? p->problem : "unknown problem";
    if (p->error == YAML_READER_ERROR) {
        size_t line, column;
        position_of(y, p->problem_offset, &line, &column);
        cy_error_at(y, line, column, "unreadable text (%s); the file must be UTF-8 text", problem);
        return;
    }
    const char *hint = "";
    if (byte_at(y, p->problem_mark.line, p->problem_mark.column) == '\t')
        hint = "; indent with spaces, not tabs";
    if (p->context != NULL)
        CY_ERR(y, p->problem_mark, "YAML syntax error: %s (%s at line %zu, column %zu)%s", problem,
               p->context, p->context_mark.line + 1, p->context_mark.column + 1, hint);
    else
        CY_ERR(y, p->problem_mark, "YAML syntax error: %s%s", problem, hint);
}

void cy_load(struct cy *y, void (*root)(void *arg, yaml_node_t *node), void *arg)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        y->oom = true;
        return;
    }
    yaml_parser_set_input_string(&parser, y->text, y->len);
    if (!yaml_parser_load(&parser, &doc)) {
        syntax_error(y, &parser);
        yaml_parser_delete(&parser);
        return;
    }
    y->doc = &doc;
    yaml_node_t *r = yaml_document_get_root_node(&doc);
    if (r == NULL) {
        cy_error_at(y, 1, 1, "the file has no configuration in it (it is empty or only comments)");
    } else {
        root(arg, r);
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            syntax_error(y, &parser);
        } else {
            yaml_node_t *r2 = yaml_document_get_root_node(&next);
            if (r2 != NULL)
                CY_ERR(y, r2->start_mark,
                       "a second YAML document; the configuration must be a single document");
            yaml_document_delete(&next);
        }
    }
    y->doc = NULL;
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
}
