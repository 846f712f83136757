/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config_mappings.c: reads `mappings:` (MQTT mappings, sources/mapping.h) with
 * strict file:line:column errors, and expands `include: NAME` from the shipped
 * profiles (mapping_dir/NAME.yaml, whose own errors name that file). It only
 * reads: subscribing and evaluating are the daemon's (sources/mappings.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_table.h"
#include "config_yaml.h"
#include "sources/mapping.h"

#define MAX_MAPPINGS 1024
#define MAX_PROFILE_SIZE (1u << 20)

/* The device contract's fields of each channel (devices.md). */
static const char *const channel_fields[NTM_CH_COUNT][10] = {
    [NTM_CH_STATE] = {"ts", "online"},
    [NTM_CH_HEARTBEAT] = {"ts", "interval_s", "uptime_s"},
    [NTM_CH_EVENT] = {"ts", "type", "start", "duration_s", "result", "priority", "source",
                      "program", "fault"},
    [NTM_CH_STATS] = {"ts", "recording", "storage_free_pct", "clients", "new_sessions", "rx_bytes",
                      "tx_bytes", "client_macs"},
};

struct mlist {
    struct ntm_mapping *m;
    size_t n, cap;
    const char *mapping_dir;
    bool in_profile;
};

static char *text_of(struct cy *y, const yaml_node_t *n)
{
    return cy_dup(y, cy_text(n), cy_len(n));
}

/* A scalar without NUL, or an error naming path. */
static bool scalar(struct cy *y, const yaml_node_t *n, const char *path)
{
    char b[256];
    if (n->type != YAML_SCALAR_NODE || cy_is_null(n)) {
        CY_ERR(y, n->start_mark, "%s must be a single value, got %s", path,
               cy_describe(n, b, sizeof b));
        return false;
    }
    if (memchr(cy_text(n), '\0', cy_len(n))) {
        CY_ERR(y, n->start_mark, "%s must not contain a NUL character", path);
        return false;
    }
    return true;
}

static bool path_of(struct cy *y, const yaml_node_t *n, const char *where, char **text,
                    struct ntm_map_path *p)
{
    char why[160];
    if (!scalar(y, n, where))
        return false;
    if (ntm_map_path_parse(cy_text(n), cy_len(n), p, why, sizeof why) != 0) {
        CY_ERR(y, n->start_mark,
               "%s: bad JSON path: %s (a path is dotted keys with [n] for "
               "array elements, e.g. after.camera or clients[0].mac)",
               where, why);
        return false;
    }
    *text = text_of(y, n);
    return *text != NULL;
}

static void parse_map_pairs(struct cy *y, yaml_node_t *n, const char *where,
                            struct ntm_map_value *v)
{
    char b[256];
    if (n->type != YAML_MAPPING_NODE) {
        CY_ERR(y, n->start_mark, "%s must be a mapping of text: value, got %s", where,
               cy_describe(n, b, sizeof b));
        return;
    }
    size_t pairs = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    v->map = calloc(pairs ? pairs : 1, sizeof *v->map);
    if (!v->map) {
        y->oom = true;
        return;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cy_node(y, p->key), *val = cy_node(y, p->value);
        if (!k || !val || !scalar(y, k, where) || !scalar(y, val, where))
            continue;
        for (size_t i = 0; i < v->n_map; i++)
            if (strlen(v->map[i].key) == cy_len(k) &&
                memcmp(v->map[i].key, cy_text(k), cy_len(k)) == 0)
                CY_ERR(y, k->start_mark, "%s lists %s twice", where,
                       cy_quote(b, sizeof b, cy_text(k), cy_len(k), '\''));
        struct ntm_map_pair *e = &v->map[v->n_map++];
        e->key = text_of(y, k);
        e->val.text = text_of(y, val);
        e->val.quoted = !cy_is_plain(val);
    }
}

/* {value: V} | {from: payload|PATH, map: {...}, scale: N}; for the device
 * (is_device) {from: PATH, map} or {map} alone. */
