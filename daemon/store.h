/* store.h: the durable buffer, one SQLite database in WAL mode.
 * store.c owns the daemon's one write connection, its prepared statements, the
 * open transaction (many records per commit), the once-a-second sync, the
 * size cap with oldest-first eviction, the bounded quarantine and the counters.
 * It must not parse messages or know about MQTT.
 *
 * Schema (version 1; ntmctl and the tests read it, so it is an interface):
 *   meta(key TEXT PRIMARY KEY, value)          schema_version, created_at, gateway_id
 *   devices(id INTEGER PRIMARY KEY, name TEXT UNIQUE, village TEXT, kind TEXT,
 *           declared INTEGER, first_seen INTEGER, last_seen INTEGER,
 *           last_ts INTEGER, messages INTEGER)  times: Unix s, gateway clock
 *   messages(id INTEGER PRIMARY KEY,  -- acceptance order; oldest = smallest
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
 */
#ifndef NTM_STORE_H
#define NTM_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "ingest.h"
#include "log.h"
#include "record.h"

#define NTM_SCHEMA_VERSION 1

struct ntm_store;

struct ntm_store_stats {
    uint64_t buffered;       /* messages in the buffer */
    uint64_t accepted_total; /* ever accepted */
    uint64_t rejected_total;
    uint64_t rejected[NTM_REJ_COUNT];
    uint64_t dropped_total; /* evicted by the size cap */
    uint64_t clock_fallback_total;
    uint64_t commits, syncs;
    uint64_t db_bytes; /* used pages, bytes */
    int disk_full;     /* 1 while writes fail for lack of space */
};

/* Opens (creating or migrating) the database of cfg->storage.path. */
int ntm_store_open(struct ntm_store **out, uv_loop_t *loop, const struct ntm_config *cfg,
                   struct ntm_log *log, char *err, size_t errlen);
/* Adds one accepted record to the open transaction (begun on demand); the
 * commit follows within storage.commit_ms or at storage.commit_max records. */
int ntm_store_append(struct ntm_store *st, const struct ntm_record *rec);
/* Counts and quarantines one rejected message (topic truncated, no payload). */
int ntm_store_reject(struct ntm_store *st, int64_t recv_ms, const char *topic, size_t topic_len,
                     enum ntm_reject reason, const char *detail, size_t payload_len);
/* The secret key of a local day, created on first use (an ntm_mac_key_fn). */
int ntm_store_mac_key(void *store, int64_t local_day, uint8_t key[16]);
/* Commits the open transaction now. 0 or -1. */
int ntm_store_commit(struct ntm_store *st);
/* Commits and makes everything durable (fsync); used at shutdown. */
int ntm_store_flush(struct ntm_store *st);
void ntm_store_stats(const struct ntm_store *st, struct ntm_store_stats *out);
/* Flushes and closes; safe on NULL. */
void ntm_store_close(struct ntm_store *st);

#endif
