/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cmd_forget.c: `ntmctl forget ID...` and `ntmctl forget --undeclared DAYS`
 * (every undeclared device silent that long): asks the daemon to forget
 * undeclared devices (a row each in forget_requests, then SIGHUP) and reports
 * what it did. It must not change devices or windows itself: the daemon does,
 * on its loop, or at its next start when it is not running. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "record.h"

/* How long the daemon is given to answer (it looks on SIGHUP, and at least
 * every sync.interval_s when the signal could not be sent). */
#define FORGET_WAIT_MS 15000

/* --undeclared DAYS: -1 when not given, -2 when not a number of days */
static void on_opt(struct ctl *c, int o, const char *arg, void *data)
{
    (void)c;
    int *days = data;
    char *end = NULL;
    long v = o == 'u' ? strtol(arg, &end, 10) : -1;
    if (o == 'u')
        *days = end && end != arg && !*end && v >= 0 && v <= 36500 ? (int)v : -2;
}

/* The undeclared devices (by the configuration) not heard for `days` days,
 * malloc'd (each and the array); their number in *n. NULL on error. */
static char **silent_undeclared(struct ctl *c, int days, int *n)
{
    sqlite3_stmt *s = NULL;
    char **ids = NULL;
    int cap = 0;
    *n = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT name FROM devices WHERE coalesce(last_seen, 0) <= ?", -1,
                           &s, NULL) != SQLITE_OK) {
        fprintf(stderr, _("ntmctl forget: cannot read the devices: %s\n"), sqlite3_errmsg(c->db));
        return NULL;
    }
    sqlite3_bind_int64(s, 1, c->now_ms / 1000 - (int64_t)days * 86400);
    bool ok = true;
    while (ok && sqlite3_step(s) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        if (!name || ntm_config_device(c->cfg, name))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(ids, (size_t)cap * sizeof *ids);
            ok = grown != NULL;
            ids = grown ? grown : ids;
        }
        if (ok && (ids[*n] = strdup(name)) != NULL)
            (*n)++;
        else
            ok = false;
    }
    sqlite3_finalize(s);
    if (!ok) {
        fprintf(stderr, "ntmctl forget: %s\n", _("out of memory"));
        for (int i = 0; i < *n; i++)
            free(ids[i]);
        free(ids);
        return NULL;
    }
    return ids ? ids : calloc(1, sizeof *ids);
}

/* Why the device cannot be asked for, printed; false when it can. */
static bool refused(struct ctl *c, const char *id)
{
    if (c->cfg && ntm_config_device(c->cfg, id)) {
        fprintf(stderr,
                _("ntmctl forget: %s is declared in %s: remove it from devices: there and restart "
                  "the daemon first; nothing was changed\n"),
                id, c->cfg->path);
        return true;
    }
    /* the running daemon's configuration has the last word (a device removed
     * from the file is declared until the restart): it answers "declared" */
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(c->db, "SELECT 1 FROM devices WHERE name = ?", -1, &s, NULL);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    rc = rc == SQLITE_OK ? sqlite3_step(s) : rc;
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) {
        fprintf(stderr,
                _("ntmctl forget: no device %s is known (`ntmctl devices` lists them); nothing "
                  "was changed\n"),
                id);
        return true;
    }
    if (rc != SQLITE_ROW) {
        fprintf(stderr, _("ntmctl forget: cannot read the devices: %s\n"), sqlite3_errmsg(c->db));
        return true;
    }
    return false;
}

/* One request row per id, in one transaction; their ids in req. */
static int request(struct ctl *c, char **ids, int n, int64_t *req)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db, "INSERT INTO forget_requests(device, requested_ms) VALUES(?, ?)",
                           -1, &s, NULL) != SQLITE_OK)
        goto fail;
    for (int i = 0; i < n; i++) {
        sqlite3_bind_text(s, 1, ids[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, c->now_ms);
        if (sqlite3_step(s) != SQLITE_DONE)
            goto fail;
        sqlite3_reset(s);
        req[i] = sqlite3_last_insert_rowid(c->db);
    }
    sqlite3_finalize(s);
    if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    s = NULL;
fail:
    fprintf(stderr, _("ntmctl forget: cannot write the request in the buffer: %s\n"),
            sqlite3_errmsg(c->db));
    sqlite3_finalize(s);
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* The request's result ("forgotten", "unknown", "declared"), or NULL while not done. */
static const char *result_of(struct ctl *c, int64_t req, char *buf, size_t len)
{
    sqlite3_stmt *s = NULL;
    const char *r = NULL;
    if (sqlite3_prepare_v2(
            c->db, "SELECT result FROM forget_requests WHERE id = ? AND done_ms IS NOT NULL", -1,
            &s, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, req);
        if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) {
            snprintf(buf, len, "%s", (const char *)sqlite3_column_text(s, 0));
            r = buf;
        }
    }
    sqlite3_finalize(s);
    return r;
}

