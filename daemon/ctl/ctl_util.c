/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ctl_util.c: ntmctl's shared helpers: option parsing of a command, local
 * times, JSON output, SQL one-liners, columns padded by display width and the
 * live state. Must not know any command's output. */
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "text_safe.h"
#include "live_state.h"
#include "record.h"
#include "textwidth.h"

void ctl_usage_error(const char *cmd, const char *fmt, ...)
{
    fprintf(stderr, "ntmctl %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, _("\n(`ntmctl %s --help` lists what it takes)\n"), cmd);
}

bool ctl_parse(struct ctl *c, const char *shortopts, const struct option *longopts,
               void (*on_opt)(struct ctl *c, int opt, const char *arg, void *data), void *data,
               int max_operands, int *first_operand)
{
    /* the global output options are taken after the command too */
    struct option all[32];
    size_t n_all = 0;
    all[n_all++] = (struct option){"json", no_argument, NULL, 'j' | 0x100};
    all[n_all++] = (struct option){"wide", no_argument, NULL, 'w' | 0x100};
    all[n_all++] = (struct option){"help", no_argument, NULL, 'h' | 0x100};
    for (const struct option *l = longopts; l && l->name && n_all < 31; l++)
        all[n_all++] = *l;
    all[n_all] = (struct option){NULL, 0, NULL, 0};
    optind = 0; /* 0, not 1: glibc then reads shortopts' ordering ('+' or not) afresh */
    opterr = 0;
    int o;
    while ((o = getopt_long(c->argc, c->argv, shortopts, all, NULL)) != -1) {
        if (o == ('j' | 0x100)) {
            c->json = true;
            continue;
        }
        if (o == ('w' | 0x100)) {
            c->wide = true;
            continue;
        }
        if (o == ('h' | 0x100)) {
            c->help = true;
            continue;
        }
        if (o == '?' || o == ':') {
            const char *bad = c->argv[optind - 1];
            if (o == ':')
                ctl_usage_error(c->argv[0], _("option %s needs a value"), bad);
            else
                ctl_usage_error(c->argv[0], _("unknown option %s"), bad);
            return false;
        }
        on_opt(c, o, optarg, data);
    }
    int n = c->argc - optind;
    if (n > max_operands) {
        ctl_usage_error(c->argv[0], _("unexpected argument '%s'"), c->argv[optind + max_operands]);
        return false;
    }
    *first_operand = optind;
    return true;
}

int64_t ctl_day_start(int64_t unix_s)
{
    return ntm_local_day(unix_s) * 86400 - NTM_TZ_OFFSET_S;
}

const char *ctl_time_full(int64_t unix_s, char *buf, size_t len)
{
    if (unix_s <= 0)
        return _("never");
    time_t t = (time_t)(unix_s + NTM_TZ_OFFSET_S);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

const char *ctl_time(const struct ctl *c, int64_t unix_s, char *buf, size_t len)
{
    if (unix_s <= 0)
        return _("never");
    time_t t = (time_t)(unix_s + NTM_TZ_OFFSET_S);
    struct tm tm;
    gmtime_r(&t, &tm);
    bool today = ctl_day_start(unix_s) == ctl_day_start(c->now_ms / 1000);
    strftime(buf, len, today ? "%H:%M" : "%Y-%m-%d %H:%M", &tm);
    return buf;
}

const char *ctl_ago(const struct ctl *c, int64_t ms, char *buf, size_t len)
{
    long long d = (long long)(c->now_ms - ms) / 1000;
    bool future = d < 0;
    if (future)
        d = -d;
    char span[48];
    if (d < 60)
        snprintf(span, sizeof span, _("%lld s"), d);
    else if (d < 3600)
        snprintf(span, sizeof span, _("%lld min"), d / 60);
    else if (d < 86400)
        snprintf(span, sizeof span, _("%lld h %lld min"), d / 3600, d % 3600 / 60);
    else
        snprintf(span, sizeof span, _("%lld days"), d / 86400);
    snprintf(buf, len, future ? _("in %s") : _("%s ago"), span);
    return buf;
}

int ctl_print_json(cJSON *doc)
{
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) {
        fprintf(stderr, "ntmctl: %s\n", _("out of memory"));
        return CTL_FAIL;
    }
    puts(text);
    cJSON_free(text);
    return CTL_OK;
}

const char *ctl_col(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? t : "";
}

const char *ctl_col_safe(sqlite3_stmt *s, int i, char *buf, size_t len)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? ntm_text_safe_str(buf, len, t) : NULL;
}

int64_t ctl_scalar(struct ctl *c, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = (int64_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

int64_t ctl_counter(struct ctl *c, const char *name)
{
    sqlite3_stmt *s = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT value FROM counters WHERE name = ?", -1, &s, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW)
            v = (int64_t)sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}

const char *ctl_village_name(const struct ctl *c, const char *id)
{
    int i = c->cfg && id ? ntm_config_village(c->cfg, id) : -1;
    return i >= 0 && c->cfg->villages[i].name ? c->cfg->villages[i].name : id ? id : "";
}

const char *ctl_kind_label(const char *kind)
{
    if (!kind)
        return "";
    /* TRANSLATORS: a device kind, as a column value (at most 8 columns) */
    if (strcmp(kind, "speaker") == 0)
        return _("speaker");
    /* TRANSLATORS: a device kind, as a column value (at most 8 columns) */
    if (strcmp(kind, "camera") == 0)
        return _("camera");
    /* TRANSLATORS: a device kind, as a column value (at most 8 columns) */
    if (strcmp(kind, "wifi") == 0)
        return _("wifi");
    return kind;
}

void ctl_cell(const char *s, int width)
{
    char buf[1024];
    int w = tw_fit(s ? s : "", width, buf, sizeof buf);
    fputs(buf, stdout);
    for (; w < width; w++)
        putchar(' ');
}

void ctl_line(const char *s, int width)
{
    char buf[2048];
    tw_fit(s ? s : "", width, buf, sizeof buf);
    puts(buf);
}

void ctl_wrap(FILE *out, const char *s, int indent, int width)
{
    char word[512];
    int col = indent;
    fprintf(out, "%*s", indent, "");
    while (*s) {
        size_t n = strcspn(s, " ");
        if (n >= sizeof word)
            n = sizeof word - 1;
        memcpy(word, s, n);
        word[n] = '\0';
        int w = tw_width(word);
        if (col > indent && col + 1 + w > width) {
            fprintf(out, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', out);
            col++;
        }
        fputs(word, out);
        col += w;
        s += n;
        while (*s == ' ')
            s++;
    }
    fputc('\n', out);
}

void ctl_cell_right(const char *s, int width)
{
    char buf[1024];
    int w = tw_fit(s ? s : "", width, buf, sizeof buf);
    for (; w < width; w++)
        putchar(' ');
    fputs(buf, stdout);
}

void ctl_load_live(struct ctl *c)
{
    if (c->live)
        return;
    c->live = ntm_live_read(c->state_path, c->cfg ? c->cfg->storage.path : c->db_path, c->now_ms,
                            &c->live_stale, c->live_file, sizeof c->live_file);
}

const cJSON *ctl_live_get(const struct ctl *c, const char *path)
{
    const cJSON *o = c->live;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && o; k = strtok_r(NULL, ".", &save))
        o = cJSON_GetObjectItemCaseSensitive(o, k);
    return o;
}
