/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config_doc.c: the documentation of the configuration keys, from the tables of
 * config_keys.c: one row per key (default, values, live or restart, meaning), and the
 * Markdown table of README.md's "Configuration" section. It parses nothing. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config_table.h"

#define TEXT_MAX 512

/* Appends to buf (of size TEXT_MAX) what printf would write. */
__attribute__((format(printf, 2, 3))) static void add(char *buf, const char *fmt, ...)
{
    size_t o = strlen(buf);
    if (o + 1 >= TEXT_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + o, TEXT_MAX - o, fmt, ap);
    va_end(ap);
}

static void key_names(char *buf, const struct conf_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        add(buf, "%s%s", i ? ", " : "", t->keys[i].name);
}

static void default_of(char *buf, const struct conf_key *k)
{
    if (k->flags & CONF_REQUIRED)
        add(buf, "required");
    else if (k->def_doc != NULL)
        add(buf, "%s", k->def_doc);
    else if (k->def_from != NULL)
        add(buf, "the %s", k->def_from);
    else if (k->def != NULL && k->def[0] == '\0')
        add(buf, "empty");
    else if (k->def != NULL)
        add(buf, "%s", k->def);
    else
        add(buf, "none");
    if (k->when != NULL)
        add(buf, "; %s with %s", k->def_when, k->when);
}

static void values_of(char *buf, const struct conf_key *k)
{
    switch (k->type) {
    case CONF_STRING:
        add(buf, "%s", k->rule ? k->rule : "text");
        break;
    case CONF_PATH:
        add(buf, "a path");
        break;
    case CONF_TEXT:
        add(buf, "text, may be empty");
        break;
    case CONF_INT:
        add(buf, "%lld to %lld", k->min, k->max);
        break;
    case CONF_BOOL:
        add(buf, "true or false");
        break;
    case CONF_ENUM:
        for (long long v = k->min; v <= k->max; v++)
            if (k->word(v) != NULL)
                add(buf, "%s%s", v > k->min ? ", " : "", k->word(v));
        break;
    case CONF_ID:
        add(buf, "%s", k->rule);
        break;
    case CONF_DIGITS:
        add(buf, "%lld digits", k->min);
        break;
    case CONF_VILLAGE:
        add(buf, "a village id");
        break;
    case CONF_MAP:
        add(buf, "{");
        key_names(buf, k->map);
        add(buf, "}");
        break;
    case CONF_LIST:
        add(buf, "a list of {");
        key_names(buf, k->list->item);
        add(buf, "%s}", k->list->other_keys ? ", ..." : "");
        break;
    }
}

/* A mapping applies live when every key in it does. */
static bool all_live(const struct conf_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct conf_key *k = &t->keys[i];
        if (k->type == CONF_MAP ? !all_live(k->map) : !(k->flags & CONF_LIVE))
            return false;
    }
    return true;
}

static void walk(const struct conf_table *t, const char *prefix,
                 void (*fn)(void *arg, const struct ntm_config_key_doc *k), void *arg)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct conf_key *k = &t->keys[i];
        char path[96], def[TEXT_MAX] = "", values[TEXT_MAX] = "", meaning[TEXT_MAX] = "";
        snprintf(path, sizeof path, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", k->name);
        if (k->type == CONF_MAP && prefix == NULL) { /* a section: its keys are the rows */
            walk(k->map, path, fn, arg);
            continue;
        }
        default_of(def, k);
        values_of(values, k);
        add(meaning, "%s", k->desc);
        if (k->needs != NULL)
            add(meaning, "; needs %s", k->needs);
        if (k->type == CONF_LIST && k->list->other_keys != NULL)
            add(meaning, "; an entry's other keys are %s", k->list->other_keys);
        struct ntm_config_key_doc doc = {
            .key = path,
            .def = def,
            .values = values,
            .live = k->type == CONF_MAP ? all_live(k->map) : (k->flags & CONF_LIVE) != 0,
            .meaning = meaning,
        };
        fn(arg, &doc);
        if (k->type == CONF_MAP) {
            walk(k->map, path, fn, arg);
        } else if (k->type == CONF_LIST) {
            char entry[sizeof path + 2];
            snprintf(entry, sizeof entry, "%s[]", path);
            walk(k->list->item, entry, fn, arg);
        }
    }
}

void ntm_config_each_key(void (*fn)(void *arg, const struct ntm_config_key_doc *k), void *arg)
{
    walk(&ntm_conf_root, NULL, fn, arg);
}

/* A table cell: `|` escaped, so that a value cannot end its cell. */
static void cell(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

static void markdown_row(void *arg, const struct ntm_config_key_doc *k)
{
    FILE *out = arg;
    fputs("| `", out);
    cell(out, k->key);
    fputs("` | ", out);
    cell(out, k->def);
    fputs(" | ", out);
    cell(out, k->values);
    fprintf(out, " | %s | ", k->live ? "live" : "restart");
    cell(out, k->meaning);
    fputs(" |\n", out);
}

int ntm_config_print_keys(FILE *out)
{
    fputs("| key | default | values | on SIGHUP | meaning |\n"
          "| --- | --- | --- | --- | --- |\n",
          out);
    ntm_config_each_key(markdown_row, out);
    return ferror(out) ? -1 : 0;
}
