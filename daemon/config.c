/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config.c: loads the gateway's configuration into a struct ntm_config by the key tables
 * of config_keys.c: strict validation, defaults, the lists of mappings, and freeing.
 * It owns no global state and opens nothing but the configuration file itself. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_table.h"
#include "config_yaml.h"

#define MAX_FILE_SIZE (16u << 20) /* a configuration is a few KiB; refuse anything huge */
#define MAX_OPTIONS 256           /* options per uplink entry */

/* A valid id and where it was declared: sorted to find duplicates and look ids up. */
struct idref {
    const char *id;
    size_t idx;
    yaml_mark_t mark;
};

struct conf_ctx {
    struct cy y;
    struct ntm_config *cfg;
    struct idref *villages; /* the valid village ids, sorted */
    size_t n_village_refs;
    bool villages_complete; /* every village entry had a valid id */
};

/* ---- values, by type ---- */

static bool parse_map(struct conf_ctx *c, yaml_node_t *map, const char *where,
                      const struct conf_table *t, void *base, yaml_node_t *vals[]);

static int find_village(const struct conf_ctx *c, const char *id)
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

static void parse_village_ref(struct conf_ctx *c, const struct conf_key *k, const yaml_node_t *n,
                              const char *path, void *base)
{
    char vid[NTM_VILLAGE_ID_MAX + 1];
    if (!cy_valid(&c->y, n, path, k->valid, k->rule) || cy_len(n) >= sizeof vid)
        return;
    memcpy(vid, cy_text(n), cy_len(n));
    vid[cy_len(n)] = '\0';
    int idx = find_village(c, vid);
    if (idx >= 0) {
        conf_set_int(k, base, idx);
    } else if (c->villages_complete) {
        const struct ntm_config *cfg = c->cfg;
        char list[200];
        size_t o = 0;
        list[0] = '\0';
        for (size_t i = 0; i < cfg->n_villages && o < sizeof list; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "",
                                  i < 8 ? cfg->villages[i].id : "...");
        CY_ERR(&c->y, n->start_mark, "%s '%s' is not a declared village (declared: %s)", path, vid,
               list);
    }
}

static void parse_enum(struct conf_ctx *c, const struct conf_key *k, const yaml_node_t *n,
                       const char *path, void *base)
{
    long long v;
    if (n->type == YAML_SCALAR_NODE && conf_enum_value(k, cy_text(n), cy_len(n), &v)) {
        conf_set_int(k, base, v);
        return;
    }
    char words[256], b[256];
    size_t o = 0;
    words[0] = '\0';
    for (long long w = k->min; w <= k->max && o < sizeof words; w++)
        if (k->word(w) != NULL)
            o += (size_t)snprintf(words + o, sizeof words - o, "%s%s", o ? ", " : "", k->word(w));
    CY_ERR(&c->y, n->start_mark, "%s must be one of %s, got %s", path, words,
           cy_describe(n, b, sizeof b));
}

/* Reads value node n of key k, named path, into its field in base. */
static void parse_value(struct conf_ctx *c, const struct conf_key *k, yaml_node_t *n,
                        const char *path, void *base)
{
    long long v;
    bool b;
    switch (k->type) {
    case CONF_STRING:
    case CONF_PATH:
    case CONF_TEXT:
        if (k->valid == NULL || cy_valid(&c->y, n, path, k->valid, k->rule))
            cy_str(&c->y, n, path, k->type == CONF_TEXT, conf_field(k, base));
        break;
    case CONF_INT:
        if (cy_int(&c->y, n, path, k->min, k->max, &v))
            conf_set_int(k, base, v);
        break;
    case CONF_BOOL:
        if (cy_bool(&c->y, n, path, &b))
            conf_set_int(k, base, b);
        break;
    case CONF_ENUM:
        parse_enum(c, k, n, path, base);
        break;
    case CONF_ID:
        if (cy_valid(&c->y, n, path, k->valid, k->rule) && cy_len(n) < k->size) {
            memcpy(conf_field(k, base), cy_text(n), cy_len(n));
            ((char *)conf_field(k, base))[cy_len(n)] = '\0';
        }
        break;
    case CONF_DIGITS:
        cy_digits(&c->y, n, path, (size_t)k->min, conf_field(k, base));
        break;
    case CONF_VILLAGE:
        parse_village_ref(c, k, n, path, base);
        break;
    case CONF_MAP:
        parse_map(c, n, path, k->map, base, NULL);
        break;
    case CONF_LIST:
        k->list->parse(c, k->list, n, path, base);
        break;
    }
}