/* SIGHUP to the running daemon: true when one runs (signalled or not). */
static bool tell_daemon(struct ctl *c)
{
    ctl_load_live(c);
    const cJSON *pid = ctl_live_get(c, "pid");
    if (!c->live || c->live_stale || !cJSON_IsNumber(pid) || pid->valuedouble <= 1)
        return false;
    return kill((pid_t)pid->valuedouble, SIGHUP) == 0 || errno == EPERM;
}

static bool all_done(struct ctl *c, const int64_t *req, int n)
{
    char buf[32];
    for (int i = 0; i < n; i++)
        if (!result_of(c, req[i], buf, sizeof buf))
            return false;
    return true;
}

/* [{"device", "result"}]: forgotten, unknown, declared, or pending (not done
 * yet, or at the next start when the daemon is not running). Exit 1 when one
 * was refused. */
static int print_json(struct ctl *c, char **ids, const int64_t *req, int n, bool running)
{
    cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "devices");
    cJSON_AddBoolToObject(doc, "running", running);
    int rc = CTL_OK;
    char buf[32];
    for (int i = 0; i < n; i++) {
        const char *r = result_of(c, req[i], buf, sizeof buf);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "device", ids[i]);
        cJSON_AddStringToObject(o, "result", r ? r : "pending");
        cJSON_AddItemToArray(arr, o);
        if (r && strcmp(r, "forgotten") != 0)
            rc = CTL_FAIL;
    }
    int prc = ctl_print_json(doc);
    return prc != CTL_OK ? prc : rc;
}

static int forget_ids(struct ctl *c, char **ids, int n);

int cmd_forget(struct ctl *c)
{
    static const struct option opts[] = {{"undeclared", required_argument, NULL, 'u'},
                                         {NULL, 0, NULL, 0}};
    int first, days = -1;
    if (!ctl_parse(c, "+", opts, on_opt, &days, INT_MAX, &first))
        return CTL_USAGE;
    int n = c->argc - first;
    if (days == -2) {
        ctl_usage_error("forget", _("--undeclared needs a number of days"));
        return CTL_USAGE;
    }
    if ((n <= 0) == (days < 0)) {
        ctl_usage_error("forget", n <= 0 ? _("which device? (its id, see `ntmctl devices`)")
                                         : _("either device ids or --undeclared DAYS, not both"));
        return CTL_USAGE;
    }
    char **ids = c->argv + first;
    for (int i = 0; i < n; i++)
        if (!ntm_valid_device_id(ids[i], strnlen(ids[i], NTM_DEVICE_ID_MAX + 1))) {
            ctl_usage_error("forget", _("'%s' is not a device id"), ids[i]);
            return CTL_USAGE;
        }
    if (c->parse_only)
        return CTL_OK;
    if (days < 0)
        return forget_ids(c, ids, n);
    if (!c->cfg) {
        fprintf(stderr, _("ntmctl forget: --undeclared needs the configuration (--config)\n"));
        return CTL_FAIL;
    }
    ids = silent_undeclared(c, days, &n);
    if (!ids)
        return CTL_FAIL;
    int rc = CTL_OK;
    if (n == 0 && !c->json)
        printf(_("no undeclared device has been silent for %d days: nothing to forget\n"), days);
    else if (n > 0)
        rc = forget_ids(c, ids, n);
    else
        rc = ctl_print_json(cJSON_Parse("{\"devices\":[]}"));
    for (int i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return rc;
}

static int forget_ids(struct ctl *c, char **ids, int n)
{
    for (int i = 0; i < n; i++)
        if (refused(c, ids[i]))
            return CTL_FAIL;
    int64_t *req = calloc((size_t)n, sizeof *req);
    if (!req || request(c, ids, n, req) != 0) {
        free(req);
        return CTL_FAIL;
    }
    bool running = tell_daemon(c);
    for (int waited = 0; running && waited < FORGET_WAIT_MS && !all_done(c, req, n); waited += 100)
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000000L}, NULL);
    int rc = c->json ? print_json(c, ids, req, n, running) : CTL_OK;
    if (c->json || !running) {
        if (!running && !c->json)
            printf(_("the daemon is not running: it forgets %d device(s) at its next start\n"), n);
        free(req);
        return rc;
    }

    char buf[32];
    for (int i = 0; i < n; i++) {
        const char *r = result_of(c, req[i], buf, sizeof buf);
        if (!r) {
            printf(_("%s: asked; the daemon has not done it yet (it looks at requests at each "
                     "sync tick)\n"),
                   ids[i]);
        } else if (strcmp(r, "forgotten") == 0) {
            printf(_("%s forgotten: it no longer counts in its village from the next closed "
                     "window; if it speaks again it is a new undeclared device\n"),
                   ids[i]);
        } else {
            fprintf(stderr, _("ntmctl forget: the daemon did not forget %s: %s\n"), ids[i],
                    strcmp(r, "declared") == 0
                        ? _("it is still declared in the daemon's running configuration: "
                            "restart the daemon once it is removed from gateway.yaml")
                        : _("it knows no such device"));
            rc = CTL_FAIL;
        }
    }
    free(req);
    return rc;
}
