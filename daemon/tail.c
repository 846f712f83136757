/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tail.c: owns the tail journal file (PATH-tail) and its mapping: the entries'
 * encoding, their stores into the mapping as records are accepted, the growth
 * and the restart at the head after each database commit, the table of recent
 * deliveries, and the reading back after a crash. It knows nothing of SQLite
 * nor MQTT; the store decides what was committed. */
#include "tail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"

#define FILE_MAGIC 0x4a4d544eu /* "NTMJ" little-endian: the file */
#define TAIL_MAGIC 0x544d544eu /* "NTMT": an entry */
#define TAIL_VERSION 2
#define HEAD_BYTES 32     /* magic, length, check, id, key */
#define FIXED_BYTES 24    /* ts, recv_ms, kind, channel, event, flags, 2 lengths, ulen */
#define SEEN_SLOTS 65536u /* one per packet id */
#define SEEN_OFF 4096u
#define ENTRIES_OFF (SEEN_OFF + SEEN_SLOTS * 8u)
_Static_assert(ENTRIES_OFF == NTM_TAIL_ENTRIES_OFF, "tail.h says where the entries start");
#define AREA_MIN (256u << 10)  /* the entries' area at first, and after a shrink */
#define AREA_SHRINK (4u << 20) /* an area grown to this shrinks at the next commit */
#define AREA_MAX (256u << 20)  /* a journal bigger than this is not ours */

struct ntm_tail {
    int fd;
    uint8_t *map; /* the whole file */
    size_t size;  /* of the file and the mapping */
    size_t start; /* offset (in the entries' area) of the first entry in memory */
    size_t end;   /* ... and of the end marker after the last */
    size_t count; /* entries in memory */
    uint8_t key[16];
};

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* The check is keyed by the layout of struct ntm_record, whose union is stored
 * as memory bytes: a journal left by a build with another layout does not
 * check, and is not read. */
static void layout_key(uint8_t key[16])
{
    static const uint8_t tag[8] = {'n', 't', 'm', '-', 't', 'a', 'i', 'l'};
    memcpy(key, tag, sizeof tag);
    put_u32(key + 8, TAIL_VERSION);
    put_u32(key + 12, (uint32_t)sizeof(struct ntm_record));
}

/* The bytes of the record's union that its channel uses. */
static size_t union_len(const struct ntm_record *r)
{
    const size_t u = offsetof(struct ntm_record, u);
    switch (r->channel) {
    case NTM_CH_STATE:
        return sizeof r->u.state;
    case NTM_CH_HEARTBEAT:
        return sizeof r->u.heartbeat;
    case NTM_CH_EVENT:
        if (r->event == NTM_EV_BROADCAST)
            return offsetof(struct ntm_record, u.broadcast.program) - u +
                   strnlen(r->u.broadcast.program, NTM_PROGRAM_MAX) + 1;
        if (r->event == NTM_EV_FAULT)
            return sizeof r->u.fault;
        return sizeof r->u.camera_event;
    case NTM_CH_STATS:
        if (r->kind == NTM_KIND_CAMERA)
            return sizeof r->u.camera_stats;
        return offsetof(struct ntm_record, u.wifi.mac_hash) - u +
               (r->u.wifi.n_macs > NTM_MACS_MAX ? NTM_MACS_MAX : r->u.wifi.n_macs) * 8;
    default:
        return 0;
    }
}

/* Writes the entry's body, its end marker, and its magic last (see tail.h). */
/* An entry's check: against torn writes and other versions' files, not an
 * adversary, so the daemon's fast word hash, seeded by the layout key. */
static uint64_t check(const uint8_t key[16], const uint8_t *p, size_t n)
{
    uint64_t seed;
    memcpy(&seed, key, 8);
    uint64_t more;
    memcpy(&more, key + 8, 8);
    return ntm_hash64_words(seed ^ (more * 0x9e3779b97f4a7c15ULL), p, n);
}

