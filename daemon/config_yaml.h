/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config_yaml.h: the YAML side of the configuration loader, private to config*.c:
 * one document read with libyaml, node and scalar access, values quoted for messages,
 * and the list of errors written as path:line:column lines. It knows no key names. */
#ifndef NTM_CONFIG_YAML_H
#define NTM_CONFIG_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#define CY_MAX_KEYS 32 /* keys one table may have (cy_fields) */

struct cy_err;

/* One reading: the text, its document and the errors found in it. */
struct cy {
    const char *name; /* the path shown in messages */
    const unsigned char *text;
    size_t len;
    yaml_document_t *doc;
    struct cy_err *errs;
    size_t n_errs, n_dropped;
    bool oom;
};

/* Prepares y for text[0..len) named `name`; false when out of memory. */
bool cy_init(struct cy *y, const char *name, const char *text, size_t len);
void cy_fini(struct cy *y);
/* Parses the text as one YAML document and calls root(arg, y, node) on its root node.
 * Syntax errors, an empty file and a second document are reported here. */
void cy_load(struct cy *y, void (*root)(void *arg, yaml_node_t *node), void *arg);

/* ---- errors ---- */
__attribute__((format(printf, 4, 5))) void cy_error_at(struct cy *y, size_t line, size_t column,
                                                       const char *fmt, ...);
#define CY_ERR(y, mark, ...) cy_error_at((y), (mark).line + 1, (mark).column + 1, __VA_ARGS__)
bool cy_failed(const struct cy *y);
/* Writes the errors in file order as "name:line:column: message" lines separated by
 * newlines, as many whole lines as fit, then how many more there were. */
void cy_write_errors(struct cy *y, char *err, size_t errlen);
/* "missing required key 'key' in where (what)", or "missing required section" at the
 * top level (where NULL), at the start of `map`. */
void cy_missing(struct cy *y, const yaml_node_t *map, const char *where, const char *key,
                const char *what);

/* ---- nodes ---- */
yaml_node_t *cy_node(struct cy *y, int id);
const char *cy_text(const yaml_node_t *n); /* a scalar's bytes (not NUL-free) */
size_t cy_len(const yaml_node_t *n);
bool cy_is_plain(const yaml_node_t *n);
bool cy_is_null(const yaml_node_t *n); /* empty plain scalar, ~ or null: a key without value */
bool cy_scalar_is(const yaml_node_t *n, const char *s);
/* s[0..len) in quotes q for a message: shortened, with quotes and control bytes escaped. */
const char *cy_quote(char *buf, size_t size, const char *s, size_t len, char q);
/* How a value appears in a message: a scalar in double quotes, else what it is. */
const char *cy_describe(const yaml_node_t *n, char *buf, size_t size);
char *cy_dup(struct cy *y, const char *s, size_t len); /* NULL (and y->oom) when out of memory */
/* "where.key", or "key" when where is NULL. */
void cy_path(char *buf, size_t size, const char *where, const char *key);

/* ---- mappings and lists ---- */
/* Matches the keys of mapping `map` (named `where`, NULL for the top level) against
 * names[0..n): vals[i] gets the value of names[i] or NULL; keys[i] (when not NULL) the
 * key node. Unknown, duplicate and non-scalar keys are reported, naming the expected
 * ones. A null value counts as an empty mapping. False when `map` is not a mapping. */
bool cy_fields(struct cy *y, yaml_node_t *map, const char *where, const char *const names[],
               size_t n, yaml_node_t *vals[]);
/* A list value: its length in *len; false (reported as "path must be a list of `of`")
 * when it is something else. A null is an empty list. */
bool cy_list(struct cy *y, const yaml_node_t *n, const char *path, const char *of, size_t *len);
yaml_node_t *cy_item(struct cy *y, const yaml_node_t *list, size_t i);

/* ---- scalars (each reports what is wrong, naming `path`) ---- */
/* A string without NUL; `allow_empty` admits "". Replaces *out (freeing it). */
bool cy_str(struct cy *y, const yaml_node_t *n, const char *path, bool allow_empty, char **out);
/* A plain decimal integer in [min, max]. */
bool cy_int(struct cy *y, const yaml_node_t *n, const char *path, long long min, long long max,
            long long *out);
/* A plain YAML boolean (true/false, yes/no, in three cases). */
bool cy_bool(struct cy *y, const yaml_node_t *n, const char *path, bool *out);
/* A scalar accepted by valid(), whose rule `rule` is named when it is not. */
bool cy_valid(struct cy *y, const yaml_node_t *n, const char *path,
              bool (*valid)(const char *, size_t), const char *rule);
/* Exactly `digits` decimal digits, quoted or not, copied as text into buf. */
bool cy_digits(struct cy *y, const yaml_node_t *n, const char *path, size_t digits, char *buf);

/* The text forms, also for values read outside YAML (defaults, plugin options). */
bool cy_int_text(const char *s, size_t len, long long *out);
bool cy_bool_text(const char *s, size_t len, bool *out);

#endif
