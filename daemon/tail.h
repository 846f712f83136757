/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tail.h: the tail journal, a file beside the database (PATH-tail; under
 * systemd in the runtime tmpfs) that holds the accepted records not yet
 * committed to SQLite, and the keys of the recent broker deliveries.
 *
 * Why: SQLite appends whole pages to its WAL at every commit, so the store
 * commits once a second (or every storage.commit_max records). Each accepted
 * record is stored, before its message handler returns, into this file mapped
 * MAP_SHARED: a store into the mapping lands in the page cache, which outlives
 * the process, so a kill -9 or a crash loses nothing that was stored (no system
 * call per message). After each commit the entries start again at the head of
 * their area, so the kernel keeps rewriting the same few pages. The file grows
 * (doubling) when a burst or a failed database fills it, and shrinks back at
 * the next commit. At start, the entries newer than the database's last
 * message are handed back, once.
 *
 * File: a header page (magic, version, record layout), the table of recent
 * deliveries (65,536 slots of 8 bytes, see ntm_tail_seen), then the entries.
 * Entry: magic u32, payload length u32, check u64 (hash.h word hash of what
 * follows, keyed by the layout version), id i64, delivery key u64, payload
 * (the record: fixed fields, village id, device id, the part of the record's
 * union its channel uses). An entry is written body first, then 4 zero bytes
 * after it, then its magic last: a process killed mid-entry leaves the zeros
 * of the end marker where the magic would be. Entries are read in order until
 * those zeros, the end of the area, or one that does not check (a write torn
 * by a power cut, or a file of another version). Only ids above the database's
 * last message that keep increasing are taken, which skips both entries older
 * than the last commit and entries written twice. */
#ifndef NTM_TAIL_H
#define NTM_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct ntm_tail;

typedef void (*ntm_tail_fn)(void *arg, int64_t id, const char *village,
                            const struct ntm_record *rec);

/* Opens (creating) and maps the journal at path. -1 with err set on failure.
 * *foreign (may be NULL) is set when the file held data of another layout
 * (an older version's journal), which is not read. */
int ntm_tail_open(struct ntm_tail **out, const char *path, bool *foreign, char *err, size_t errlen);
/* Stores a record (with its message id, the key of the delivery that brought
 * it or 0, and its village's id) into the mapping: durable against a crash of
 * the process once this returns 0. -1 with errno when the file cannot grow. */
int ntm_tail_add(struct ntm_tail *t, int64_t id, uint64_t key, const char *village,
                 const struct ntm_record *rec);
/* Entries in memory: added since the last ntm_tail_committed/take. */
size_t ntm_tail_count(const struct ntm_tail *t);
/* Everything added so far is committed to the database: forget it, and start
 * the entries over at the head of their area. */
void ntm_tail_committed(struct ntm_tail *t);
/* Calls fn for every entry in memory, in order, then forgets them (the file
 * keeps them until the next ntm_tail_committed; new entries go after them). */
void ntm_tail_take(struct ntm_tail *t, ntm_tail_fn fn, void *arg);
/* Where the next entry will go, for ntm_tail_each_from(). */
size_t ntm_tail_mark(const struct ntm_tail *t);
/* Calls fn for each entry from `mark` on, in order, keeping them.
 * fn must not add, take or commit. */
void ntm_tail_each_from(struct ntm_tail *t, size_t mark, ntm_tail_fn fn, void *arg);
/* Reads the file: fn gets each entry with an id above after_id, ids
 * increasing; the delivery keys of all entries read go to the table of
 * deliveries. Returns how many were handed over; *bad_at gets the offset of an
 * entry that did not check (-1 when the entries ended cleanly). */
long ntm_tail_recover(struct ntm_tail *t, int64_t after_id, ntm_tail_fn fn, void *arg,
                      long *bad_at);
/* Empties the entries (after a clean stop, when everything is committed); the
 * table of deliveries stays. */
void ntm_tail_clear(struct ntm_tail *t);
/* Closes; safe on NULL. */
void ntm_tail_close(struct ntm_tail *t);

/* ---- the table of recent deliveries ------------------------------------------
 * A delivery key is the broker's packet id (1..65535, in the low 16 bits) with
 * a hash of topic and payload above it (ntm_tail_delivery_key). A broker that
 * delivers a QoS 1 message again (after a reconnection, with the DUP flag)
 * uses the same packet id; a new message gets the next one. The table keeps
 * the key of the last delivery of every packet id (65,536 slots, 512 KiB of
 * the mapped file; mosquitto 2.0.11 may send again thousands of messages of
 * a backlog that a killed subscriber had acknowledged): a message found there
 * was already taken in, even by a run that was killed since. */
uint64_t ntm_tail_delivery_key(int mid, const char *topic, size_t topic_len, const void *payload,
                               size_t len);
/* True when this delivery was already taken in. */
bool ntm_tail_seen(const struct ntm_tail *t, uint64_t key);
/* Records a delivery as taken in (after its record is added). 0 is ignored. */
void ntm_tail_note(struct ntm_tail *t, uint64_t key);
/* Forgets every delivery: the broker started a new session, whose packet ids
 * start again and which delivers nothing of the old one again. */
void ntm_tail_forget_deliveries(struct ntm_tail *t);

/* Where the entries start in the file (after the header page and the table
 * of deliveries). For the unit test. */
#define NTM_TAIL_ENTRIES_OFF (4096 + 65536 * 8)

/* Encodes one entry into buf (at most cap bytes, 4 of them for the end
 * marker); its length, or 0 when it does not fit. Exposed for the unit test. */
size_t ntm_tail_encode(uint8_t *buf, size_t cap, int64_t id, uint64_t key, const char *village,
                       const struct ntm_record *rec);

#endif
