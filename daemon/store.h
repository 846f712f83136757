/* store.h: the durable buffer, one SQLite database in WAL mode, and the tail
 * journal beside it (PATH-tail, tail.h) holding what is not yet committed.
 * store.c owns the daemon's one write connection, its prepared statements, the
 * open transaction (many records per commit, committed once a second), the
 * tail journal written every storage.commit_ms, the once-a-second sync, the
 * size cap with oldest-first eviction, the bounded quarantine and the counters.
 * It must not parse messages or know about MQTT.
 *
 * Schema (version 1; ntmctl and the tests read it, so it is an interface):
 *   meta(key TEXT PRIMARY KEY, value)          schema_version, created_at, gateway_id
 *   devices(id INTEGER PRIMARY KEY, name TEXT UNIQUE, village TEXT, kind TEXT,
 *           declared INTEGER, first_seen INTEGER, last_seen INTEGER,
 *           last_ts INTEGER, messages INTEGER)  times: Unix s, gateway clock
 *   messages(id INTEGER PRIMARY KEY AUTOINCREMENT, -- acceptance order, never reused
 *           ts, recv_ms, device -> devices.id, channel, event, flags,
 *           online, interval_s, uptime_s,                  state / heartbeat
 *           start, duration_s, result, priority, source, program,   broadcast
 *           fault,                                          speaker fault
 *           recording, storage_free_pct,                    camera stats
 *           clients, new_sessions, rx_bytes, tx_bytes, mac_hashes)  wifi stats
 *        enums stored as the integers of record.h; mac_hashes is n x 8 bytes
 *        (little-endian keyed hashes), never a raw MAC.
 *   quarantine(id INTEGER PRIMARY KEY, recv_ms, topic, reason, detail, size)
 *        the newest storage.quarantine_max rejected messages; no payload bytes
 *        are kept (they may hold MACs, credentials or images).
 *   counters(name TEXT PRIMARY KEY, value INTEGER)
 *        accepted, clock_fallback, dropped, rejected.<reason>
 *   mac_keys(day INTEGER PRIMARY KEY, key BLOB)  the secret of each local day
 * Version 2 adds (aggregate.c, outbox.c and sync.c keep their rows here):
 *   devices gains online, uptime_today (as of the last aggregation snapshot)
 *   agg_state(id = 1, msg_id, saved_ms, state)  the aggregation snapshot and the
 *        last message folded into it; messages after it are replayed at start
 *   pending_rows(...)      indicator rows of closed windows not yet in a batch
 *   latest_rows(...)       the newest row per village/kind/period/name (ntmctl)
 *   alerts(id AUTOINCREMENT, ts, village, kind, device, type, detail, batch)
 *        batch NULL = not yet in a batch; id is the alert's stable number
 *   batches(seq, created_ms, body, n_rows, n_alerts, msg_hi, closed_upto)
 *        seq never reused; body NULL once every uplink delivered it
 *   deliveries(seq, uplink, state pending|delivered|quarantined, attempts,
 *        next_ms, last_error, done_ms)  one delivery cursor per uplink
 * Version 3 adds:
 *   deliveries gains server_due_ms: the earliest next try the server asked for
 *        (Retry-After, or the slow schedule after refused credentials); 0 = none.
 *        A delivery to the uplink makes its other waiting deliveries due now,
 *        but never before their server_due_ms (sync.c)
 * Version 4:
 *   messages(id INTEGER PRIMARY KEY, ...) without AUTOINCREMENT: the store
 *        gives each message its id (above max(id), meta 'msg_id_floor' and
 *        agg_state.msg_id), so ids are still never reused
 *   meta 'msg_id_floor'    the highest id when messages were last deleted
 *   alerts rows are deleted in the transaction that puts them in a batch (the
 *        batch body holds them); the alerts_pending index is gone, and the
 *        batch column stays NULL
 */
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

#define NTM_SCHEMA_VERSION 4

struct ntm_store;

struct ntm_store_stats {
    uint64_t buffered;       /* messages in the buffer */
    uint64_t accepted_total; /* ever accepted */
    uint64_t rejected_total;
    uint64_t rejected[NTM_REJ_COUNT];
    uint64_t dropped_total; /* evicted by the size cap */
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
};
void ntm_store_set_hooks(struct ntm_store *st, const struct ntm_store_hooks *h);
/* The records not in the database: those of a failed transaction (and since),
 * or those read back from the tail journal at open, after a crash. In order;
 * the caller frees each and the array; *n gets their number. They are to be
 * taken in again as new (folded, appended): nothing of them was committed. */
struct ntm_record **ntm_store_take_kept(struct ntm_store *st, size_t *n);

/* Opens (creating or migrating) the database of cfg->storage.path. */
int ntm_store_open(struct ntm_store **out, uv_loop_t *loop, const struct ntm_config *cfg,
                   struct ntm_log *log, struct ntm_clock *clock, char *err, size_t errlen);
/* True when the record's device is already known under another village or kind. */
bool ntm_store_device_conflict(struct ntm_store *st, const struct ntm_record *rec);
/* Adds one accepted record to the open transaction (begun on demand) and to
 * the tail journal, which is written within storage.commit_ms (what a crash
 * can lose); the commit follows at the next sync (storage.sync_ms) or at
 * storage.commit_max records. 1 when the device is known elsewhere. */
int ntm_store_append(struct ntm_store *st, const struct ntm_record *rec);
/* Counts and quarantines one rejected message (topic truncated, no payload). */
int ntm_store_reject(struct ntm_store *st, int64_t recv_ms, const char *topic, size_t topic_len,
                     enum ntm_reject reason, const char *detail, size_t payload_len);
/* The secret key of a local day, created on first use (an ntm_mac_key_fn). */
int ntm_store_mac_key(void *store, int64_t local_day, uint8_t key[16]);
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
/* The first column of the first row of a one-off query, or dflt (NULL, no row, error). */
int64_t ntm_store_scalar(struct ntm_store *st, const char *sql, int64_t dflt);
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
/* A new storage.sync_ms (reload). */
void ntm_store_set_sync_ms(struct ntm_store *st, int sync_ms);

/* Flushes and closes; safe on NULL. */
void ntm_store_close(struct ntm_store *st);

#endif