static void parse_value_spec(struct cy *y, yaml_node_t *n, const char *where, bool is_device,
                             struct ntm_map_value *v)
{
    static const char *const names[] = {"value", "from", "map", "scale"};
    yaml_node_t *vals[4];
    if (!cy_fields(y, n, where, names, 4, vals))
        return;
    char path[160];
    v->from = NTM_MAP_TOPIC;
    if (vals[0] && (vals[1] || vals[2] || vals[3] || is_device)) {
        CY_ERR(y, vals[0]->start_mark,
               "%s: `value` is a constant and goes alone (not with from, map or scale)", where);
        return;
    }
    if (vals[0]) {
        cy_path(path, sizeof path, where, "value");
        if (scalar(y, vals[0], path)) {
            v->from = NTM_MAP_CONST;
            v->constant.text = text_of(y, vals[0]);
            v->constant.quoted = !cy_is_plain(vals[0]);
        }
        return;
    }
    if (vals[1]) {
        cy_path(path, sizeof path, where, "from");
        if (!is_device && cy_scalar_is(vals[1], "payload") && cy_is_plain(vals[1]))
            v->from = NTM_MAP_PAYLOAD;
        else if (path_of(y, vals[1], path, &v->path_text, &v->path))
            v->from = NTM_MAP_PATH;
    } else if (!is_device) {
        cy_missing(y, n, where, "value' or 'from", "a constant, the payload or a JSON path");
    } else if (!vals[2]) {
        cy_missing(y, n, where, "from' or 'map", "where the device id comes from");
    }
    if (vals[2]) {
        cy_path(path, sizeof path, where, "map");
        parse_map_pairs(y, vals[2], path, v);
    }
    if (vals[3]) {
        cy_path(path, sizeof path, where, "scale");
        char *end = NULL, buf[64];
        if (scalar(y, vals[3], path) && cy_is_plain(vals[3]) && cy_len(vals[3]) < sizeof buf) {
            snprintf(buf, sizeof buf, "%.*s", (int)cy_len(vals[3]), cy_text(vals[3]));
            v->scale = strtod(buf, &end);
        }
        if (!end || end == buf || *end != '\0' || !isfinite(v->scale) || is_device)
            CY_ERR(y, vals[3]->start_mark, "%s must be a number%s", path,
                   is_device ? " (and the device has none)" : "");
        else
            v->has_scale = true;
    }
}

static bool level_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '+' || s[i] == '#' || s[i] == '{' || s[i] == '}')
            return false;
    return true;
}

/* The topic filter: its levels, and the filter subscribed. */
static void parse_topic(struct cy *y, yaml_node_t *n, const char *where, struct ntm_mapping *m,
                        bool *has_device, bool *has_village)
{
    if (!scalar(y, n, where))
        return;
    m->topic = text_of(y, n);
    if (!m->topic)
        return;
    if (strncmp(m->topic, "ntm/", 4) == 0) {
        CY_ERR(y, n->start_mark,
               "%s: topics under ntm/ are the device contract's own; a mapping "
               "is for other topics",
               where);
        return;
    }
    m->levels = calloc(NTM_MAP_LEVELS_MAX, sizeof *m->levels);
    m->filter = calloc(1, strlen(m->topic) + 1);
    if (!m->levels || !m->filter) {
        y->oom = true;
        return;
    }
    const char *p = m->topic;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (m->n_levels == NTM_MAP_LEVELS_MAX) {
            CY_ERR(y, n->start_mark, "%s has more than %d levels", where, NTM_MAP_LEVELS_MAX);
            return;
        }
        char *lv = strndup(p, len);
        if (!lv) {
            y->oom = true;
            return;
        }
        m->levels[m->n_levels++] = lv;
        bool dev = strcmp(lv, "{device}") == 0, vil = strcmp(lv, "{village}") == 0;
        bool wild = strcmp(lv, "+") == 0 || strcmp(lv, "#") == 0;
        if (strcmp(lv, "#") == 0 && slash)
            CY_ERR(y, n->start_mark, "%s: '#' may only be the last level", where);
        else if ((dev && *has_device) || (vil && *has_village))
            CY_ERR(y, n->start_mark, "%s names %s twice", where, lv);
        else if (!dev && !vil && !wild && !level_ok(lv, len))
            CY_ERR(y, n->start_mark,
                   "%s: level '%s' mixes text with + # { }: a level is text, +, #, {device} or "
                   "{village}",
                   where, lv);
        *has_device = *has_device || dev;
        *has_village = *has_village || vil;
        strcat(m->filter, dev || vil ? "+" : lv);
        if (!slash)
            break;
        strcat(m->filter, "/");
        p = slash + 1;
    }
}

static const char *const entry_keys[] = {"name",   "topic", "channel", "kind",
                                         "device", "when",  "fields",  "include"};