static size_t encode(const uint8_t key[16], uint8_t *buf, size_t cap, int64_t id, uint64_t dkey,
                     const char *village, const struct ntm_record *rec)
{
    size_t vlen = strnlen(village, NTM_VILLAGE_ID_MAX);
    size_t dlen = strnlen(rec->device, NTM_DEVICE_ID_MAX);
    size_t ulen = union_len(rec);
    size_t payload = FIXED_BYTES + vlen + dlen + ulen;
    size_t total = HEAD_BYTES + payload;
    if (total + 4 > cap)
        return 0;
    uint8_t *p = buf + HEAD_BYTES;
    put_u64(p, (uint64_t)rec->ts);
    put_u64(p + 8, (uint64_t)rec->recv_ms);
    p[16] = rec->kind;
    p[17] = rec->channel;
    p[18] = rec->event;
    p[19] = rec->flags;
    p[20] = (uint8_t)vlen;
    p[21] = (uint8_t)dlen;
    put_u16(p + 22, (uint16_t)ulen);
    p += FIXED_BYTES;
    memcpy(p, village, vlen);
    memcpy(p + vlen, rec->device, dlen);
    memcpy(p + vlen + dlen, &rec->u, ulen);
    put_u32(buf + 4, (uint32_t)payload);
    put_u64(buf + 16, (uint64_t)id);
    put_u64(buf + 24, dkey);
    put_u64(buf + 8, check(key, buf + 16, 16 + payload));
    memset(buf + total, 0, 4);
    /* the magic after everything else, also for the compiler: a kill between
     * two stores leaves either no entry or a whole one */
    atomic_signal_fence(memory_order_seq_cst);
    put_u32(buf, TAIL_MAGIC);
    return total;
}

size_t ntm_tail_encode(uint8_t *buf, size_t cap, int64_t id, uint64_t dkey, const char *village,
                       const struct ntm_record *rec)
{
    uint8_t key[16];
    layout_key(key);
    return encode(key, buf, cap, id, dkey, village, rec);
}

/* Decodes the entry at p (avail bytes). Its length, 0 at a clean end (no more
 * bytes, or zeros), or -1 when it does not check. */
static long decode(const uint8_t key[16], const uint8_t *p, size_t avail, int64_t *id,
                   uint64_t *dkey, char village[NTM_VILLAGE_ID_MAX + 1], struct ntm_record *rec)
{
    if (avail < 4 || get_u32(p) == 0)
        return 0;
    if (avail < HEAD_BYTES || get_u32(p) != TAIL_MAGIC)
        return -1;
    size_t payload = get_u32(p + 4);
    if (payload < FIXED_BYTES || payload > avail - HEAD_BYTES ||
        get_u64(p + 8) != check(key, p + 16, 16 + payload))
        return -1;
    *id = (int64_t)get_u64(p + 16);
    *dkey = get_u64(p + 24);
    const uint8_t *q = p + HEAD_BYTES;
    size_t vlen = q[20], dlen = q[21], ulen = get_u16(q + 22);
    if (vlen > NTM_VILLAGE_ID_MAX || dlen > NTM_DEVICE_ID_MAX || ulen > sizeof rec->u ||
        FIXED_BYTES + vlen + dlen + ulen != payload)
        return -1;
    memset(rec, 0, offsetof(struct ntm_record, u) + sizeof rec->u.broadcast);
    rec->ts = (int64_t)get_u64(q);
    rec->recv_ms = (int64_t)get_u64(q + 8);
    rec->kind = q[16];
    rec->channel = q[17];
    rec->event = q[18];
    rec->flags = q[19];
    q += FIXED_BYTES;
    memcpy(village, q, vlen);
    village[vlen] = '\0';
    memcpy(rec->device, q + vlen, dlen);
    rec->device[dlen] = '\0';
    memcpy(&rec->u, q + vlen + dlen, ulen);
    if (rec->kind >= NTM_KIND_COUNT || rec->channel >= NTM_CH_COUNT || rec->event >= NTM_EV_COUNT ||
        ulen != union_len(rec))
        return -1;
    return (long)(HEAD_BYTES + payload);
}

