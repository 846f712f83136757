/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store.c: the buffer's life cycle: open (file, message ids, tail journal,
 * timers), flush and close, the owner's hooks and the figures. The work is the
 * store_*.c files'; this one must not write to the database itself. */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ntm_store_set_hooks(struct ntm_store *st, const struct ntm_store_hooks *h)
{
    st->hooks = *h;
}

/* Ids are never reused: the next is above every message, every message ever
 * deleted (meta msg_id_floor) and the aggregation snapshot's. */
static int64_t highest_msg_id(struct ntm_store *st)
{
    int64_t hi = ntm_store_scalar(st, "SELECT max(id) FROM messages", 0);
    int64_t floor = ntm_store_meta_get(st, NTM_META_MSG_ID_FLOOR, 0);
    int64_t agg = ntm_store_scalar(st, "SELECT msg_id FROM agg_state WHERE id = 1", 0);
    if (floor > hi)
        hi = floor;
    return agg > hi ? agg : hi;
}

int ntm_store_open(struct ntm_store **out, uv_loop_t *loop, const struct ntm_config *cfg,
                   struct ntm_log *log, struct ntm_clock *clock, char *err, size_t errlen)
{
    struct ntm_store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->loop = loop;
    st->cfg = cfg;
    st->log = log;
    st->clock = clock;
    st->wal_fd = -1;
    st->commit_no = 1; /* what the file holds: durable after the first sync */
    for (int i = 0; i < NTM_ST_KEYS; i++)
        st->keys[i].day = INT64_MIN;
    if (asprintf(&st->wal_path, "%s-wal", cfg->storage.path) < 0) {
        free(st);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uv_timer_init(loop, &st->tail_timer);
    uv_timer_init(loop, &st->sync_timer);
    uv_timer_init(loop, &st->recover_timer);
    st->tail_timer.data = st;
    st->sync_timer.data = st;
    st->recover_timer.data = st;
    if (asprintf(&st->reserve_path, "%s-reserve", cfg->storage.path) < 0)
        st->reserve_path = NULL;
    st->tail_path = ntm_st_tail_path(cfg->storage.path);
    *out = st;

    if (ntm_st_open_file(st, err, errlen) != 0)
        return -1;
    st->last_msg_id = highest_msg_id(st);
    st->committed_msg_id = st->last_msg_id;
    st->next_id = st->last_msg_id + 1;
    if (!st->tail_path || !st->reserve_path) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    bool foreign = false;
    if (ntm_tail_open(&st->tail, st->tail_path, &foreign, err, errlen) != 0)
        return -1;
    if (foreign)
        ntm_logf(st->log, LOG_WARNING,
                 "tail journal %s: written by another version of the daemon; not read, started "
                 "afresh",
                 st->tail_path);
    ntm_logf(st->log, LOG_INFO,
             "database %s: each message is journalled in %s (a mapped file) as it is accepted, "
             "and committed to the database within %d ms",
             cfg->storage.path, st->tail_path, cfg->storage.sync_ms);
    ntm_st_recover_tail(st);
    ntm_st_open_wal_fd(st);
    ntm_st_enforce_cap(st);
    ntm_st_make_reserve(st);
    uv_timer_start(&st->sync_timer, ntm_st_on_sync_timer, (uint64_t)cfg->storage.sync_ms,
                   (uint64_t)cfg->storage.sync_ms);
    return 0;
}

int ntm_store_flush(struct ntm_store *st)
{
    int rc = ntm_store_commit(st);
    ntm_st_open_wal_fd(st);
    if (st->wal_fd >= 0 && fdatasync(st->wal_fd) != 0)
        rc = -1;
    if (rc == 0 && !st->in_tx)
        st->durable_upto = st->commit_no;
    /* all committed and durable: a clean stop leaves an empty tail journal */
    if (rc == 0 && !st->failed && st->n_recovered == 0 && ntm_tail_count(st->tail) == 0)
        ntm_tail_clear(st->tail);
    return rc;
}

void ntm_store_stats(const struct ntm_store *st, struct ntm_store_stats *out)
{
    *out = st->stats;
    out->accepted_total = st->counters[C_ACCEPTED];
    out->buffered = st->counters[C_BUFFERED];
    out->dropped_total = st->counters[C_DROPPED];
    out->clock_fallback_total = st->counters[C_CLOCK_FALLBACK];
    out->late_total = st->counters[C_LATE];
    out->rejected_total = 0;
    for (int r = 0; r < NTM_REJ_COUNT; r++) {
        out->rejected[r] = st->counters[C_REJECTED0 + r];
        out->rejected_total += out->rejected[r];
    }
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h;
}

void ntm_store_close(struct ntm_store *st)
{
    if (!st)
        return;
    if (st->db && st->tail)
        ntm_store_flush(st);
    ntm_st_sync_stop(st); /* a sync still on the worker finishes first */
    ntm_st_close_file(st);
    if (st->wal_fd >= 0)
        close(st->wal_fd);
    explicit_bzero(st->keys, sizeof st->keys);
    uv_close((uv_handle_t *)&st->tail_timer, on_handle_closed);
    uv_close((uv_handle_t *)&st->sync_timer, on_handle_closed);
    uv_close((uv_handle_t *)&st->recover_timer, on_handle_closed);
    /* the handles live in st: run the loop until their close callbacks ran */
    uv_run(st->loop, UV_RUN_NOWAIT);
    free(st->wal_path);
    free(st->reserve_path);
    ntm_tail_close(st->tail);
    free(st->tail_path);
    for (size_t i = 0; i < st->n_recovered; i++)
        free(st->recovered[i]);
    free(st->recovered);
    free(st->devs);
    free(st);
}

/* ---- for the parts that keep their own tables in the buffer ------------------------ */

sqlite3 *ntm_store_db(struct ntm_store *st)
{
    return st->db;
}

int ntm_store_begin(struct ntm_store *st)
{
    return ntm_st_begin(st) == SQLITE_OK ? 0 : -1;
}

int64_t ntm_store_last_msg_id(const struct ntm_store *st)
{
    return st->last_msg_id;
}

bool ntm_store_snapshot_ok(const struct ntm_store *st)
{
    return !st->failed && !st->hold;
}