enum { K_NAME, K_TOPIC, K_CHANNEL, K_KIND, K_DEVICE, K_WHEN, K_FIELDS, K_INCLUDE, K_COUNT };

static void parse_fields(struct cy *y, yaml_node_t *n, const char *where, struct ntm_mapping *m)
{
    char b[256];
    if (n->type != YAML_MAPPING_NODE) {
        CY_ERR(y, n->start_mark, "%s must be a mapping of field: {value|from...}, got %s", where,
               cy_describe(n, b, sizeof b));
        return;
    }
    size_t pairs = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    m->fields = calloc(pairs ? pairs : 1, sizeof *m->fields);
    if (!m->fields) {
        y->oom = true;
        return;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cy_node(y, p->key), *v = cy_node(y, p->value);
        if (!k || !v || !scalar(y, k, where))
            continue;
        char *name = text_of(y, k);
        if (!name)
            continue;
        bool known = false;
        char list[200] = "";
        size_t o = 0;
        if (m->channel >= 0 && m->channel < NTM_CH_COUNT)
            for (size_t i = 0; i < 10 && channel_fields[m->channel][i]; i++) {
                known = known || strcmp(name, channel_fields[m->channel][i]) == 0;
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "",
                                      channel_fields[m->channel][i]);
            }
        for (size_t i = 0; i < m->n_fields; i++)
            if (strcmp(m->fields[i].name, name) == 0) {
                CY_ERR(y, k->start_mark, "%s lists field '%s' twice", where, name);
                known = false;
                list[0] = '\0';
            }
        if (!known) {
            if (list[0])
                CY_ERR(y, k->start_mark, "%s: %s is not a field of the %s channel (%s)", where,
                       cy_quote(b, sizeof b, name, strlen(name), '\''),
                       ntm_channel_name((enum ntm_channel)m->channel), list);
            free(name);
            continue;
        }
        struct ntm_map_field *f = &m->fields[m->n_fields++];
        f->name = name;
        m->has_ts = m->has_ts || strcmp(name, "ts") == 0;
        char path[160];
        cy_path(path, sizeof path, where, name);
        parse_value_spec(y, v, path, false, &f->v);
    }
}

static void parse_when(struct cy *y, yaml_node_t *n, const char *where, struct ntm_mapping *m)
{
    char b[256];
    if (n->type != YAML_MAPPING_NODE) {
        CY_ERR(y, n->start_mark, "%s must be a mapping of PATH: value, got %s", where,
               cy_describe(n, b, sizeof b));
        return;
    }
    size_t pairs = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    m->when = calloc(pairs ? pairs : 1, sizeof *m->when);
    if (!m->when) {
        y->oom = true;
        return;
    }
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = cy_node(y, p->key), *v = cy_node(y, p->value);
        struct ntm_map_when *w = &m->when[m->n_when];
        if (!k || !v || !path_of(y, k, where, &w->path_text, &w->path))
            continue;
        m->n_when++;
        if (scalar(y, v, where))
            w->value = text_of(y, v);
    }
}

