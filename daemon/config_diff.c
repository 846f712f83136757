/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config_diff.c: compares two configurations key by key, by the tables of config_keys.c,
 * saying of each change whether a reload applies it live or it needs a restart; and
 * applies the live ones. It acts on nothing else: the daemon reacts to what changed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_table.h"

struct walk {
    struct ntm_config_change *out; /* diff: the changes, up to max; n counts all */
    size_t max, n;
    bool apply; /* apply: live changes are copied from next into cur */
    bool oom;   /* apply: a string could not be copied (cur keeps its old value) */
};

static bool text_same(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool field_same(const struct conf_key *k, const void *a, const void *b)
{
    switch (k->type) {
    case CONF_STRING:
    case CONF_PATH:
    case CONF_TEXT:
    case CONF_ID:
    case CONF_DIGITS:
        return text_same(conf_get_text(k, a), conf_get_text(k, b));
    case CONF_INT:
    case CONF_BOOL:
    case CONF_ENUM:
    case CONF_VILLAGE:
        return conf_get_int(k, a) == conf_get_int(k, b);
    default:
        return true;
    }
}

/* Copies the value of k from next to cur; false when out of memory (cur unchanged). */
static bool copy_field(const struct conf_key *k, void *cur, const void *next)
{
    switch (k->type) {
    case CONF_STRING:
    case CONF_PATH:
    case CONF_TEXT: {
        char **a = conf_field(k, cur);
        const char *b = conf_get_text(k, next);
        char *copy = b ? strdup(b) : NULL;
        if (b != NULL && copy == NULL)
            return false;
        free(*a);
        *a = copy;
        return true;
    }
    case CONF_ID:
    case CONF_DIGITS:
        memcpy(conf_field(k, cur), conf_field(k, next), k->size);
        return true;
    case CONF_INT:
    case CONF_BOOL:
    case CONF_ENUM:
    case CONF_VILLAGE:
        conf_set_int(k, cur, conf_get_int(k, next));
        return true;
    default:
        return true;
    }
}

static void changed(struct walk *w, const char *path, bool live, const struct conf_key *k,
                    void *cur, void *next)
{
    if (w->apply) {
        if (live && k != NULL && !copy_field(k, cur, next))
            w->oom = true;
        return;
    }
    if (w->n < w->max) {
        snprintf(w->out[w->n].key, sizeof w->out[w->n].key, "%s", path);
        w->out[w->n].live = live;
    }
    w->n++;
}

/* True when no key of t that needs a restart differs: an entry of a list is still the
 * same thing (the same device), so that its live keys may change under it. */
static bool restart_keys_same(const struct conf_table *t, const void *a, const void *b)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct conf_key *k = &t->keys[i];
        if (k->type == CONF_MAP) {
            if (!restart_keys_same(k->map, a, b))
                return false;
        } else if (k->type == CONF_LIST) {
            const struct conf_list *l = k->list;
            if (*(const size_t *)((const char *)a + l->count_off) !=
                *(const size_t *)((const char *)b + l->count_off))
                return false;
        } else if (!(k->flags & CONF_LIVE) && !field_same(k, a, b)) {
            return false;
        }
    }
    return true;
}

static void walk_table(struct walk *w, const struct conf_table *t, void *cur, void *next,
                       const char *prefix, bool may_live);

/* A list: entries added or removed (or what its table does not describe changed) is one
 * change of the list itself; otherwise each entry is compared key by key. */
static void walk_list(struct walk *w, const struct conf_key *k, void *cur, void *next,
                      const char *path, bool may_live)
{
    const struct conf_list *l = k->list;
    char *a = *(char **)((char *)cur + l->items_off), *b = *(char **)((char *)next + l->items_off);
    size_t na = *(size_t *)((char *)cur + l->count_off);
    size_t nb = *(size_t *)((char *)next + l->count_off);
    bool same = na == nb;
    for (size_t i = 0; same && l->same_other != NULL && i < na; i++)
        same = l->same_other(a + i * l->item_size, b + i * l->item_size);
    if (!same) {
        bool live = may_live && (k->flags & CONF_LIVE);
        changed(w, path, live, NULL, cur, next);
        if (w->apply && live) { /* a live list is taken whole: swapped, next frees the old */
            char **ia = (char **)((char *)cur + l->items_off);
            char **ib = (char **)((char *)next + l->items_off);
            char *ti = *ia;
            *ia = *ib;
            *ib = ti;
            *(size_t *)((char *)cur + l->count_off) = nb;
            *(size_t *)((char *)next + l->count_off) = na;
        }
        return;
    }
    for (size_t i = 0; i < na; i++) {
        char where[96];
        void *x = a + i * l->item_size, *y = b + i * l->item_size;
        if (snprintf(where, sizeof where, "%s[%zu]", path, i) < 0)
            where[0] = '\0';
        walk_table(w, l->item, x, y, where, may_live && restart_keys_same(l->item, x, y));
    }
}

static void walk_table(struct walk *w, const struct conf_table *t, void *cur, void *next,
                       const char *prefix, bool may_live)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct conf_key *k = &t->keys[i];
        char path[96];
        if (snprintf(path, sizeof path, "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                     k->name) < 0)
            path[0] = '\0';
        if (k->type == CONF_MAP)
            walk_table(w, k->map, cur, next, path, may_live);
        else if (k->type == CONF_LIST)
            walk_list(w, k, cur, next, path, may_live);
        else if (!field_same(k, cur, next))
            changed(w, path, may_live && (k->flags & CONF_LIVE), k, cur, next);
    }
}

size_t conf_diff(const struct conf_table *root, void *cur, const void *next,
                 struct ntm_config_change *out, size_t max, bool apply)
{
    struct walk w = {.out = out, .max = out ? max : 0, .apply = apply};
    /* next is only read; cur is written only when applying */
    walk_table(&w, root, cur, (void *)next, NULL, true);
    return apply ? w.oom : w.n;
}

size_t ntm_config_diff(const struct ntm_config *old, const struct ntm_config *next,
                       struct ntm_config_change *out, size_t max)
{
    return conf_diff(&ntm_conf_root, (void *)old, next, out, max, false);
}

bool ntm_config_apply_live(struct ntm_config *cur, const struct ntm_config *next)
{
    return conf_diff(&ntm_conf_root, cur, next, NULL, 0, true) == 0;
}
