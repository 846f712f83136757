/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config_table.c: what the key tables mean for a struct: reading and writing a key's
 * field by its type, a value's text form (defaults), the defaults of a table, and freeing
 * what its fields own. No YAML nodes here (config.c), no key names (config_keys.c). */
#include "config_table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_yaml.h"

long long conf_get_int(const struct conf_key *k, const void *base)
{
    const void *f = conf_field(k, base);
    switch (k->size) {
    case 1:
        return k->type == CONF_BOOL ? *(const bool *)f : *(const uint8_t *)f;
    case 2:
        return *(const uint16_t *)f;
    case 4:
        return *(const int32_t *)f;
    default:
        return *(const int64_t *)f;
    }
}

void conf_set_int(const struct conf_key *k, void *base, long long v)
{
    void *f = conf_field(k, base);
    switch (k->size) {
    case 1:
        if (k->type == CONF_BOOL)
            *(bool *)f = v != 0;
        else
            *(uint8_t *)f = (uint8_t)v;
        break;
    case 2:
        *(uint16_t *)f = (uint16_t)v;
        break;
    case 4:
        *(int32_t *)f = (int32_t)v;
        break;
    default:
        *(int64_t *)f = v;
        break;
    }
}

const char *conf_get_text(const struct conf_key *k, const void *base)
{
    switch (k->type) {
    case CONF_STRING:
    case CONF_PATH:
    case CONF_TEXT:
        return *(char *const *)conf_field(k, base);
    case CONF_ID:
    case CONF_DIGITS:
        return conf_field(k, base);
    default:
        return NULL;
    }
}

const struct conf_key *conf_find(const struct conf_table *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->keys[i].name, name) == 0)
            return &t->keys[i];
    return NULL;
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool conf_enum_value(const struct conf_key *k, const char *s, size_t len, long long *out)
{
    for (long long v = k->min; v <= k->max; v++) {
        const char *w = k->word(v);
        if (w != NULL && strlen(w) == len && memcmp(w, s, len) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

bool conf_set_text(const struct conf_key *k, void *base, const char *text)
{
    size_t len = strlen(text);
    long long v;
    bool b;
    switch (k->type) {
    case CONF_STRING:
    case CONF_PATH:
    case CONF_TEXT: {
        if ((len == 0 && k->type != CONF_TEXT) || (k->valid && !k->valid(text, len)))
            return false;
        char *s = malloc(len + 1), **f = conf_field(k, base);
        if (s == NULL)
            return false;
        free(*f);
        *f = memcpy(s, text, len + 1);
        return true;
    }
    case CONF_INT:
        if (!cy_int_text(text, len, &v) || v < k->min || v > k->max)
            return false;
        conf_set_int(k, base, v);
        return true;
    case CONF_BOOL:
        if (!cy_bool_text(text, len, &b))
            return false;
        conf_set_int(k, base, b);
        return true;
    case CONF_ENUM:
        if (!conf_enum_value(k, text, len, &v))
            return false;
        conf_set_int(k, base, v);
        return true;
    case CONF_ID:
    case CONF_DIGITS:
        if (len >= k->size ||
            (k->type == CONF_ID ? !k->valid(text, len)
                                : len != (size_t)k->min || !all_digits(text, len)))
            return false;
        memcpy(conf_field(k, base), text, len + 1);
        return true;
    default:
        return false;
    }
}

bool conf_set_defaults(const struct conf_table *t, void *base)
{
    bool ok = true;
    for (size_t i = 0; i < t->n; i++) {
        const struct conf_key *k = &t->keys[i];
        if (k->type == CONF_MAP)
            ok = conf_set_defaults(k->map, base) && ok;
        else if (k->def != NULL)
            ok = conf_set_text(k, base, k->def) && ok;
    }
    return ok;
}

void conf_free_fields(const struct conf_table *t, void *base)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct conf_key *k = &t->keys[i];
        if (k->type == CONF_STRING || k->type == CONF_PATH || k->type == CONF_TEXT) {
            char **f = conf_field(k, base);
            free(*f);
            *f = NULL;
        } else if (k->type == CONF_MAP) {
            conf_free_fields(k->map, base);
        } else if (k->type == CONF_LIST) {
            const struct conf_list *l = k->list;
            char **items = (char **)((char *)base + l->items_off);
            size_t *count = (size_t *)((char *)base + l->count_off);
            for (size_t j = 0; *items != NULL && j < *count; j++) {
                conf_free_fields(l->item, *items + j * l->item_size);
                if (l->free_other)
                    l->free_other(*items + j * l->item_size);
            }
            free(*items);
            *items = NULL;
            *count = 0;
        }
    }
}
