/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store_impl.h: the store's private state, shared by the store_*.c files and
 * by nothing else (the rest of the daemon uses store.h). Each file owns the
 * fields its concern names below; the functions here are their seams. */
#ifndef NTM_STORE_IMPL_H
#define NTM_STORE_IMPL_H

#include "store.h"
#include "log.h"
#include "tail.h"

/* ---- counters (store_devices.c) ------------------------------------------- */

enum ntm_st_counter {
    C_ACCEPTED,
    C_CLOCK_FALLBACK,
    C_DROPPED,
    C_BUFFERED,
    C_LATE,
    C_REJECTED0, /* + enum ntm_reject */
    C_COUNT = C_REJECTED0 + NTM_REJ_COUNT
};

/* ---- the device cache (store_devices.c) ------------------------------------- */

struct ntm_st_device {
    char name[NTM_DEVICE_ID_MAX + 1];
    char village[NTM_VILLAGE_ID_MAX + 1];
    int64_t rowid; /* 0 until its row is written */
    uint8_t kind;
    bool dirty;
    int64_t last_seen, last_ts, first_seen;
    uint64_t new_messages; /* accepted since the last commit */
};

/* ---- one cached MAC key (store_keys.c) -------------------------------------- */

struct ntm_st_key {
    int64_t day; /* INT64_MIN when empty */
    uint8_t key[16];
};
#define NTM_ST_KEYS 3

/* ---- the prepared statements: each file prepares its own at open ----------- */

enum ntm_st_stmt {
    ST_BEGIN,           /* store_append.c */
    ST_COMMIT,          /* store_append.c */
    ST_ROLLBACK,        /* store_append.c */
    ST_MSG,             /* store_append.c */
    ST_QUARANTINE,      /* store_append.c */
    ST_QUARANTINE_TRIM, /* store_append.c */
    ST_COUNTER,         /* store_devices.c */
    ST_DEV_INSERT,      /* store_devices.c */
    ST_DEV_UPDATE,      /* store_devices.c */
    ST_DEV_STATE,       /* store_devices.c */
    ST_KEY_GET,         /* store_keys.c */
    ST_KEY_PUT,         /* store_keys.c */
    ST_EVICT,           /* store_space.c */
    ST_META_GET,        /* store_schema.c */
    ST_META_SET,        /* store_schema.c */
    ST_COUNT
};

struct ntm_st_sql {
    enum ntm_st_stmt id;
    const char *sql;
};

struct ntm_store {
    struct ntm_complaint new_device_complaint; /* "new device" lines: once a minute */
    uv_loop_t *loop;
    const struct ntm_config *cfg;
    struct ntm_log *log;
    struct ntm_clock *clock; /* the daemon's one clock: the times the store writes */
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    int last_rc; /* of the last exec/prepare, to tell a bad file from other errors */
    struct ntm_store_hooks hooks;
    struct ntm_store_stats stats;

    /* store_append.c: the open transaction, the tail journal, the kept records */
    bool in_tx;
    uint32_t pending; /* statements in the open transaction */
    bool quarantine_added;
    bool failed;
    int64_t last_msg_id;      /* id of the last message inserted */
    int64_t committed_msg_id; /* ... and of the last one committed */
    int64_t next_id;          /* the id the next record gets in the tail journal */
    /* The records since the last commit, in memory and in the tail journal
     * file: read back after a crash, and handed back to the owner after a
     * failed write. Records read back at start wait in `recovered`. */
    struct ntm_tail *tail;
    char *tail_path;
    struct ntm_record **recovered;
    size_t n_recovered;
    bool kept_out; /* kept records handed to the owner and not yet all fed back */
    struct ntm_complaint tail_complaint;
    uv_timer_t tail_timer; /* commits storage.commit_ms after the last append */
    bool tail_added;       /* a record was added since the timer last ran */
    uv_timer_t recover_timer;
    /* While the worker checkpoints, new records wait in the tail journal
     * instead of opening a transaction: if nothing reads or writes the
     * database meanwhile, the WAL is found fully copied and starts over at the
     * next commit, with no checkpoint step (and no fsync) on the loop. */
    size_t held_mark; /* where the held records start in the tail's memory */
    uint32_t held;
    bool hold;        /* records are being held */
    bool hold_broken; /* something began a transaction meanwhile */
    bool releasing;   /* the held records are being inserted: no commit */

    /* store_devices.c */
    uint64_t counters[C_COUNT];
    bool counter_dirty[C_COUNT];
    struct ntm_st_device *devs; /* open addressing, power-of-two capacity */
    size_t devs_cap, devs_len;

    /* store_keys.c */
    struct ntm_st_key keys[NTM_ST_KEYS];
    bool keys_dirty; /* cached MAC keys may be missing from the database */

    /* store_sync.c */
    char *wal_path;
    int wal_fd; /* for fdatasync off the loop; -1 until the WAL exists */
    uv_timer_t sync_timer;
    uv_work_t sync_work;
    bool sync_busy;       /* a sync is running on the worker */
    bool sync_checkpoint; /* the running sync is a checkpoint */
    int sync_result;
    uint64_t commits_since_sync;
    uint64_t commit_no;                  /* commits made (1: what the file held at open) */
    uint64_t durable_upto;               /* commits known to be on the disk */
    uint64_t sync_upto;                  /* the commits the running sync covers */
    sqlite3 *ckpt_db;                    /* used only on the worker thread */
    int ckpt_rc, ckpt_frames, ckpt_done; /* the last checkpoint, from the worker */
    bool ckpt_ready;                     /* ckpt_db has read the database */
    int wal_frames;                      /* frames in the WAL after the last commit */

