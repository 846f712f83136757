/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store_space.c: room on the disk: free space, the reserve file, the size cap
 * with oldest-first eviction, the recovery after a failed write. It must not
 * write anything but evictions and the counters they move. */
#include "store_impl.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int ntm_st_space_prepare(struct ntm_store *st, char *err, size_t errlen)
{
    static const struct ntm_st_sql sql[] = {
        {ST_EVICT,
         "DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT ?)"},
    };
    return ntm_st_prepare(st, sql, sizeof sql / sizeof sql[0], err, errlen);
}

/* Free space on the database's filesystem; the low-water mark below which the
 * oldest messages are evicted as if the cap were reached (1/16 of the
 * filesystem, between 1 and 64 MiB), and the reserve file's size. */
static void check_space(struct ntm_store *st)
{
    struct statvfs v;
    char *dir = strdup(st->cfg->storage.path);
    if (!dir)
        return;
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    if (statvfs(slash ? dir : ".", &v) == 0) {
        st->stats.fs_free = (uint64_t)v.f_bavail * v.f_frsize;
        st->fs_size = (uint64_t)v.f_blocks * v.f_frsize;
    }
    free(dir);
}

static uint64_t low_water(const struct ntm_store *st)
{
    uint64_t lw = st->fs_size / 16;
    return lw < (1u << 20) ? (1u << 20) : lw > (64u << 20) ? (64u << 20) : lw;
}

static bool space_low(const struct ntm_store *st)
{
    return st->fs_size > 0 && st->stats.fs_free < low_water(st);
}

static uint64_t reserve_bytes(const struct ntm_store *st)
{
    uint64_t r = st->fs_size / 32;
    return r < (256u << 10) ? (256u << 10) : r > (4u << 20) ? (4u << 20) : r;
}

/* The reserve: a file freed when the disk is full so that a checkpoint and an
 * eviction can still be written; made again once there is room. It is judged
 * by its size, not by its name: after a power cut the name can be on the disk
 * while the size (never fsync'd: nothing depends on it) is not, leaving a file
 * of 0 bytes that would free nothing. */
