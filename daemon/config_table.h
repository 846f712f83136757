/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config_table.h: how a configuration key is described (private to config*.c and the
 * unit tests): its type, its field, its range, its default, whether a reload applies it
 * live, and one line for people. config_keys.c holds the tables, config_table.c reads
 * and writes fields by them; config.c parses by them, config_diff.c compares and
 * applies them, config_doc.c prints them. */
#ifndef NTM_CONFIG_TABLE_H
#define NTM_CONFIG_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "config.h"

enum conf_type {
    CONF_STRING,  /* char *, not empty; `valid`, when set, is its syntax */
    CONF_PATH,    /* char *, a file or directory name, not empty */
    CONF_TEXT,    /* char *, any text, empty too */
    CONF_INT,     /* an integer in [min, max], in a field of `size` bytes */
    CONF_BOOL,    /* bool */
    CONF_ENUM,    /* one of the words word(v) for v in [min, max], stored as v */
    CONF_ID,      /* char[size], checked by `valid`, whose rule is `rule` */
    CONF_DIGITS,  /* char[size], exactly `min` decimal digits, quoted or not */
    CONF_VILLAGE, /* the id of a village declared in `villages`, stored as its index */
    CONF_MAP,     /* a mapping of the keys `map`, stored in the same struct */
    CONF_LIST,    /* a list of mappings, `list` */
};

#define CONF_REQUIRED 1u /* absent is an error */
#define CONF_LIVE 2u     /* a reload (SIGHUP) applies a change at once; else it needs a restart */
#define CONF_UNIQUE 4u   /* a list entry's key no two entries may share (ids) */

struct conf_table;
struct conf_list;

struct conf_key {
    const char *name;
    enum conf_type type;
    size_t offset, size; /* the field: in struct ntm_config, or in the list's entry */
    unsigned flags;
    long long min, max; /* CONF_INT: the range; CONF_ENUM: the values; CONF_DIGITS: min */
    const char *(*word)(long long v);         /* CONF_ENUM: the word for v, NULL for none */
    bool (*valid)(const char *s, size_t len); /* CONF_ID, CONF_STRING: the syntax */
    const char *rule;                         /* `valid` in words: "1 to 64 characters..." */
    const char *def;      /* the default, as it would be written in YAML; NULL: none */
    const char *def_doc;  /* the default as people read it, when `def` depends on the build */
    const char *def_from; /* a sibling whose value is the default (villages[].name: the id) */
    const char *when;     /* a sibling that, when given, makes `def_when` the default */
    const char *def_when;
    const char *needs;            /* a sibling this key cannot go without ... */
    const char *needs_why;        /* ... and why, for the message */
    const struct conf_table *map; /* CONF_MAP */
    const struct conf_list *list; /* CONF_LIST */
    const char *desc;             /* one line for people: the README and "missing" messages */
};

struct conf_table {
    const struct conf_key *keys;
    size_t n; /* at most CY_MAX_KEYS */
};

struct conf_ctx; /* a parse under way (config.c) */

/* A list of mappings: where it is stored, the keys of one entry, and its own parse
 * function (which reads each entry with conf_parse_entry, then checks what concerns
 * the list as a whole: duplicate ids, references). */
struct conf_list {
    size_t items_off, count_off, item_size; /* the array (a pointer) and its length (size_t) */
    const char *of;                         /* "villages": "... must be a list of villages" */
    const char *entry;                      /* "village": "duplicate village id ..." */
    const struct conf_table *item;          /* the keys of one entry */
    const char *other_keys; /* entries may have keys not in `item`: what they are, or NULL */
    /* reads list node n, named path, into the list's fields in base */
    void (*parse)(struct conf_ctx *c, const struct conf_list *l, yaml_node_t *n, const char *path,
                  void *base);
    /* what `item` does not describe (NULL: nothing): compared, freed */
    bool (*same_other)(const void *a, const void *b);
    void (*free_other)(void *entry);
};

/* The top level: every section, in the order the file documents them. */
extern const struct conf_table ntm_conf_root;

/* config.c: the list parse functions the tables name. */
void ntm_conf_parse_villages(struct conf_ctx *c, const struct conf_list *l, yaml_node_t *n,
                             const char *path, void *base);
void ntm_conf_parse_devices(struct conf_ctx *c, const struct conf_list *l, yaml_node_t *n,
                            const char *path, void *base);
void ntm_conf_parse_uplinks(struct conf_ctx *c, const struct conf_list *l, yaml_node_t *n,
                            const char *path, void *base);
bool ntm_conf_same_uplink_options(const void *a, const void *b);
void ntm_conf_parse_mappings(struct conf_ctx *c, const struct conf_list *l, yaml_node_t *n,
                             const char *path, void *base);
/* config_mappings.c: `mappings:` with its includes from mapping_dir */
struct cy;
void ntm_conf_mappings(struct cy *y, yaml_node_t *n, const char *path, const char *mapping_dir,
                       struct ntm_mapping **out, size_t *n_out);
bool ntm_conf_same_mapping(const void *a, const void *b);
void ntm_conf_free_mapping(void *entry);
void ntm_conf_free_uplink_options(void *entry);

/* The field of key k in the struct at base. */
static inline void *conf_field(const struct conf_key *k, const void *base)
{
    return (char *)base + k->offset;
}
/* An integer field (CONF_INT, CONF_ENUM, CONF_BOOL, CONF_VILLAGE) of any size. */
long long conf_get_int(const struct conf_key *k, const void *base);
void conf_set_int(const struct conf_key *k, void *base, long long v);
/* The value of a text field (CONF_STRING, _PATH, _TEXT, _ID, _DIGITS), or NULL. */
const char *conf_get_text(const struct conf_key *k, const void *base);
/* The value v in [k->min, k->max] whose word is s[0..len) (CONF_ENUM). */
bool conf_enum_value(const struct conf_key *k, const char *s, size_t len, long long *out);
/* The key named `name` in t, or NULL. */
const struct conf_key *conf_find(const struct conf_table *t, const char *name);
/* Stores the text form of a value (a default) into the field; false when it is not
 * one the key accepts (a mistake in the table, which the unit tests look for). */
bool conf_set_text(const struct conf_key *k, void *base, const char *text);
/* Sets every default of table t into base (lists stay empty); false when out of memory
 * or a default is not valid. */
bool conf_set_defaults(const struct conf_table *t, void *base);
/* Frees what the table's fields own in base (and the lists' entries). */
void conf_free_fields(const struct conf_table *t, void *base);
/* ntm_config_diff (apply false: returns the number of changes) and
 * ntm_config_apply_live (apply true: returns 1 when out of memory, else 0) for the
 * struct that table `root` describes. */
size_t conf_diff(const struct conf_table *root, void *cur, const void *next,
                 struct ntm_config_change *out, size_t max, bool apply);

/* Field declarations for the tables: F(mqtt.port) in struct ntm_config, E(type, id)
 * in a list entry struct. */
#define CONF_F(member)                                                                             \
    .offset = offsetof(struct ntm_config, member), .size = sizeof(((struct ntm_config *)0)->member)
#define CONF_E(type, member) .offset = offsetof(type, member), .size = sizeof(((type *)0)->member)
#define CONF_TABLE(keys)                                                                           \
    {                                                                                              \
        (keys), sizeof(keys) / sizeof((keys)[0])                                                   \
    }

#endif