static void parse_one(struct cy *y, yaml_node_t *e, const char *where, yaml_node_t *vals[],
                      struct ntm_mapping *m)
{
    char path[128];
    m->kind = -1;
    m->channel = -1;
    m->line = (int)e->start_mark.line + 1;
    m->column = (int)e->start_mark.column + 1;
    if (!vals[K_NAME])
        cy_missing(y, e, where, "name", "unique; it names the mapping in logs and rejections");
    else if (scalar(y, vals[K_NAME], where) &&
             !ntm_valid_device_id(cy_text(vals[K_NAME]), cy_len(vals[K_NAME])))
        CY_ERR(y, vals[K_NAME]->start_mark,
               "%s.name must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'", where);
    else
        m->name = text_of(y, vals[K_NAME]);
    bool has_dev = false, has_vil = false;
    cy_path(path, sizeof path, where, "topic");
    if (!vals[K_TOPIC])
        cy_missing(y, e, where, "topic", "the MQTT topic filter the device publishes on");
    else
        parse_topic(y, vals[K_TOPIC], path, m, &has_dev, &has_vil);
    cy_path(path, sizeof path, where, "channel");
    if (!vals[K_CHANNEL]) {
        cy_missing(y, e, where, "channel", "state, heartbeat, event or stats");
    } else if (scalar(y, vals[K_CHANNEL], path)) {
        for (int c = 0; c < NTM_CH_COUNT; c++)
            if (cy_scalar_is(vals[K_CHANNEL], ntm_channel_name((enum ntm_channel)c)))
                m->channel = c;
        if (m->channel < 0)
            CY_ERR(y, vals[K_CHANNEL]->start_mark,
                   "%s must be one of state, heartbeat, event, stats", path);
    }
    cy_path(path, sizeof path, where, "kind");
    if (vals[K_KIND] && scalar(y, vals[K_KIND], path)) {
        char k[16];
        snprintf(k, sizeof k, "%.*s", (int)cy_len(vals[K_KIND]), cy_text(vals[K_KIND]));
        m->kind = ntm_kind_parse(k);
        if (m->kind < 0)
            CY_ERR(y, vals[K_KIND]->start_mark, "%s must be one of speaker, camera, wifi", path);
        else if (!has_vil)
            CY_ERR(y, vals[K_KIND]->start_mark,
                   "%s is for devices not in the inventory: then the topic must name "
                   "{village} too",
                   path);
    }
    cy_path(path, sizeof path, where, "device");
    if (vals[K_DEVICE])
        parse_value_spec(y, vals[K_DEVICE], path, true, &m->device);
    if (m->device.from == NTM_MAP_PATH && has_dev)
        CY_ERR(y, vals[K_DEVICE]->start_mark,
               "%s: the topic names {device} already; `from` is for topics that do not", path);
    else if (m->device.from != NTM_MAP_PATH && !has_dev && vals[K_TOPIC])
        CY_ERR(y, vals[K_DEVICE] ? vals[K_DEVICE]->start_mark : vals[K_TOPIC]->start_mark,
               "%s: the device is named neither by {device} in the topic nor by device: "
               "{from: PATH}",
               where);
    cy_path(path, sizeof path, where, "when");
    if (vals[K_WHEN])
        parse_when(y, vals[K_WHEN], path, m);
    cy_path(path, sizeof path, where, "fields");
    if (vals[K_FIELDS])
        parse_fields(y, vals[K_FIELDS], path, m);
}

static void load_profile(struct cy *y, struct mlist *l, yaml_node_t *name_node, const char *where);

static void parse_entry(struct cy *y, struct mlist *l, yaml_node_t *e, const char *where)
{
    yaml_node_t *vals[K_COUNT];
    char b[256];
    if (e->type != YAML_MAPPING_NODE) {
        CY_ERR(y, e->start_mark, "%s must be a mapping (a mapping, or {include: NAME}), got %s",
               where, cy_describe(e, b, sizeof b));
        return;
    }
    if (!cy_fields(y, e, where, entry_keys, K_COUNT, vals))
        return;
    if (vals[K_INCLUDE]) {
        for (int k = 0; k < K_INCLUDE; k++)
            if (vals[k]) {
                CY_ERR(y, vals[k]->start_mark, "%s: `include` goes alone in its entry", where);
                return;
            }
        if (l->in_profile)
            CY_ERR(y, vals[K_INCLUDE]->start_mark, "%s: a profile cannot include another", where);
        else
            load_profile(y, l, vals[K_INCLUDE], where);
        return;
    }
    if (l->n == l->cap) {
        CY_ERR(y, e->start_mark, "more than %d mappings", MAX_MAPPINGS);
        return;
    }
    struct ntm_mapping *m = &l->m[l->n++];
    parse_one(y, e, where, vals, m);
    char origin[300];
    snprintf(origin, sizeof origin, "%s:%d:%d", y->name, m->line, m->column);
    m->origin = strdup(origin);
    size_t span =
        e->end_mark.index > e->start_mark.index ? e->end_mark.index - e->start_mark.index : 0;
    if (e->start_mark.index + span > y->len)
        span = 0;
    m->sig = malloc(strlen(y->name) + span + 2);
    if (!m->origin || !m->sig) {
        y->oom = true;
        return;
    }
    sprintf(m->sig, "%s\n", y->name);
    memcpy(m->sig + strlen(y->name) + 1, y->text + e->start_mark.index, span);
    m->sig[strlen(y->name) + 1 + span] = '\0';
}

static void parse_list(struct cy *y, struct mlist *l, yaml_node_t *n, const char *path)
{
    size_t len;
    if (!cy_list(y, n, path, "mappings (or {include: NAME})", &len))
        return;
    for (size_t i = 0; i < len; i++) {
        char where[64];
        snprintf(where, sizeof where, "%s[%zu]", path, i);
        parse_entry(y, l, cy_item(y, n, i), where);
    }
}

