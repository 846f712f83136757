/* tail.h: the tail journal, a small file beside the database (PATH-tail) that
 * holds the accepted records not yet committed to SQLite.
 *
 * Why: SQLite appends whole pages to its WAL at every commit, so committing
 * every 50 ms would write about 17 times each record's size to the SD card at
 * 1,000 msg/s. The store therefore commits once a second (or every
 * storage.commit_max records), and every storage.commit_ms (50 ms) it writes
 * the records since the last commit here instead: one pwrite() of compact
 * entries into the page cache, which a kill -9 or a crash does not lose.
 * After each commit the journal starts again at offset 0, so the kernel keeps
 * rewriting the same few pages and writes them back rarely. At start, the
 * entries newer than the database's last message are handed back, once.
 *
 * Entry: magic u32, payload length u32, id i64, check u64 (SipHash-2-4 of the
 * id and payload, keyed by the layout version), payload (the record: fixed
 * fields, village id, device id, the part of the record's union its channel
 * uses). Each write ends with 4 zero bytes, which the next overwrites. Entries
 * are read in order until those zeros, the end of the file, or one that does
 * not check (a write torn by a power cut, or a file of another version). Only ids above the
 * database's last message that keep increasing are taken, which skips both entries older than the
 * last commit and entries written twice. */
#ifndef NTM_TAIL_H
#define NTM_TAIL_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"

struct ntm_tail;

/* Opens (creating) the journal at path. -1 with err set on failure. */
int ntm_tail_open(struct ntm_tail **out, const char *path, char *err, size_t errlen);
/* Adds a record (with its message id and its village's id) to the entries in
 * memory; written at the next ntm_tail_write(). -1 when out of memory. */
int ntm_tail_add(struct ntm_tail *t, int64_t id, const char *village, const struct ntm_record *rec);
/* Entries added but not yet written. */
size_t ntm_tail_unwritten(const struct ntm_tail *t);
/* Entries in memory: added since the last ntm_tail_committed/take. */
size_t ntm_tail_count(const struct ntm_tail *t);
/* Writes the entries not yet written (one pwrite). 0, or -1 with errno. */
int ntm_tail_write(struct ntm_tail *t);
/* Everything added so far is committed to the database: forget it, and start
 * the file over at offset 0. */
void ntm_tail_committed(struct ntm_tail *t);
/* Calls fn for every entry in memory, in order, then forgets them (the file
 * keeps them until the next ntm_tail_committed; new entries go after them). */
void ntm_tail_take(struct ntm_tail *t,
                   void (*fn)(void *arg, int64_t id, const char *village,
                              const struct ntm_record *rec),
                   void *arg);
/* Where the next entry will go in memory, for ntm_tail_each_from(). */
size_t ntm_tail_mark(const struct ntm_tail *t);
/* Calls fn for each entry in memory from `mark` on, in order, keeping them.
 * fn must not add, write, take or commit. */
void ntm_tail_each_from(struct ntm_tail *t, size_t mark,
                        void (*fn)(void *arg, int64_t id, const char *village,
                                   const struct ntm_record *rec),
                        void *arg);
/* Reads the file: fn gets each entry with an id above after_id, ids
 * increasing. Returns how many were handed over; *bad_at gets the offset of
 * an entry that did not check (-1 when the file ended cleanly). */
long ntm_tail_recover(struct ntm_tail *t, int64_t after_id,
                      void (*fn)(void *arg, int64_t id, const char *village,
                                 const struct ntm_record *rec),
                      void *arg, long *bad_at);
/* Empties the file (after a clean stop, when everything is committed). */
void ntm_tail_clear(struct ntm_tail *t);
/* Closes; safe on NULL. */
void ntm_tail_close(struct ntm_tail *t);

/* Encodes one entry into buf (at most cap bytes); its length, or 0 when it
 * does not fit. Exposed for the unit test. */
size_t ntm_tail_encode(uint8_t *buf, size_t cap, int64_t id, const char *village,
                       const struct ntm_record *rec);

#endif
