/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store_sync.c: commits made durable off the loop: the sync tick, fdatasync or
 * a WAL checkpoint on the worker (its own connection), a checkpoint's end on
 * the loop. It must not fsync on the loop, nor use the loop's connection there. */
#include "store_impl.h"

#include <fcntl.h>
#include <unistd.h>

#define CHECKPOINT_BYTES (4u << 20)      /* checkpoint once the WAL holds this much... */
#define CHECKPOINT_MIN_BYTES (64u << 10) /* ...or less when the disk is nearly full */

int ntm_st_on_wal_commit(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((struct ntm_store *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

static uint64_t checkpoint_threshold(const struct ntm_store *st)
{
    uint64_t t = st->stats.fs_free / 4;
    return t < CHECKPOINT_MIN_BYTES ? CHECKPOINT_MIN_BYTES
           : t > CHECKPOINT_BYTES   ? CHECKPOINT_BYTES
                                    : t;
}

/* On the worker thread: only st's sync_* and ckpt_* fields, and ckpt_db. */
static void sync_work(uv_work_t *w)
{
    struct ntm_store *st = w->data;
    st->sync_result = 0;
    if (st->sync_checkpoint) {
        if (!st->ckpt_db &&
            sqlite3_open_v2(st->cfg->storage.path, &st->ckpt_db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
            st->sync_result = -1;
            return;
        }
        sqlite3_busy_timeout(st->ckpt_db, 100);
        /* A connection that has not read the database yet does not know it is
         * in WAL mode, and its checkpoint is a no-op ("-1 frames"): read once. */
        if (!st->ckpt_ready) {
            if (sqlite3_exec(st->ckpt_db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) !=
                SQLITE_OK) {
                st->sync_result = -1;
                st->ckpt_rc = sqlite3_errcode(st->ckpt_db);
                return;
            }
            st->ckpt_ready = true;
        }
        /* PASSIVE never blocks the writer: the bulk of the copy and both
         * fsyncs happen here, off the loop; sync_done finishes the job. */
        int frames = 0, done = 0;
        int rc =
            sqlite3_wal_checkpoint_v2(st->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &done);
        st->sync_result = rc == SQLITE_OK ? 0 : -1;
        st->ckpt_rc = rc;
        st->ckpt_frames = frames;
        st->ckpt_done = done;
    }
    /* The WAL itself, also after a checkpoint: a PASSIVE one may leave frames
     * it could not copy, and they must be on the disk before the commits they
     * hold count as durable. After a full checkpoint nothing is dirty: cheap. */
    if (st->sync_result == 0 && st->wal_fd >= 0)
        st->sync_result = fdatasync(st->wal_fd);
}

static void sync_done(uv_work_t *w, int status)
{
    struct ntm_store *st = w->data;
    (void)status;
    st->sync_busy = false;
    bool more_durable = false;
    if (st->sync_result == 0) {
        st->stats.syncs++;
        more_durable = st->sync_upto > st->durable_upto;
        if (more_durable)
            st->durable_upto = st->sync_upto;
    }
    /* Nothing touched the database while the worker copied the WAL (the new
     * records were held): all of it is in the database file, and the next
     * commit starts the WAL over. */
    bool clean = st->hold && !st->hold_broken && !st->in_tx && st->commits_since_sync == 0 &&
                 st->ckpt_done == st->ckpt_frames;
    if (st->sync_checkpoint && st->ckpt_rc == SQLITE_OK && !clean) {
        /* Otherwise (a transaction was open, or some part wrote meanwhile) the
         * WAL is never found fully copied when the next one begins, and it would
         * grow for ever. So, on the loop: commit, and copy the few frames
         * committed since the worker's pass; the next transaction then starts
         * the WAL over. */
        ntm_store_commit(st);
        uint64_t t0 = uv_hrtime();
        sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        uint64_t ns = uv_hrtime() - t0;
        if (ns > st->stats.ckpt_tail_ns_max)
            st->stats.ckpt_tail_ns_max = ns;
    }
    if (st->sync_checkpoint) {
        st->stats.ckpt_clean += clean;
        ntm_logf(st->log, st->ckpt_rc == SQLITE_OK ? LOG_DEBUG : LOG_WARNING,
                 "database %s: checkpoint: %s, %d of %d WAL frames copied into the database%s",
                 st->cfg->storage.path, sqlite3_errstr(st->ckpt_rc), st->ckpt_done, st->ckpt_frames,
                 clean ? " (nothing written meanwhile: no step on the loop)" : "");
    }
    ntm_st_release_hold(st);
    if (more_durable && st->hooks.durable)
        st->hooks.durable(st->hooks.arg);
}

uint64_t ntm_store_ticket(const struct ntm_store *st)
{
    return st->commit_no + (st->in_tx ? 1 : 0);
}

bool ntm_store_durable(const struct ntm_store *st, uint64_t ticket)
{
    return ticket <= st->durable_upto;
}

void ntm_st_open_wal_fd(struct ntm_store *st)
{
    if (st->wal_fd < 0)
        st->wal_fd = open(st->wal_path, O_RDONLY | O_CLOEXEC);
}

void ntm_st_on_sync_timer(uv_timer_t *t)
{
    struct ntm_store *st = t->data;
    if (st->failed)
        return; /* the recover timer has the database */
    ntm_st_enforce_cap(st);
    ntm_st_make_reserve(st);
    /* the commit of the records since the last tick: SQLite writes their pages
     * to the WAL once a second instead of every few tens of ms (the tail
     * journal covers a crash in between) */
    ntm_store_commit(st);
    if (st->sync_busy ||
        (st->commits_since_sync == 0 && !st->stats.disk_low && st->durable_upto == st->commit_no))
        return;
    ntm_st_open_wal_fd(st);
    /* the frames in the WAL since it was last reset (the file keeps its size) */
    uint64_t wal_bytes = (uint64_t)st->wal_frames * 4096;
    st->sync_checkpoint = wal_bytes >= checkpoint_threshold(st);
    st->commits_since_sync = 0;
    st->sync_upto = st->commit_no; /* the tick's commit is done: no transaction is open */
    st->sync_busy = true;
    st->sync_work.data = st;
    if (uv_queue_work(st->loop, &st->sync_work, sync_work, sync_done) != 0) {
        st->sync_busy = false;
        return;
    }
    if (st->sync_checkpoint && !st->in_tx) {
        st->hold = true;
        st->hold_broken = false;
        st->held = 0;
        st->held_mark = ntm_tail_mark(st->tail);
    }
}

void ntm_store_set_sync_ms(struct ntm_store *st, int sync_ms)
{
    uv_timer_start(&st->sync_timer, ntm_st_on_sync_timer, (uint64_t)sync_ms, (uint64_t)sync_ms);
}

/* Waits for a sync still on the worker, then closes the worker's connection. */
void ntm_st_sync_stop(struct ntm_store *st)
{
    while (st->sync_busy)
        uv_run(st->loop, UV_RUN_ONCE);
    if (st->ckpt_db)
        sqlite3_close(st->ckpt_db);
    st->ckpt_db = NULL;
}
