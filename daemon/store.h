/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store.h: the durable buffer's whole interface (store_impl.h is private): one
 * SQLite database in WAL mode, and the tail journal beside it (tail.h). It
 * must not parse messages or know about MQTT. */

/* The store owns the daemon's one write connection, its prepared statements,
 * the open transaction (many records per commit, committed once a second), the
 * tail journal written every storage.commit_ms, the once-a-second sync, the
 * size cap with oldest-first eviction, the bounded quarantine, the counters,
 * the device cache and the per-day MAC keys.
 *
 * Its files: store.c (open, close, hooks, figures), store_schema.c (every
 * table, index and meta key, the schema version, the migrations), store_open.c
 * (the file), store_append.c (the transaction, appends, the tail journal, the
 * kept records), store_devices.c (devices and counters), store_sync.c (the
 * fsync and checkpoints off the loop), store_space.c (free space, the reserve,
 * the size cap), store_keys.c (MAC keys), store_query.c (what the other parts
 * ask of it). */
#ifndef NTM_STORE_H
#define NTM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sqlite3.h>
#include <uv.h>

#include "clock.h"
#include "config.h"
#include "ingest.h"
#include "log.h"
#include "record.h"

#define NTM_SCHEMA_VERSION 6 /* the tables of each version: store_schema.c */

struct ntm_store;

struct ntm_store_stats {
    uint64_t buffered;       /* messages in the buffer */
    uint64_t accepted_total; /* ever accepted */
    uint64_t rejected_total;
    uint64_t rejected[NTM_REJ_COUNT];
    uint64_t dropped_total; /* evicted by the size cap, or not stored (no memory) */
    uint64_t clock_fallback_total;
    uint64_t late_total;
    uint64_t commits, syncs;
    uint64_t commit_ns_total, commit_ns_max; /* time the loop spent in COMMIT */
    uint64_t ckpt_tail_ns_max;               /* the longest end of a checkpoint done on the loop */
    uint64_t ckpt_clean;                     /* checkpoints that needed no step on the loop */
    uint64_t db_bytes;                       /* used pages, bytes */
    int disk_full;    /* 1 while writes fail (for lack of space): ingest paused */
    int disk_low;     /* 1 while free space is below the low-water mark */
    uint64_t fs_free; /* bytes free on the database's filesystem */
};

/* What the store tells its owner when a write fails (disk full, I/O error)
 * and when writes work again. While failed, the owner should stop taking
 * messages in (the broker keeps them); the records of the failed transaction
 * are kept in memory and handed back with ntm_store_take_kept() on recovery. */
struct ntm_store_hooks {
    void *arg;
    void (*failed)(void *arg);
    void (*recovered)(void *arg);
    /* more commits are durable (ntm_store_durable): what waited for them may go */
    void (*durable)(void *arg);
};
void ntm_store_set_hooks(struct ntm_store *st, const struct ntm_store_hooks *h);
/* The records not in the database: those of a failed transaction (and since),
 * or those read back from the tail journal at open, after a crash. In order;
 * the caller frees each and the array; *n gets their number. They are to be
 * taken in again as new (folded, appended): nothing of them was committed. */
struct ntm_record **ntm_store_take_kept(struct ntm_store *st, size_t *n);
/* Every kept record was fed back (appended or rejected): the tail journal may
 * start over at the next commit. Until then it keeps them. */
void ntm_store_kept_fed(struct ntm_store *st);

/* Opens (creating or migrating) the database of cfg->storage.path. */
int ntm_store_open(struct ntm_store **out, uv_loop_t *loop, const struct ntm_config *cfg,
                   struct ntm_log *log, struct ntm_clock *clock, char *err, size_t errlen);
/* True when the record's device is already known under another village or kind. */
bool ntm_store_device_conflict(struct ntm_store *st, const struct ntm_record *rec);
/* True when `device` is not known yet and storage.max_undeclared_devices devices
 * outside the inventory are known already: its message is to be rejected. */