struct profile_ctx {
    struct cy *y;
    struct mlist *l;
};

static void profile_root(void *arg, yaml_node_t *root)
{
    struct profile_ctx *p = arg;
    static const char *const names[] = {"mappings"};
    yaml_node_t *vals[1];
    if (!cy_fields(p->y, root, NULL, names, 1, vals))
        return;
    if (!vals[0])
        cy_missing(p->y, root, NULL, "mappings", "the profile's list of mappings");
    else
        parse_list(p->y, p->l, vals[0], "mappings");
}

static void load_profile(struct cy *y, struct mlist *l, yaml_node_t *name_node, const char *where)
{
    char path[512];
    if (!scalar(y, name_node, where))
        return;
    const char *s = cy_text(name_node);
    size_t n = cy_len(name_node);
    bool ok = n > 0 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
             s[i] == '_';
    if (!ok) {
        CY_ERR(y, name_node->start_mark,
               "%s.include must name a profile (a-z, 0-9, '-', '_'), e.g. frigate", where);
        return;
    }
    snprintf(path, sizeof path, "%s/%.*s.yaml", l->mapping_dir ? l->mapping_dir : ".", (int)n, s);
    FILE *f = fopen(path, "rb");
    if (!f) {
        CY_ERR(y, name_node->start_mark, "%s.include: profile '%.*s' cannot be read: %s: %s", where,
               (int)n, s, path, strerror(errno));
        return;
    }
    char *buf = malloc(MAX_PROFILE_SIZE);
    size_t len = buf ? fread(buf, 1, MAX_PROFILE_SIZE, f) : 0;
    fclose(f);
    if (!buf) {
        y->oom = true;
        return;
    }
    struct cy py;
    struct mlist pl = {
        .m = l->m + l->n, .cap = l->cap - l->n, .mapping_dir = l->mapping_dir, .in_profile = true};
    if (!cy_init(&py, path, buf, len)) {
        free(buf);
        y->oom = true;
        return;
    }
    struct profile_ctx pc = {&py, &pl};
    cy_load(&py, profile_root, &pc);
    l->n += pl.n;
    if (cy_failed(&py)) {
        char err[2048];
        cy_write_errors(&py, err, sizeof err);
        for (char *p = err; *p; p++)
            if (*p == '\n')
                *p = ';';
        CY_ERR(y, name_node->start_mark, "%s.include: profile '%.*s' has errors: %s", where, (int)n,
               s, err);
    }
    y->oom = y->oom || py.oom;
    cy_fini(&py);
    free(buf);
}

void ntm_conf_mappings(struct cy *y, yaml_node_t *n, const char *path, const char *mapping_dir,
                       struct ntm_mapping **out, size_t *n_out)
{
    struct mlist l = {.mapping_dir = mapping_dir, .cap = MAX_MAPPINGS};
    l.m = calloc(MAX_MAPPINGS, sizeof *l.m);
    if (!l.m) {
        y->oom = true;
        return;
    }
    parse_list(y, &l, n, path);
    /* names are unique, across the profiles too */
    for (size_t i = 0; i < l.n; i++)
        for (size_t j = 0; j < i; j++)
            if (l.m[i].name && l.m[j].name && strcmp(l.m[i].name, l.m[j].name) == 0) {
                bool here = strncmp(l.m[i].origin, y->name, strlen(y->name)) == 0;
                cy_error_at(y, here ? (size_t)l.m[i].line : 1, here ? (size_t)l.m[i].column : 1,
                            "duplicate mapping name '%s' (at %s and %s)", l.m[i].name,
                            l.m[j].origin, l.m[i].origin);
                break;
            }
    struct ntm_mapping *shrunk = l.n ? realloc(l.m, l.n * sizeof *l.m) : NULL;
    if (l.n == 0)
        free(l.m);
    *out = l.n ? (shrunk ? shrunk : l.m) : NULL;
    *n_out = l.n;
}

bool ntm_conf_same_mapping(const void *a, const void *b)
{
    const struct ntm_mapping *x = a, *y = b;
    return x->sig && y->sig && strcmp(x->sig, y->sig) == 0;
}

void ntm_conf_free_mapping(void *entry)
{
    ntm_mapping_free(entry);
}
