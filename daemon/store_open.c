/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store_open.c: opening the database file (directory check, connection,
 * PRAGMAs, every file's statements), moving a bad or foreign one aside, and
 * the store's SQLite helpers. It must not write rows, nor delete a file. */
#include "store_impl.h"

#include <errno.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- small SQLite helpers -------------------------------------------------- */

int ntm_st_exec(struct ntm_store *st, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    st->last_rc = rc;
    if (rc != SQLITE_OK) {
        if (err)
            snprintf(err, errlen, "%s: %s", st->cfg->storage.path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int ntm_st_prepare(struct ntm_store *st, const struct ntm_st_sql *list, size_t n, char *err,
                   size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int rc = sqlite3_prepare_v3(st->db, list[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[list[i].id], NULL);
        st->last_rc = rc;
        if (rc != SQLITE_OK) {
            snprintf(err, errlen, "%s: preparing statement: %s", st->cfg->storage.path,
                     sqlite3_errmsg(st->db));
            return -1;
        }
    }
    return 0;
}

int ntm_st_step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- checks of the file ------------------------------------------------------ */

static bool is_bad(int rc)
{
    return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT;
}

/* The directory must exist and be writable: SQLite writes the WAL beside the file. */
static int check_dir(const char *path, char *err, size_t errlen)
{
    char *dir = strdup(path);
    if (!dir)
        return -1;
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash) {
        *(slash == dir ? slash + 1 : slash) = '\0';
        d = dir;
    }
    int rc = 0;
    if (access(d, W_OK | X_OK) != 0) {
        snprintf(err, errlen,
                 "%s: cannot use the database directory %s: %s (the daemon runs as uid %d; "
                 "the directory must exist and be writable by it, e.g. owned by the "
                 "ntm-gateway user)",
                 path, d, strerror(errno), (int)geteuid());
        rc = -1;
    }
    free(dir);
    return rc;
}

/* True when the file at the path is damaged, or an SQLite database of another
 * program (tables but no ntm-gateway schema), with err saying which. */
static bool foreign(struct ntm_store *st, char *err, size_t errlen)
{
    sqlite3_stmt *s = NULL;
    int tables = 0, has_meta = 0;
    int rc = sqlite3_prepare_v2(st->db,
                                "SELECT count(*), sum(name = 'meta') FROM sqlite_master"
                                " WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                                -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        tables = sqlite3_column_int(s, 0);
        has_meta = sqlite3_column_int(s, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(s);
    if (is_bad(rc)) {
        snprintf(err, errlen, "%s is damaged: %s", st->cfg->storage.path, sqlite3_errstr(rc));
        return true;
    }
    if (tables > 0 && !has_meta) {
        snprintf(err, errlen,
                 "%s is an SQLite database of another program (%d tables, none of "
                 "ntm-gateway's)",
                 st->cfg->storage.path, tables);
        return true;
    }
    return false;
}

/* 0 opened; 1 the file is not a usable ntm-gateway database (err says why);
 * -1 another error (err says which). */
/* A buffer made by an older version, or by hand under umask 022, may be
 * readable by anyone; the MAC keys are in it. Its files (and the WAL and shm
 * SQLite creates with the database's mode) lose every right of others. */
static void tighten_modes(struct ntm_store *st)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s%s", st->cfg->storage.path, suffix[i]);
        if (lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || (sb.st_mode & 007) == 0)
            continue;
        if (chmod(path, sb.st_mode & 0770) == 0)
            ntm_logf(st->log, LOG_NOTICE,
                     "%s was readable by other users (mode %03o); it is now %03o, as the buffer "
                     "holds the MAC keys of the day",
                     path, (unsigned)(sb.st_mode & 0777), (unsigned)(sb.st_mode & 0770));
        else
            ntm_logf(st->log, LOG_WARNING,
                     "%s is readable by other users (mode %03o) and could not be changed: %s", path,
                     (unsigned)(sb.st_mode & 0777), strerror(errno));
    }
}

static int open_db(struct ntm_store *st, char *err, size_t errlen)
{
    /* a file that does not even start as SQLite is not opened at all */
    FILE *f = fopen(st->cfg->storage.path, "rbe");
    if (f) {
        char head[16] = {0};
        size_t n = fread(head, 1, sizeof head, f);
        fclose(f);
        if (n > 0 && (n < sizeof head || memcmp(head, "SQLite format 3", 16) != 0)) {
            snprintf(err, errlen, "%s is not an SQLite database", st->cfg->storage.path);
            return 1;
        }
    }
    /* a symbolic link is refused: whoever can write its directory could point
     * the buffer (and its MAC keys) anywhere */
    struct stat lst;
    if (lstat(st->cfg->storage.path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        snprintf(err, errlen,
                 "%s is a symbolic link: the buffer is not opened through one; set "
                 "storage.path to the file itself",
                 st->cfg->storage.path);
        return -1;
    }
    int rc = sqlite3_open_v2(st->cfg->storage.path, &st->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_NOFOLLOW,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open the database: %s", st->cfg->storage.path,
                 st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        return -1;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, 1000);
    /* before anything writes to it (switching to WAL rewrites its header): a
     * file of another program or of a newer daemon is left as it is */
    if (foreign(st, err, errlen))
        return 1;
    int version = 0;
    if (ntm_st_schema_check(st, &version, err, errlen) != 0)
        return is_bad(st->last_rc) ? 1 : -1;
    /* WAL: readers (ntmctl) never block the writer. synchronous=NORMAL: a commit
     * is a write(), made durable by the sync timer; a power cut can lose at most
     * storage.sync_ms of commits and never corrupts the file. Checkpoints are ours.
     * A 512 KiB page cache holds a second's transaction at 1,000 msg/s (about 30
     * dirty pages) with room to spare; 1 MiB cost 1.2 MiB more RSS for nothing. */
    if (ntm_st_exec(
            st,
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0;"
            "PRAGMA cache_size=-512; PRAGMA temp_store=MEMORY; PRAGMA foreign_keys=OFF;"
            "PRAGMA journal_size_limit=8388608;",
            err, errlen) != 0)
        return is_bad(st->last_rc) ? 1 : -1;
    /* after each commit: how big the WAL is, for the checkpoint decision. It
     * takes the place of SQLite's autocheckpoint (same hook), which would run
     * on the loop; so it is set after the PRAGMAs, which would reset it. */
    sqlite3_wal_hook(st->db, ntm_st_on_wal_commit, st);
    tighten_modes(st);
    if (ntm_st_migrate(st, version, err, errlen) != 0)
        return -1;
    if (ntm_st_schema_prepare(st, err, errlen) != 0 ||
        ntm_st_append_prepare(st, err, errlen) != 0 ||
        ntm_st_devices_prepare(st, err, errlen) != 0 || ntm_st_keys_prepare(st, err, errlen) != 0 ||
        ntm_st_space_prepare(st, err, errlen) != 0)
        return is_bad(st->last_rc) ? 1 : -1;
    return ntm_st_devices_load(st, err, errlen);
}

void ntm_st_close_file(struct ntm_store *st)
{
    for (size_t i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(st->stmt[i]);
        st->stmt[i] = NULL;
    }
    sqlite3_close(st->db);
    st->db = NULL;
    if (st->devs)
        memset(st->devs, 0, st->devs_cap * sizeof *st->devs);
    st->devs_len = 0;
    memset(st->counters, 0, sizeof st->counters);
}

/* Renames the file (and its -wal and -shm) to PATH.bad-YYYYMMDDTHHMMSSZ: never
 * deleted, so that nothing is lost that a person could still recover. */
static int move_aside(struct ntm_store *st, const char *why, char *err, size_t errlen)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    const char *suffixes[] = {"", "-wal", "-shm"};
    char dest[4200] = "";
    for (size_t i = 0; i < 3; i++) {
        char from[4096], to[4200];
        snprintf(from, sizeof from, "%s%s", st->cfg->storage.path, suffixes[i]);
        snprintf(to, sizeof to, "%s.bad-%s%s", st->cfg->storage.path, stamp, suffixes[i]);
        if (access(from, F_OK) != 0)
            continue;
        if (rename(from, to) != 0) {
            snprintf(err, errlen, "%s; moving it aside to %s failed: %s", why, to, strerror(errno));
            return -1;
        }
        if (i == 0)
            snprintf(dest, sizeof dest, "%s", to);
    }
    ntm_log_emit(st->log, LOG_ERR, NTM_MSGID_DB_MOVED_ASIDE, NULL, 0,
                 "%s: moved it aside to %s (kept, not deleted) and starting a fresh buffer", why,
                 dest);
    return 0;
}

int ntm_st_open_file(struct ntm_store *st, char *err, size_t errlen)
{
    int rc = check_dir(st->cfg->storage.path, err, errlen);
    if (rc == 0)
        rc = open_db(st, err, errlen);
    if (rc == 1) {
        /* not ours, or damaged: keep it for a person to look at, start afresh */
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        ntm_st_close_file(st);
        if (move_aside(st, why, err, errlen) != 0)
            return -1;
        rc = open_db(st, err, errlen);
        if (rc == 1)
            rc = -1;
    }
    return rc;
}

/* Where the tail journal lives: under systemd, in the service's runtime
 * directory ($RUNTIME_DIRECTORY, a tmpfs: RuntimeDirectory= with
 * RuntimeDirectoryPreserve=yes in the unit), where it survives a crash or a
 * kill -9 of the daemon and costs the SD card nothing; it need not survive a
 * reboot (a clean stop commits everything; a power cut is the database's
 * storage.sync_ms window). Elsewhere, beside the database: PATH-tail. */
char *ntm_st_tail_path(const char *db_path)
{
    const char *run = getenv("RUNTIME_DIRECTORY");
    char *p = NULL;
    if (run && run[0] == '/') {
        size_t dir_len = strcspn(run, ":"); /* the first of several */
        const char *base = strrchr(db_path, '/');
        base = base ? base + 1 : db_path;
        if (asprintf(&p, "%.*s/%s-tail", (int)dir_len, run, base) < 0)
            p = NULL;
    } else if (asprintf(&p, "%s-tail", db_path) < 0) {
        p = NULL;
    }
    return p;
}