static yaml_node_t *sibling(const struct conf_table *t, yaml_node_t *const vals[], const char *name)
{
    const struct conf_key *k = conf_find(t, name);
    return k ? vals[k - t->keys] : NULL;
}

/* Reads mapping `map` named `where` (NULL: the top level) by table t into base: each key
 * given is read, each required one missing is reported, then the rules between keys
 * (`needs`, `when`, `def_from`) are applied. vals (when not NULL) gets the value nodes by
 * key index. False when `map` is not a mapping (reported). */
static bool parse_map(struct conf_ctx *c, yaml_node_t *map, const char *where,
                      const struct conf_table *t, void *base, yaml_node_t *vals[])
{
    const char *names[CY_MAX_KEYS];
    yaml_node_t *own[CY_MAX_KEYS];
    if (vals == NULL)
        vals = own;
    for (size_t i = 0; i < t->n && i < CY_MAX_KEYS; i++)
        names[i] = t->keys[i].name;
    if (!cy_fields(&c->y, map, where, names, t->n, vals))
        return false;
    for (size_t i = 0; i < t->n; i++) {
        const struct conf_key *k = &t->keys[i];
        char path[128];
        cy_path(path, sizeof path, where, k->name);
        if (vals[i] != NULL)
            parse_value(c, k, vals[i], path, base);
        else if (k->flags & CONF_REQUIRED)
            cy_missing(&c->y, map, where, k->name, k->desc);
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct conf_key *k = &t->keys[i];
        if (vals[i] != NULL && k->needs != NULL && sibling(t, vals, k->needs) == NULL)
            cy_missing(&c->y, map, where, k->needs, k->needs_why);
        if (vals[i] == NULL && k->when != NULL && sibling(t, vals, k->when) != NULL &&
            !conf_set_text(k, base, k->def_when))
            c->y.oom = true;
        if (vals[i] == NULL && k->def_from != NULL) {
            const char *from = conf_get_text(conf_find(t, k->def_from), base);
            if (from != NULL && from[0] != '\0' && !conf_set_text(k, base, from))
                c->y.oom = true;
        }
    }
    return true;
}

static void parse_root(void *arg, yaml_node_t *root)
{
    struct conf_ctx *c = arg;
    if (cy_is_null(root))
        CY_ERR(&c->y, root->start_mark,
               "the configuration is empty (expected gateway, commune, villages, ...)");
    else
        parse_map(c, root, NULL, &ntm_conf_root, c->cfg, NULL);
}

/* ---- lists of mappings ----
 * Each list has its own parse function (named in its table), in three steps: the list
 * node (cy_list) and its length checks, the entries (list_alloc, then parse_entries,
 * which reads every entry by the list's item table and reports CONF_UNIQUE values given
 * twice), then what concerns the list as a whole. */

static void *list_alloc(struct conf_ctx *c, const struct conf_list *l, void *base, size_t len)
{
    void *items = calloc(len, l->item_size);
    if (items == NULL) {
        c->y.oom = true;
        return NULL;
    }
    *(void **)((char *)base + l->items_off) = items;
    *(size_t *)((char *)base + l->count_off) = len;
    return items;
}

static int idref_cmp(const void *a, const void *b)
{
    const struct idref *x = a, *y = b;
    int r = strcmp(x->id, y->id);
    if (r != 0)
        return r;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Sorts refs and reports each value given again (at the later place). */
static void report_duplicates(struct conf_ctx *c, struct idref *refs, size_t n, const char *entry,
                              const char *key)
{
    qsort(refs, n, sizeof refs[0], idref_cmp);
    size_t first = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(refs[i].id, refs[first].id) != 0) {
            first = i;
            continue;
        }
        CY_ERR(&c->y, refs[i].mark, "duplicate %s %s '%s' (first declared at line %zu, column %zu)",
               entry, key, refs[i].id, refs[first].mark.line + 1, refs[first].mark.column + 1);
    }
}

#define MAX_UNIQUE 4 /* CONF_UNIQUE keys one entry may have */

/* Reads the `len` entries of list node n (named path) into items, each by l->item with
 * its defaults, and reports the values of CONF_UNIQUE keys given twice. Of the first
 * such key, *refs (when not NULL; to free) gets the entries whose value is valid,
 * sorted, and *n_refs their number. */