bool ntm_store_undeclared_full(struct ntm_store *st, const char *device);
/* Adds one accepted record to the tail journal (a mapped file: safe from a
 * crash of the process once this returns) and to the open transaction (begun
 * on demand); the commit follows at the next sync (storage.sync_ms), at
 * storage.commit_max records, or when none came for storage.commit_ms.
 * 0 stored (or kept after a failed write, see the hooks); 1 not stored: the
 * device is known under another village or kind (the caller rejects it as
 * device_conflict); -1 not stored for lack of memory or journal space
 * (counted as dropped). */
int ntm_store_append(struct ntm_store *st, const struct ntm_record *rec);
/* The same for a record brought by a broker delivery whose key
 * (ntm_tail_delivery_key) goes into its journal entry. */
int ntm_store_append_delivery(struct ntm_store *st, const struct ntm_record *rec, uint64_t key);
/* True when a delivery of this key was already taken in (by this run or one
 * killed before it): a QoS 1 message the broker sent again. */
bool ntm_store_delivered_before(const struct ntm_store *st, uint64_t key);
/* Marks a delivery as taken in, once its message was stored or rejected. */
void ntm_store_note_delivery(struct ntm_store *st, uint64_t key);
/* The broker started a new session: forget the deliveries of the old one. */
void ntm_store_forget_deliveries(struct ntm_store *st);
/* Counts and quarantines one rejected message (topic truncated, no payload). */
int ntm_store_reject(struct ntm_store *st, int64_t recv_ms, const char *topic, size_t topic_len,
                     enum ntm_reject reason, const char *detail, size_t payload_len);
/* The secret key of a local day, created on first use (an ntm_mac_key_fn). */
int ntm_store_mac_key(void *store, int64_t local_day, uint8_t key[16]);
/* The durable ticket of what was written so far: the number of the commit that
 * holds it (the open transaction's when one is open). With synchronous=NORMAL a
 * commit is only in the page cache until the next sync (storage.sync_ms): a
 * power cut before it takes the commit back. So what leaves the gateway on the
 * strength of a commit (a batch sent upstream) must wait for
 * ntm_store_durable(ticket); the hooks' `durable` says when to look again.
 * What the file held at open counts as commit 1, durable after the first sync. */
uint64_t ntm_store_ticket(const struct ntm_store *st);
bool ntm_store_durable(const struct ntm_store *st, uint64_t ticket);
/* Commits the open transaction now. 0 or -1. */
int ntm_store_commit(struct ntm_store *st);
/* Commits and makes everything durable (fsync), then empties the tail
 * journal; used at shutdown. */
int ntm_store_flush(struct ntm_store *st);
void ntm_store_stats(const struct ntm_store *st, struct ntm_store_stats *out);
/* ---- for the parts that keep their own tables in the buffer ---- */
/* The connection (loop thread only); statements on it join the batched
 * transaction by calling ntm_store_begin() before writing. */
sqlite3 *ntm_store_db(struct ntm_store *st);
int ntm_store_begin(struct ntm_store *st);
/* The keys of the meta table, each declared once: its name is in
 * store_schema.c, and every value is an integer. Read and written only with
 * the accessors below. */
enum ntm_meta {
    NTM_META_SCHEMA_VERSION,  /* the store, at each migration: as PRAGMA user_version */
    NTM_META_CREATED_AT,      /* the store, when it made the file: Unix s */
    NTM_META_MSG_ID_FLOOR,    /* the store, with every delete: the highest message id then */
    NTM_META_LAST_SEQ,        /* outbox.c: the seq of the last batch formed */
    NTM_META_CLOSED_DAY_UPTO, /* outbox.c: the end of the last local day closed */
    NTM_META_RELEASED_UPTO,   /* sync.c: the closed_upto of the last release */
    NTM_META_DEVICE_ID_FLOOR, /* the store, at each forget: the highest device row id then */
    NTM_META_COUNT
};
/* The key's name in the table ("last_seq"), NULL when out of range. */
const char *ntm_store_meta_name(enum ntm_meta k);
/* The value, or dflt when there is none (or on error). */
int64_t ntm_store_meta_get(struct ntm_store *st, enum ntm_meta k, int64_t dflt);
/* Sets the value in the open transaction (begun on demand); committed with
 * it. 0, or -1 (logged). */
