/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store_env.h: what the store's unit tests share: a store on a file of its own
 * in a temporary directory (its loop, log, clock and configuration), reading
 * that file with a connection of their own, and collecting replayed records. */
#ifndef NTM_TEST_STORE_ENV_H
#define NTM_TEST_STORE_ENV_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "records.h"
#include "store_impl.h"

static char dir[] = "/tmp/ntm-test-store-XXXXXX";

/* ---- the environment of one store --------------------------------------------- */

struct env {
    uv_loop_t loop;
    struct ntm_log log;
    struct ntm_clock clock;
    struct ntm_config *cfg;
    char path[512];
    char err[1024];
};

struct opts {
    int max_mb, quarantine_max, commit_ms, sync_ms;
};

static inline bool env_init(struct env *e, const char *name, struct opts o)
{
    memset(e, 0, sizeof *e);
    snprintf(e->path, sizeof e->path, "%s/%s", dir, name);
    char text[2048];
    snprintf(text, sizeof text,
             "gateway:\n  id: gw-test\n"
             "commune:\n  code: \"16279\"\n  province_code: \"38\"\n"
             "villages:\n  - {id: thon-a}\n  - {id: thon-b}\n"
             "devices:\n"
             "  - {id: spk-1, kind: speaker, village: thon-a}\n"
             "  - {id: cam-1, kind: camera, village: thon-b}\n"
             "storage:\n  path: %s\n  max_mb: %d\n  commit_ms: %d\n  commit_max: 4000\n"
             "  sync_ms: %d\n  quarantine_max: %d\n",
             e->path, o.max_mb ? o.max_mb : 64, o.commit_ms ? o.commit_ms : 50,
             o.sync_ms ? o.sync_ms : 60000, o.quarantine_max);
    e->cfg = ntm_config_parse("test_store.yaml", text, strlen(text), e->err, sizeof e->err);
    if (!e->cfg) {
        fprintf(stderr, "config: %s\n", e->err);
        return false;
    }
    uv_loop_init(&e->loop);
    ntm_log_init(&e->log, "test_store", LOG_WARNING);
    ntm_clock_init(&e->clock);
    return true;
}

static inline void env_free(struct env *e)
{
    CHECK_INT(uv_loop_close(&e->loop), 0); /* the store closed every handle it made */
    ntm_config_free(e->cfg);
}

/* Opens the store of e (a check: a failure is counted and printed). */
static inline struct ntm_store *open_store(struct env *e)
{
    struct ntm_store *st = NULL;
    if (ntm_store_open(&st, &e->loop, e->cfg, &e->log, &e->clock, e->err, sizeof e->err) != 0) {
        failed++;
        fprintf(stderr, "open %s: %s\n", e->path, e->err);
        ntm_store_close(st);
        return NULL;
    }
    passed++;
    return st;
}

/* A store on a file of its own; NULL (with e freed) when it cannot be had. */
static inline struct ntm_store *start(struct env *e, const char *name, struct opts o)
{
    if (!env_init(e, name, o)) {
        failed++;
        return NULL;
    }
    struct ntm_store *st = open_store(e);
    if (!st)
        env_free(e);
    return st;
}

/* ---- reading the file with a connection of our own ----------------------------- */

static inline int64_t peek(const char *path, const char *sql, int64_t dflt)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = dflt;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(s, 0);
    else if (db && sqlite3_errcode(db) != SQLITE_OK && sqlite3_errcode(db) != SQLITE_DONE)
        fprintf(stderr, "peek %s: %s: %s\n", path, sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

/* The first column as text (malloc'd; "" when none). */
static inline char *peek_text(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    char *v = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_text(s, 0))
        v = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v ? v : strdup("");
}

static inline bool run_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    bool ok = sqlite3_open(path, &db) == SQLITE_OK &&
              sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK;
    if (!ok)
        fprintf(stderr, "%s: %s: %s\n", path, sql, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    sqlite3_close(db);
    return ok;
}

/* The whole file (malloc'd), or NULL when it does not exist. */
static inline char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    return buf;
}

static inline bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static inline bool exists_suffix(const struct env *e, const char *suffix)
{
    char p[600];
    snprintf(p, sizeof p, "%s%s", e->path, suffix);
    return exists(p);
}

/* The name of the file moved aside for base ("x.db" -> "x.db.bad-..."), or "". */
static inline void find_bad(const char *base, char *out, size_t len)
{
    out[0] = '\0';
    DIR *d = opendir(dir);
    size_t n = strlen(base);
    for (struct dirent *de; d && (de = readdir(d));)
        if (strncmp(de->d_name, base, n) == 0 && strncmp(de->d_name + n, ".bad-", 5) == 0 &&
            !strstr(de->d_name + n, "-wal") && !strstr(de->d_name + n, "-shm"))
            snprintf(out, len, "%s/%s", dir, de->d_name);
    if (d)
        closedir(d);
}

/* ---- collecting replayed records -------------------------------------------------- */

struct got {
    size_t n;
    int64_t ids[400];
    struct ntm_record *recs; /* 400 */
};

static inline void collect(void *arg, const struct ntm_record *rec, int64_t id)
{
    struct got *g = arg;
    if (g->n >= 400)
        return;
    g->ids[g->n] = id;
    g->recs[g->n++] = *rec;
}

static struct got replayed;

static inline struct got *replay(struct ntm_store *st, int64_t after)
{
    if (!replayed.recs)
        replayed.recs = malloc(400 * sizeof *replayed.recs);
    replayed.n = 0;
    CHECK_INT(ntm_store_replay(st, after, collect, &replayed), 0);
    return &replayed;
}

static inline struct ntm_record *samples(int n)
{
    struct ntm_record *r = malloc((size_t)n * sizeof *r);
    for (int i = 0; i < n; i++) {
        sample_record(&r[i], i);
        r[i].village = (uint16_t)(i % 2);
    }
    return r;
}

static inline void remove_dir(void)
{
    DIR *d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Makes the temporary directory; false (said) when it cannot. */
static inline bool store_env_begin(void)
{
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return false;
    }
    unsetenv("RUNTIME_DIRECTORY"); /* the tail journal beside the database */
    return true;
}

/* Removes it, and prints "NAME: N passed, M failed"; the exit status. */
static inline int store_env_end(const char *name)
{
    free(replayed.recs);
    remove_dir();
    printf("%s: %d passed, %d failed\n", name, passed, failed);
    return failed ? 1 : 0;
}

#endif
