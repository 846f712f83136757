/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ctl.h: what ntmctl's commands share: the context (configuration, the
 * buffer opened read-only, the live state), the command-line options of a
 * command, and the output helpers (local times, JSON, columns by display
 * width). Each command lives in a cmd_*.c file of its own. */
#ifndef NTM_CTL_H
#define NTM_CTL_H

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "i18n.h"

struct ctl {
    const char *config_path;
    const char *db_path;
    const char *state_path; /* --state: the live state file to read */
    bool json, wide, help;
    bool parse_only; /* check the arguments only (before the buffer is opened) */
    int argc;        /* the command's own arguments: argv[0] is the command */
    char **argv;
    struct ntm_config *cfg;
    sqlite3 *db;
    cJSON *live; /* the live state, NULL when none was found */
    bool live_stale;
    char live_file[4096];
    int64_t now_ms;
};

/* Exit codes. */
#define CTL_OK 0
#define CTL_FAIL 1  /* cannot read what was asked, or (status --check) needs a person */
#define CTL_USAGE 2 /* unknown command, option or argument */

/* Parses the command's options (getopt_long on c->argv); on an unknown one
 * prints why with the command's usage and returns false. */
struct option;
bool ctl_parse(struct ctl *c, const char *shortopts, const struct option *longopts,
               void (*on_opt)(struct ctl *c, int opt, const char *arg, void *data), void *data,
               int max_operands, int *first_operand);
void ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "2026-11-22 15:00" (Vietnam time) or "never"; "15:00" for times today. */
const char *ctl_time(const struct ctl *c, int64_t unix_s, char *buf, size_t len);
const char *ctl_time_full(int64_t unix_s, char *buf, size_t len);
/* "3 min ago", "2 h 5 min ago", "in 40 s" */
const char *ctl_ago(const struct ctl *c, int64_t ms, char *buf, size_t len);
/* Local midnight of the day holding unix_s. */
int64_t ctl_day_start(int64_t unix_s);

int ctl_print_json(cJSON *doc);
const char *ctl_col(sqlite3_stmt *s, int i);
/* A text column that came from outside (a topic, a server's answer, written
 * perhaps by an older version): valid UTF-8 with controls escaped, in buf;
 * NULL when the column is NULL. */
const char *ctl_col_safe(sqlite3_stmt *s, int i, char *buf, size_t len);
int64_t ctl_scalar(struct ctl *c, const char *sql);
int64_t ctl_counter(struct ctl *c, const char *name);
const char *ctl_village_name(const struct ctl *c, const char *id);
/* The kind as people read it ("speaker" -> "loa" in Vietnamese). */
const char *ctl_kind_label(const char *kind);

/* Text columns: NFC-normalised, padded or cut (with "…") to `width`
 * terminal columns. */
void ctl_cell(const char *s, int width);
/* A whole line, cut to `width` columns (no padding), with its newline. */
void ctl_line(const char *s, int width);
/* Text wrapped at word boundaries to `width` columns, each line indented. */
void ctl_wrap(FILE *out, const char *s, int indent, int width);
/* Right-aligned. */
void ctl_cell_right(const char *s, int width);

/* The live state, read once (ntm_live_read). */
void ctl_load_live(struct ctl *c);
const cJSON *ctl_live_get(const struct ctl *c, const char *path); /* "broker.state" */

int cmd_status(struct ctl *c);
int cmd_devices(struct ctl *c);
int cmd_quarantine(struct ctl *c);
int cmd_batches(struct ctl *c);
int cmd_requeue(struct ctl *c);
int cmd_forget(struct ctl *c);
int cmd_indicators(struct ctl *c);
int cmd_today(struct ctl *c);
int cmd_device(struct ctl *c);

#endif