int ntm_store_meta_set(struct ntm_store *st, enum ntm_meta k, int64_t value);
/* The first column of the first row of a one-off query, or dflt (NULL, no row, error). */
int64_t ntm_store_scalar(struct ntm_store *st, const char *sql, int64_t dflt);
/* Runs one statement whose one parameter (?1) is `arg`, in the open
 * transaction (begun on demand): the rows it changed, or -1 (the connection's
 * error says why). */
int64_t ntm_store_run(struct ntm_store *st, const char *sql, int64_t arg);
/* rowid of the last message appended (0 before any) */
int64_t ntm_store_last_msg_id(const struct ntm_store *st);
/* Calls fn for every device in the devices table. */
void ntm_store_each_device(struct ntm_store *st,
                           void (*fn)(void *arg, const char *name, int village, int kind),
                           void *arg);
/* Feeds fn the messages with id > after_id, in order, as records (village as
 * the config index; messages of villages no longer configured are skipped). */
int ntm_store_replay(struct ntm_store *st, int64_t after_id,
                     void (*fn)(void *arg, const struct ntm_record *rec, int64_t id), void *arg);
/* False while the database lacks records the aggregation has folded (writes
 * fail, or records are held during a checkpoint): no snapshot then. */
bool ntm_store_snapshot_ok(const struct ntm_store *st);
/* The aggregation snapshot, saved in the open transaction; -1 when not ok. */
int ntm_store_save_agg(struct ntm_store *st, int64_t msg_id, const void *blob, size_t len);
/* 0 with a malloc'd blob, 1 when there is none, -1 on error. */
int ntm_store_load_agg(struct ntm_store *st, int64_t *msg_id, void **blob, size_t *len);
/* Destroys the MAC hashing keys of local days before `day`. */
int ntm_store_forget_mac_keys(struct ntm_store *st, int64_t day);
/* Removes delivered messages: id <= msg_hi and ts < ts_before. Returns how many. */
int64_t ntm_store_release(struct ntm_store *st, int64_t msg_hi, int64_t ts_before);

/* A device's availability as the aggregation sees it (online -1 = unknown,
 * uptime_today < 0 = unknown), for ntmctl devices. */
int ntm_store_device_state(struct ntm_store *st, const char *name, int online, double uptime_today);
/* ---- forgetting devices (ntmctl forget) ---- */
enum ntm_forget { NTM_FORGOTTEN, NTM_FORGET_UNKNOWN, NTM_FORGET_DECLARED, NTM_FORGET_COUNT };
/* "forgotten", "unknown", "declared": the result column of forget_requests. */
const char *ntm_forget_name(enum ntm_forget r);
struct ntm_forget_request {
    int64_t id;
    char device[NTM_DEVICE_ID_MAX + 1];
};
/* The oldest (at most max) requests not done yet, in out; their number, or -1. */
int ntm_store_forget_pending(struct ntm_store *st, struct ntm_forget_request *out, int max);
/* Forgets an undeclared device in the open transaction: its row leaves the
 * devices table and the cache (its messages stay, tied to a row id never given
 * again), so it no longer counts against storage.max_undeclared_devices and a
 * later message makes it new. Declared or unknown ones are left alone.
 * -1 when the write failed. */
int ntm_store_forget_device(struct ntm_store *st, const char *name, enum ntm_forget *result);
/* Marks the request done, with its result, in the open transaction. 0 or -1. */
int ntm_store_forget_done(struct ntm_store *st, int64_t id, enum ntm_forget r, int64_t now_ms);
/* A new storage.sync_ms (reload). */
void ntm_store_set_sync_ms(struct ntm_store *st, int sync_ms);

/* Flushes and closes; safe on NULL. */
void ntm_store_close(struct ntm_store *st);

#endif