static void parse_entries(struct conf_ctx *c, const struct conf_list *l, yaml_node_t *n,
                          const char *path, char *items, size_t len, struct idref **refs,
                          size_t *n_refs)
{
    const struct conf_table *t = l->item;
    size_t uk[MAX_UNIQUE], n_uk = 0, nr[MAX_UNIQUE] = {0};
    struct idref *r[MAX_UNIQUE] = {0};
    for (size_t k = 0; k < t->n && n_uk < MAX_UNIQUE; k++)
        if (t->keys[k].flags & CONF_UNIQUE) {
            uk[n_uk] = k;
            r[n_uk] = calloc(len, sizeof r[0][0]);
            if (r[n_uk++] == NULL)
                c->y.oom = true;
        }
    for (size_t i = 0; i < len; i++) {
        char where[64];
        void *item = items + i * l->item_size;
        yaml_node_t *vals[CY_MAX_KEYS];
        snprintf(where, sizeof where, "%s[%zu]", path, i);
        if (!conf_set_defaults(t, item))
            c->y.oom = true;
        if (!parse_map(c, cy_item(&c->y, n, i), where, t, item, vals))
            continue;
        for (size_t u = 0; u < n_uk; u++) {
            const char *id = conf_get_text(&t->keys[uk[u]], item);
            if (r[u] != NULL && vals[uk[u]] != NULL && id != NULL && id[0] != '\0')
                r[u][nr[u]++] = (struct idref){id, i, vals[uk[u]]->start_mark};
        }
    }
    for (size_t u = 0; u < n_uk; u++) {
        if (r[u] != NULL)
            report_duplicates(c, r[u], nr[u], l->entry, t->keys[uk[u]].name);
        if (u == 0 && refs != NULL) {
            *refs = r[u];
            *n_refs = nr[u];
        } else {
            free(r[u]);
        }
    }
}

void ntm_conf_parse_villages(struct conf_ctx *c, const struct conf_list *l, yaml_node_t *n,
                             const char *path, void *base)
{
    size_t len;
    if (!cy_list(&c->y, n, path, l->of, &len))
        return;
    if (len == 0) {
        CY_ERR(&c->y, n->start_mark, "%s must list at least one village", path);
        return;
    }
    if (len > UINT16_MAX) {
        CY_ERR(&c->y, n->start_mark, "too many villages (%zu; at most %d)", len, UINT16_MAX);
        return;
    }
    char *items = list_alloc(c, l, base, len);
    if (items == NULL)
        return;
    parse_entries(c, l, n, path, items, len, &c->villages, &c->n_village_refs);
    /* devices name villages: a reference is checked only when every id could be read */
    c->villages_complete = c->villages != NULL && c->n_village_refs == len;
}

/* The value of key `name` in mapping m, or NULL. */
static yaml_node_t *value_of(struct conf_ctx *c, yaml_node_t *m, const char *name)
{
    if (m == NULL || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cy_node(&c->y, p->key);
        if (k != NULL && cy_scalar_is(k, name))
            return cy_node(&c->y, p->value);
    }
    return NULL;
}

static int events_port(const struct ntm_device_events *e)
{
    return e->port ? e->port : e->https ? 443 : 80;
}

static const char *events_host(const struct ntm_device_decl *d)
{
    return d->events.host ? d->events.host : d->ip;
}