void ntm_st_make_reserve(struct ntm_store *st)
{
    struct stat sb;
    if ((stat(st->reserve_path, &sb) == 0 && (uint64_t)sb.st_size >= reserve_bytes(st)) ||
        st->stats.fs_free < 4 * reserve_bytes(st))
        return;
    int fd = open(st->reserve_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (posix_fallocate(fd, 0, (off_t)reserve_bytes(st)) != 0) {
        close(fd);
        unlink(st->reserve_path);
        return;
    }
    close(fd);
}

/* Bytes in used pages; *file_bytes gets all pages (free ones included). */
static uint64_t used_bytes(struct ntm_store *st, uint64_t *file_bytes)
{
    sqlite3_stmt *s = NULL;
    uint64_t pages = 0, free_pages = 0, page_size = 4096;
    if (sqlite3_prepare_v2(st->db,
                           "SELECT (SELECT page_count FROM pragma_page_count),"
                           " (SELECT freelist_count FROM pragma_freelist_count),"
                           " (SELECT page_size FROM pragma_page_size)",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        pages = (uint64_t)sqlite3_column_int64(s, 0);
        free_pages = (uint64_t)sqlite3_column_int64(s, 1);
        page_size = (uint64_t)sqlite3_column_int64(s, 2);
    }
    sqlite3_finalize(s);
    *file_bytes = pages * page_size;
    return (pages - free_pages) * page_size;
}

/* Deletes the n oldest messages in the open transaction, counting them as
 * dropped; the highest id so far is kept first (meta msg_id_floor), so that
 * ids never go back even when every message is gone. How many went. */
static uint64_t evict_oldest(struct ntm_store *st, uint64_t n)
{
    if (ntm_store_meta_set(st, NTM_META_MSG_ID_FLOOR, st->last_msg_id) != 0)
        return 0;
    sqlite3_bind_int64(st->stmt[ST_EVICT], 1, (int64_t)n);
    uint64_t gone = 0;
    if (ntm_st_step_done(st->stmt[ST_EVICT]) == SQLITE_OK)
        gone = (uint64_t)sqlite3_changes(st->db);
    ntm_st_bump(st, C_DROPPED, (int64_t)gone);
    ntm_st_bump(st, C_BUFFERED, -(int64_t)gone);
    return gone;
}

/* Evicts the oldest messages while the buffer is over its cap, or while the
 * disk is below its low-water mark (freed pages are reused, so the file stops
 * growing). */
void ntm_st_enforce_cap(struct ntm_store *st)
{
    uint64_t cap = (uint64_t)st->cfg->storage.max_mb << 20;
    uint64_t file_bytes = 0;
    uint64_t used = used_bytes(st, &file_bytes);
    st->stats.db_bytes = used;
    check_space(st);
    bool low = space_low(st);
    if (low != (bool)st->stats.disk_low) {
        st->stats.disk_low = low;
        ntm_log_emit(st->log, low ? LOG_WARNING : LOG_NOTICE, NTM_MSGID_DISK_FULL, NULL, 0,
                     low ? "database %s: the disk is nearly full (%.1f MiB free): evicting the "
                           "oldest messages to keep room"
                         : "database %s: the disk has room again (%.1f MiB free)",
                     st->cfg->storage.path, (double)st->stats.fs_free / 1048576.0);
    }
    /* Low on disk: the buffer may not grow any more. Its footprint when the
     * disk went low (the file, free pages included, and the WAL, which the
     * checkpoints and recovery shrink) becomes the cap: free pages are filled
     * first, then evicting frees pages inside the file, which new rows reuse;
     * it gives nothing back to the filesystem, so shrinking further would only
     * throw data away while someone else holds the space. */
    if (low && st->frozen_cap == 0) {
        /* our footprint: the database's pages and the WAL beside them */
        struct stat wal;
        uint64_t wal_bytes = stat(st->wal_path, &wal) == 0 ? (uint64_t)wal.st_size : 0;
        st->frozen_cap = (file_bytes > used ? file_bytes : used) + wal_bytes;
    }
    if (!low)
        st->frozen_cap = 0;
    if (st->frozen_cap && st->frozen_cap < cap)
        cap = st->frozen_cap;
    if (used <= cap || st->counters[C_BUFFERED] == 0)
        return;
    /* Free about 1% of the cap beyond what is over, assuming the average row size. */
    uint64_t per_row = used / (st->counters[C_BUFFERED] + 1) + 1;
    uint64_t n = (used - cap + cap / 100) / per_row + 1;
    if (ntm_st_begin(st) != SQLITE_OK)
        return;
    uint64_t gone = evict_oldest(st, n);
    if (ntm_store_commit(st) != 0)
        return;
    uint64_t held = 0;
    if (ntm_complain(&st->cap_complaint, 60000, &held))
        ntm_log_emit(st->log, LOG_WARNING, NTM_MSGID_BUFFER_CAP, NULL, 0,
                     "buffer %s is %s: evicted the %" PRIu64 " oldest messages (%" PRIu64
                     " dropped in all); the uplink is behind",
                     st->cfg->storage.path, low ? "on a nearly full disk" : "over its size cap",
                     gone, st->counters[C_DROPPED]);
}

/* Tries to write again after a failure: frees the reserve, checkpoints the
 * WAL away, writes a small transaction (evicting the oldest messages when
 * space is still short); on success the owner gets its kept records back. */
void ntm_st_on_recover_timer(uv_timer_t *t)
{
    struct ntm_store *st = t->data;
    if (st->sync_busy)
        return;
    unlink(st->reserve_path);
    sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    check_space(st);
    st->failed = false; /* let begin/commit run; ntm_st_fail sets it again */
    bool short_of_space = st->stats.fs_free < low_water(st);
    uint64_t gone = 0;
    if (ntm_st_begin(st) != SQLITE_OK) {
        st->failed = true;
        return;
    }
    if (short_of_space && st->counters[C_BUFFERED] > 0)
        gone = evict_oldest(st, st->counters[C_BUFFERED] / 20 + 100);
    ntm_st_bump(st, C_ACCEPTED, 0);
    /* the kept records are not in this transaction: a plain COMMIT, which
     * leaves them in the tail journal */
    int rc = ntm_st_counters_write(st);
    if (rc == SQLITE_OK)
        rc = ntm_st_step_done(st->stmt[ST_COMMIT]);
    st->in_tx = false;
    if (rc != SQLITE_OK) {
        if (sqlite3_get_autocommit(st->db) == 0)
            ntm_st_step_done(st->stmt[ST_ROLLBACK]);
        ntm_st_reload_after_rollback(st);
        st->failed = true;
        return;
    }
    memset(st->counter_dirty, 0, sizeof st->counter_dirty);
    uv_timer_stop(&st->recover_timer);
    st->stats.disk_full = 0;
    ntm_log_emit(st->log, LOG_NOTICE, NTM_MSGID_DISK_FULL, NULL, 0,
                 "database %s: writes succeed again (%.1f MiB free, %" PRIu64
                 " oldest messages evicted); ingest resumes with the %zu kept messages",
                 st->cfg->storage.path, (double)st->stats.fs_free / 1048576.0, gone,
                 ntm_tail_count(st->tail));
    if (st->hooks.recovered)
        st->hooks.recovered(st->hooks.arg);
}

/* After a commit: a fast flood can fill a small disk between two sync ticks,
 * so the free space is looked at every few commits, and the sync tick (which
 * evicts) runs at once when it runs low. */
void ntm_st_space_after_commit(struct ntm_store *st)
{
    if (++st->commits_since_space_check < 8)
        return;
    st->commits_since_space_check = 0;
    check_space(st);
    if (space_low(st))
        uv_timer_start(&st->sync_timer, ntm_st_on_sync_timer, 0,
                       (uint64_t)st->cfg->storage.sync_ms);
}