/* ---- the file and its mapping ------------------------------------------------ */

static uint8_t *area(const struct ntm_tail *t)
{
    return t->map + ENTRIES_OFF;
}

static size_t area_size(const struct ntm_tail *t)
{
    return t->size - ENTRIES_OFF;
}

static void put_header(uint8_t *h)
{
    put_u32(h, FILE_MAGIC);
    put_u32(h + 4, TAIL_VERSION);
    put_u32(h + 8, (uint32_t)sizeof(struct ntm_record));
    put_u32(h + 12, SEEN_SLOTS);
}

/* Gives the file `size` bytes of real blocks (a store into a hole of a full
 * tmpfs would kill the process with SIGBUS) and maps them. */
static int resize(struct ntm_tail *t, size_t size)
{
    if (size > t->size) {
        int rc = posix_fallocate(t->fd, (off_t)t->size, (off_t)(size - t->size));
        if (rc != 0 && rc != EOPNOTSUPP && rc != EINVAL) {
            errno = rc;
            return -1;
        }
        if (rc != 0 && ftruncate(t->fd, (off_t)size) != 0)
            return -1;
    } else if (ftruncate(t->fd, (off_t)size) != 0) {
        return -1;
    }
    void *m = t->map ? mremap(t->map, t->size, size, MREMAP_MAYMOVE)
                     : mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, 0);
    if (m == MAP_FAILED) {
        if (!t->map)
            return -1;
        /* the old mapping is still valid: give the file its old size back */
        if (ftruncate(t->fd, (off_t)t->size) != 0) {
            /* only more room than mapped: harmless */
        }
        return -1;
    }
    t->map = m;
    t->size = size;
    return 0;
}

int ntm_tail_open(struct ntm_tail **out, const char *path, bool *foreign, char *err, size_t errlen)
{
    struct ntm_tail *t = calloc(1, sizeof *t);
    *out = t;
    if (foreign)
        *foreign = false;
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    layout_key(t->key);
    t->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    struct stat sb;
    if (t->fd < 0 || fstat(t->fd, &sb) != 0) {
        snprintf(err, errlen, "%s: cannot open the tail journal: %s", path, strerror(errno));
        return -1;
    }
    size_t have = (size_t)sb.st_size;
    uint8_t head[16] = {0}, want[16];
    put_header(want);
    bool ours = have >= ENTRIES_OFF + AREA_MIN && have <= ENTRIES_OFF + AREA_MAX &&
                pread(t->fd, head, sizeof head, 0) == (ssize_t)sizeof head &&
                memcmp(head, want, sizeof want) == 0;
    if (!ours && have > 0) {
        if (foreign)
            *foreign = true;
        if (ftruncate(t->fd, 0) != 0) {
            snprintf(err, errlen, "%s: cannot empty the tail journal: %s", path, strerror(errno));
            return -1;
        }
        have = 0;
    }
    t->size = ours ? have : 0;
    if (resize(t, ours ? have : ENTRIES_OFF + AREA_MIN) != 0) {
        snprintf(err, errlen, "%s: cannot map the tail journal: %s", path, strerror(errno));
        return -1;
    }
    if (!ours)
        put_header(t->map); /* the table and the entries are zeros: empty */
    return 0;
}

int ntm_tail_add(struct ntm_tail *t, int64_t id, uint64_t key, const char *village,
                 const struct ntm_record *rec)
{
    for (;;) {
        size_t n = encode(t->key, area(t) + t->end, area_size(t) - t->end, id, key, village, rec);
        if (n > 0) {
            t->end += n;
            t->count++;
            return 0;
        }
        size_t grown = area_size(t) * 2;
        if (grown > AREA_MAX) {
            errno = EFBIG;
            return -1;
        }
        /* the end marker at t->end is in place: a crash while growing reads up to it */
        if (resize(t, ENTRIES_OFF + grown) != 0)
            return -1;
    }
}

size_t ntm_tail_count(const struct ntm_tail *t)
{
    return t->count;
}