    /* store_space.c */
    unsigned commits_since_space_check;
    uint64_t frozen_cap; /* the size at which the disk ran low; 0 when it has room */
    char *reserve_path;  /* a small file freed to make room when the disk fills */
    uint64_t fs_size;
    struct ntm_complaint cap_complaint;
};

/* ---- store_open.c: the file, its connection and SQLite helpers -------------- */

/* Runs SQL text; -1 with err ("PATH: why") set (err may be NULL). */
int ntm_st_exec(struct ntm_store *st, const char *sql, char *err, size_t errlen);
/* Prepares a file's statements for the connection's life. */
int ntm_st_prepare(struct ntm_store *st, const struct ntm_st_sql *list, size_t n, char *err,
                   size_t errlen);
/* Runs a prepared statement that returns no rows, and resets it: SQLITE_OK or the error. */
int ntm_st_step_done(sqlite3_stmt *s);
/* Checks the directory, opens (or makes) the database, moving a bad or foreign
 * file aside; 0, or -1 with err set. */
int ntm_st_open_file(struct ntm_store *st, char *err, size_t errlen);
/* Finalizes every statement and closes the connection; forgets the caches. */
void ntm_st_close_file(struct ntm_store *st);
/* The tail journal's path for a database path (malloc'd; NULL on no memory). */
char *ntm_st_tail_path(const char *db_path);

/* ---- store_schema.c -------------------------------------------------------- */

/* Reads the file's schema version (writing nothing): 0 with *version, or -1
 * with err when it is unreadable or newer than this daemon's. */
int ntm_st_schema_check(struct ntm_store *st, int *version, char *err, size_t errlen);
/* Takes the file from `version` to NTM_SCHEMA_VERSION, a transaction a step. */
int ntm_st_migrate(struct ntm_store *st, int version, char *err, size_t errlen);
/* The SQL of the migration step from `version` to version + 1 (NULL out of
 * range): for the unit test, which builds files of the older versions. */
const char *ntm_st_migration(int version);
/* The meta statements, once the schema is current. */
int ntm_st_schema_prepare(struct ntm_store *st, char *err, size_t errlen);

/* ---- store_append.c ------------------------------------------------------- */

int ntm_st_append_prepare(struct ntm_store *st, char *err, size_t errlen);
/* Begins the batched transaction unless one is open: SQLITE_OK or the error. */
int ntm_st_begin(struct ntm_store *st);
/* A write failed: roll back, keep the records, tell the owner, start recovery. */
void ntm_st_fail(struct ntm_store *st, int rc, const char *what);
/* The database is as it was at the last commit: make memory say the same. */
void ntm_st_reload_after_rollback(struct ntm_store *st);
/* The checkpoint is done: insert the records held meanwhile. */
void ntm_st_release_hold(struct ntm_store *st);
/* Reads back what a crash left in the tail journal, for ntm_store_take_kept(). */
void ntm_st_recover_tail(struct ntm_store *st);

/* ---- store_devices.c (devices and counters) ------------------------------- */

int ntm_st_devices_prepare(struct ntm_store *st, char *err, size_t errlen);
/* Reads the devices and counters, and adds the declared devices' rows. */
int ntm_st_devices_load(struct ntm_store *st, char *err, size_t errlen);
/* Finds or adds (in memory only) a device; NULL on allocation failure. */
struct ntm_st_device *ntm_st_device_get(struct ntm_store *st, const char *name, bool *is_new);
int ntm_st_device_insert_row(struct ntm_store *st, struct ntm_st_device *d, bool declared);
/* Writes the dirty devices and counters into the open transaction. */
int ntm_st_devices_write(struct ntm_store *st);
/* Their rows are committed: nothing is dirty. */
void ntm_st_devices_committed(struct ntm_store *st);
void ntm_st_bump(struct ntm_store *st, enum ntm_st_counter c, int64_t by);
int ntm_st_counters_write(struct ntm_store *st);

/* ---- store_keys.c ----------------------------------------------------------- */

int ntm_st_keys_prepare(struct ntm_store *st, char *err, size_t errlen);
/* Writes the cached keys again after a rollback (when keys_dirty). */
void ntm_st_keys_rewrite(struct ntm_store *st);

/* ---- store_sync.c ----------------------------------------------------------- */

/* The sync tick: eviction, the commit, then an fdatasync or a checkpoint. */
void ntm_st_on_sync_timer(uv_timer_t *t);
/* Opens the WAL for fdatasync once it exists. */
void ntm_st_open_wal_fd(struct ntm_store *st);
/* SQLite's WAL hook: the WAL's size after each commit. */
int ntm_st_on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames);
/* Waits for a sync still on the worker, then closes the worker's connection. */
void ntm_st_sync_stop(struct ntm_store *st);

/* ---- store_space.c ---------------------------------------------------------- */

int ntm_st_space_prepare(struct ntm_store *st, char *err, size_t errlen);
/* Makes the reserve file when there is room for it. */
void ntm_st_make_reserve(struct ntm_store *st);
/* Evicts the oldest messages while over the cap or low on disk. */
void ntm_st_enforce_cap(struct ntm_store *st);
/* Looks at the free space every few commits; runs the sync tick at once when low. */
void ntm_st_space_after_commit(struct ntm_store *st);
/* After a failed write, every second: make room and try a small commit. */
void ntm_st_on_recover_timer(uv_timer_t *t);

#endif