static bool same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* What concerns cameras' event streams across entries: only cameras have one, it has a
 * host, and devices on one stream (same host, port and user: an NVR's channels) agree on
 * its settings and are on different channels. */
static void check_events(struct conf_ctx *c, yaml_node_t *n, const struct ntm_device_decl *d,
                         size_t len, const char *path)
{
    for (size_t i = 0; i < len; i++) {
        const struct ntm_device_events *e = &d[i].events;
        if (e->api == NTM_EVENTS_NONE || e->user == NULL || e->password_file == NULL)
            continue;
        yaml_node_t *item = cy_item(&c->y, n, i), *ev = value_of(c, item, "events");
        yaml_mark_t at = ev ? ev->start_mark : item->start_mark;
        if (d[i].kind != NTM_KIND_CAMERA) {
            CY_ERR(&c->y, at, "%s[%zu].events: only cameras (kind: camera) have an event stream",
                   path, i);
            continue;
        }
        if (e->ca_file != NULL && !e->https) {
            CY_ERR(&c->y, at,
                   "%s[%zu].events: ca_file is only used with https: true (add it, or remove "
                   "ca_file)",
                   path, i);
            continue;
        }
        const char *host = events_host(&d[i]);
        if (host == NULL) {
            CY_ERR(&c->y, at,
                   "%s[%zu].events needs the camera's address: set events.host, or ip on the "
                   "device",
                   path, i);
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            const struct ntm_device_events *o = &d[j].events;
            if (o->api == NTM_EVENTS_NONE || o->user == NULL || o->password_file == NULL ||
                d[j].kind != NTM_KIND_CAMERA || events_host(&d[j]) == NULL ||
                strcmp(events_host(&d[j]), host) != 0 || events_port(o) != events_port(e) ||
                strcmp(o->user, e->user) != 0)
                continue;
            if (o->api != e->api || o->https != e->https || !same_text(o->ca_file, e->ca_file) ||
                strcmp(o->password_file, e->password_file) != 0 || o->keepalive_s != e->keepalive_s)
                CY_ERR(&c->y, at,
                       "%s[%zu].events: %s and %s share one event stream (same host, port and "
                       "user) but not its api, https, ca_file, password_file or keepalive_s",
                       path, i, d[j].id, d[i].id);
            else if (o->channel == e->channel)
                CY_ERR(&c->y, at, "%s[%zu].events: %s and %s are both on channel %d of %s", path, i,
                       d[j].id, d[i].id, (int)e->channel, host);
            else
                continue;
            break;
        }
    }
}

void ntm_conf_parse_devices(struct conf_ctx *c, const struct conf_list *l, yaml_node_t *n,
                            const char *path, void *base)
{
    size_t len;
    if (!cy_list(&c->y, n, path, l->of, &len) || len == 0)
        return;
    char *items = list_alloc(c, l, base, len);
    if (items == NULL)
        return;
    parse_entries(c, l, n, path, items, len, NULL, NULL);
    check_events(c, n, (const struct ntm_device_decl *)items, len, path);
}

/* An uplink entry: `plugin` by the table, every other key kept as an option, with its
 * position, for the plugin host to check. */
static void parse_uplink(struct conf_ctx *c, const struct conf_list *l, yaml_node_t *e,
                         const char *where, struct ntm_uplink_conf *u)
{
    char b[256], path[128];
    u->line = (int)e->start_mark.line + 1;
    u->column = (int)e->start_mark.column + 1;
    if (e->type != YAML_MAPPING_NODE) {
        CY_ERR(&c->y, e->start_mark, "%s must be a mapping with a 'plugin' key, got %s", where,
               cy_describe(e, b, sizeof b));
        return;
    }
    size_t pairs = (size_t)(e->data.mapping.pairs.top - e->data.mapping.pairs.start);
    if (pairs > MAX_OPTIONS + 1) {
        CY_ERR(&c->y, e->start_mark, "%s has too many options (%zu; at most %d)", where, pairs - 1,
               MAX_OPTIONS);
        return;
    }
    u->options = calloc(pairs ? pairs : 1, sizeof u->options[0]);
    if (u->options == NULL) {
        c->y.oom = true;
        return;
    }
    const struct conf_key *plugin_key = conf_find(l->item, "plugin");
    const yaml_node_t *plugin = NULL;
    for (yaml_node_pair_t *p = e->data.mapping.pairs.start; p < e->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cy_node(&c->y, p->key), *v = cy_node(&c->y, p->value);
        if (k == NULL || v == NULL)
            continue;
        if (k->type != YAML_SCALAR_NODE || cy_is_null(k) ||
            memchr(cy_text(k), '\0', cy_len(k)) != NULL) {
            CY_ERR(&c->y, k->start_mark, "keys in %s must be names, got %s", where,
                   cy_describe(k, b, sizeof b));
            continue;
        }
        const yaml_node_t *first = NULL; /* the same key earlier in this entry */
        for (yaml_node_pair_t *q = e->data.mapping.pairs.start; q < p && first == NULL; q++) {
            yaml_node_t *qk = cy_node(&c->y, q->key);
            if (qk != NULL && qk->type == YAML_SCALAR_NODE && cy_len(qk) == cy_len(k) &&
                memcmp(cy_text(qk), cy_text(k), cy_len(k)) == 0)
                first = qk;
        }
        if (first != NULL) {
            CY_ERR(&c->y, k->start_mark, "duplicate key %s in %s (first at line %zu, column %zu)",
                   cy_quote(b, sizeof b, cy_text(k), cy_len(k), '\''), where,
                   first->start_mark.line + 1, first->start_mark.column + 1);
            continue;
        }
        if (cy_scalar_is(k, plugin_key->name)) {
            plugin = v;
            cy_path(path, sizeof path, where, plugin_key->name);
            parse_value(c, plugin_key, v, path, u);
            continue;
        }
        bool plain_key = true;
        for (size_t i = 0; i < cy_len(k); i++)
            plain_key = plain_key && (unsigned char)cy_text(k)[i] >= 0x20;
        cy_path(path, sizeof path, where,
                plain_key ? cy_text(k) : cy_quote(b, sizeof b, cy_text(k), cy_len(k), '\''));
        if (v->type != YAML_SCALAR_NODE) {
            CY_ERR(&c->y, v->start_mark, "%s must be a single value, got %s", path,
                   cy_describe(v, b, sizeof b));
            continue;
        }
        if (memchr(cy_text(v), '\0', cy_len(v)) != NULL) {
            CY_ERR(&c->y, v->start_mark, "%s must not contain a NUL character", path);
            continue;
        }
        struct ntm_conf_option *o = &u->options[u->n_options];
        o->key = cy_dup(&c->y, cy_text(k), cy_len(k));
        o->value = cy_dup(&c->y, cy_is_null(v) ? "" : cy_text(v), cy_is_null(v) ? 0 : cy_len(v));
        o->line = (int)v->start_mark.line + 1;
        o->column = (int)v->start_mark.column + 1;
        o->quoted = !cy_is_plain(v);
        if (o->key == NULL || o->value == NULL) {
            free(o->key);
            free(o->value);
            o->key = o->value = NULL;
            continue;
        }
        u->n_options++;
    }
    if (plugin == NULL)
        cy_missing(&c->y, e, where, plugin_key->name, plugin_key->desc);
}

void ntm_conf_parse_uplinks(struct conf_ctx *c, const struct conf_list *l, yaml_node_t *n,
                            const char *path, void *base)
{
    size_t len;
    if (!cy_list(&c->y, n, path, l->of, &len) || len == 0)
        return;
    struct ntm_uplink_conf *u = list_alloc(c, l, base, len);
    for (size_t i = 0; u != NULL && i < len; i++) {
        char where[64];
        snprintf(where, sizeof where, "%s[%zu]", path, i);
        parse_uplink(c, l, cy_item(&c->y, n, i), where, &u[i]);
    }
}

void ntm_conf_parse_mappings(struct conf_ctx *c, const struct conf_list *l, yaml_node_t *n,
                             const char *path, void *base)
{
    struct ntm_config *cfg = base;
    (void)l;
    ntm_conf_mappings(&c->y, n, path, cfg->mapping_dir, &cfg->mappings, &cfg->n_mappings);
}

bool ntm_conf_same_uplink_options(const void *a, const void *b)
{
    const struct ntm_uplink_conf *x = a, *y = b;
    if (x->n_options != y->n_options)
        return false;
    for (size_t i = 0; i < x->n_options; i++)
        if (strcmp(x->options[i].key, y->options[i].key) != 0 ||
            strcmp(x->options[i].value, y->options[i].value) != 0)
            return false;
    return true;
}

void ntm_conf_free_uplink_options(void *entry)
{
    struct ntm_uplink_conf *u = entry;
    for (size_t k = 0; u->options != NULL && k < u->n_options; k++) {
        free(u->options[k].key);
        free(u->options[k].value);
    }
    free(u->options);
    u->options = NULL;
    u->n_options = 0;
}

/* ---- public ---- */

struct ntm_config *ntm_config_parse(const char *name, const char *text, size_t len, char *err,
                                    size_t errlen)
{
    struct conf_ctx c = {0};
    const char *shown = name ? name : "(config)";
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    bool ok = cy_init(&c.y, shown, text, len);
    c.cfg = calloc(1, sizeof *c.cfg);
    if (ok && c.cfg != NULL)
        c.cfg->path = strdup(shown);
    if (!ok || c.cfg == NULL || c.cfg->path == NULL || !conf_set_defaults(&ntm_conf_root, c.cfg))
        c.y.oom = true;
    else
        cy_load(&c.y, parse_root, &c);
    free(c.villages);
    if (cy_failed(&c.y)) {
        cy_write_errors(&c.y, err, errlen);
        ntm_config_free(c.cfg);
        c.cfg = NULL;
    }
    cy_fini(&c.y);
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
    conf_free_fields(&ntm_conf_root, cfg);
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
    return cy_bool_text(o->value, strlen(o->value), out);
}

bool ntm_conf_option_int(const struct ntm_conf_option *o, long long min, long long max,
                         long long *out)
{
    long long v;
    if (o == NULL || o->quoted || !cy_int_text(o->value, strlen(o->value), &v) || v < min ||
        v > max)
        return false;
    *out = v;
    return true;
}