void ntm_tail_committed(struct ntm_tail *t)
{
    memset(area(t), 0, 4); /* the end marker at the head: nothing to read back */
    t->start = t->end = t->count = 0;
    /* a big area left by a burst or a long failure goes back */
    if (area_size(t) >= AREA_SHRINK && resize(t, ENTRIES_OFF + AREA_MIN) != 0) {
        /* kept big: it still works */
    }
}

size_t ntm_tail_mark(const struct ntm_tail *t)
{
    return t->end;
}

/* Calls fn for the entries in [from, to) of the area; returns where reading
 * stopped, and sets *bad when an entry did not check. */
static size_t walk(struct ntm_tail *t, size_t from, size_t to, int64_t after_id, bool note,
                   ntm_tail_fn fn, void *arg, bool *bad, long *taken)
{
    struct ntm_record *rec = malloc(sizeof *rec);
    char village[NTM_VILLAGE_ID_MAX + 1];
    size_t off = from;
    int64_t last = after_id;
    while (rec && off < to) {
        int64_t id;
        uint64_t dkey;
        long n = decode(t->key, area(t) + off, to - off, &id, &dkey, village, rec);
        if (n < 0 && bad)
            *bad = true;
        if (n <= 0)
            break;
        if (note)
            ntm_tail_note(t, dkey);
        if (id > last) {
            fn(arg, id, village, rec);
            if (note)
                last = id; /* recovery: ids must keep increasing */
            if (taken)
                (*taken)++;
        }
        off += (size_t)n;
    }
    free(rec);
    return off;
}

void ntm_tail_each_from(struct ntm_tail *t, size_t mark, ntm_tail_fn fn, void *arg)
{
    walk(t, mark, t->end, INT64_MIN, false, fn, arg, NULL, NULL);
}

void ntm_tail_take(struct ntm_tail *t, ntm_tail_fn fn, void *arg)
{
    ntm_tail_each_from(t, t->start, fn, arg);
    t->start = t->end; /* the file keeps them until the next commit */
    t->count = 0;
}

long ntm_tail_recover(struct ntm_tail *t, int64_t after_id, ntm_tail_fn fn, void *arg, long *bad_at)
{
    bool bad = false;
    long taken = 0;
    size_t stop = walk(t, 0, area_size(t), after_id, true, fn, arg, &bad, &taken);
    *bad_at = bad ? (long)(ENTRIES_OFF + stop) : -1;
    /* new entries go after what was read (they are needed until committed) */
    t->start = t->end = stop;
    t->count = 0;
    if (stop + 4 <= area_size(t))
        memset(area(t) + stop, 0, 4);
    return taken;
}

void ntm_tail_clear(struct ntm_tail *t)
{
    ntm_tail_committed(t);
}

void ntm_tail_close(struct ntm_tail *t)
{
    if (!t)
        return;
    if (t->map)
        munmap(t->map, t->size);
    if (t->fd >= 0)
        close(t->fd);
    free(t);
}

/* ---- the table of recent deliveries ------------------------------------------ */

uint64_t ntm_tail_delivery_key(int mid, const char *topic, size_t topic_len, const void *payload,
                               size_t len)
{
    if (mid <= 0 || mid > 0xffff)
        return 0;
    uint64_t h = ntm_hash64_words(ntm_hash64_words(0, topic, topic_len), payload, len);
    return (h & ~(uint64_t)0xffff) | (uint64_t)mid;
}

static uint64_t *slot(const struct ntm_tail *t, uint64_t key)
{
    return (uint64_t *)(void *)(t->map + SEEN_OFF) + (key & (SEEN_SLOTS - 1));
}

bool ntm_tail_seen(const struct ntm_tail *t, uint64_t key)
{
    return key != 0 && *slot(t, key) == key;
}

void ntm_tail_note(struct ntm_tail *t, uint64_t key)
{
    if (key != 0)
        *slot(t, key) = key;
}

void ntm_tail_forget_deliveries(struct ntm_tail *t)
{
    memset(t->map + SEEN_OFF, 0, SEEN_SLOTS * 8u);
}
