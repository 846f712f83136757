/* tail.c: owns the tail journal file (PATH-tail) and its entries in memory:
 * their encoding, the write every storage.commit_ms, the restart at offset 0
 * after each database commit, and the reading back after a crash. It knows
 * nothing of SQLite; the store decides when to write and what was committed. */
#include "tail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "siphash.h"

#define TAIL_MAGIC 0x544d544eu /* "NTMT" little-endian */
#define TAIL_VERSION 1
#define HEAD_BYTES 24         /* magic, length, check, id */
#define FIXED_BYTES 24        /* ts, recv_ms, kind, channel, event, flags, 2 lengths, ulen */
#define READ_MAX (256u << 20) /* a journal bigger than this is not ours */

struct ntm_tail {
    int fd;
    uint8_t *buf; /* entries since the last commit (or take) */
    size_t len, cap;
    size_t written; /* bytes of buf already in the file */
    size_t count;
    uint64_t base; /* file offset of buf[0] */
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

static size_t encode(const uint8_t key[16], uint8_t *buf, size_t cap, int64_t id,
                     const char *village, const struct ntm_record *rec)
{
    size_t vlen = strnlen(village, NTM_VILLAGE_ID_MAX);
    size_t dlen = strnlen(rec->device, NTM_DEVICE_ID_MAX);
    size_t ulen = union_len(rec);
    size_t payload = FIXED_BYTES + vlen + dlen + ulen;
    size_t total = HEAD_BYTES + payload;
    if (total > cap)
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
    put_u32(buf, TAIL_MAGIC);
    put_u32(buf + 4, (uint32_t)payload);
    put_u64(buf + 16, (uint64_t)id);
    put_u64(buf + 8, ntm_siphash24(key, buf + 16, 8 + payload));
    return total;
}

size_t ntm_tail_encode(uint8_t *buf, size_t cap, int64_t id, const char *village,
                       const struct ntm_record *rec)
{
    uint8_t key[16];
    layout_key(key);
    return encode(key, buf, cap, id, village, rec);
}

/* Decodes the entry at p (avail bytes). Its length, 0 at a clean end (no more
 * bytes, or zeros), or -1 when it does not check. */
static long decode(const uint8_t key[16], const uint8_t *p, size_t avail, int64_t *id,
                   char village[NTM_VILLAGE_ID_MAX + 1], struct ntm_record *rec)
{
    if (avail == 0 || (avail >= 4 && get_u32(p) == 0))
        return 0;
    if (avail < HEAD_BYTES || get_u32(p) != TAIL_MAGIC)
        return -1;
    size_t payload = get_u32(p + 4);
    if (payload < FIXED_BYTES || payload > avail - HEAD_BYTES ||
        get_u64(p + 8) != ntm_siphash24(key, p + 16, 8 + payload))
        return -1;
    *id = (int64_t)get_u64(p + 16);
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

int ntm_tail_open(struct ntm_tail **out, const char *path, char *err, size_t errlen)
{
    struct ntm_tail *t = calloc(1, sizeof *t);
    *out = t;
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    layout_key(t->key);
    t->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (t->fd < 0) {
        snprintf(err, errlen, "%s: cannot open the tail journal: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int ntm_tail_add(struct ntm_tail *t, int64_t id, const char *village, const struct ntm_record *rec)
{
    for (;;) {
        size_t n = encode(t->key, t->buf + t->len, t->cap - t->len, id, village, rec);
        if (n > 0) {
            t->len += n;
            t->count++;
            return 0;
        }
        size_t cap = t->cap ? t->cap * 2 : 16384;
        uint8_t *b = realloc(t->buf, cap);
        if (!b)
            return -1;
        t->buf = b;
        t->cap = cap;
    }
}

size_t ntm_tail_unwritten(const struct ntm_tail *t)
{
    return t->len - t->written;
}

size_t ntm_tail_count(const struct ntm_tail *t)
{
    return t->count;
}

/* Each write ends with 4 zero bytes, overwritten by the next: the reader stops
 * there cleanly instead of running into the older entries beyond. */
int ntm_tail_write(struct ntm_tail *t)
{
    static const uint8_t end[4];
    while (t->written < t->len) {
        struct iovec iov[2] = {{t->buf + t->written, t->len - t->written},
                               {(void *)end, sizeof end}};
        ssize_t n = pwritev(t->fd, iov, 2, (off_t)(t->base + t->written));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        t->written += (size_t)n < t->len - t->written ? (size_t)n : t->len - t->written;
    }
    return 0;
}

void ntm_tail_committed(struct ntm_tail *t)
{
    t->len = t->written = t->count = 0;
    t->base = 0;
    /* a big buffer left by a burst or a long failure goes back */
    if (t->cap > (1u << 20)) {
        free(t->buf);
        t->buf = NULL;
        t->cap = 0;
    }
}

size_t ntm_tail_mark(const struct ntm_tail *t)
{
    return t->len;
}

void ntm_tail_each_from(struct ntm_tail *t, size_t mark,
                        void (*fn)(void *arg, int64_t id, const char *village,
                                   const struct ntm_record *rec),
                        void *arg)
{
    struct ntm_record *rec = malloc(sizeof *rec);
    char village[NTM_VILLAGE_ID_MAX + 1];
    for (size_t off = mark; rec && off < t->len;) {
        int64_t id;
        long n = decode(t->key, t->buf + off, t->len - off, &id, village, rec);
        if (n <= 0)
            break; /* cannot happen: the bytes are our own */
        fn(arg, id, village, rec);
        off += (size_t)n;
    }
    free(rec);
}

void ntm_tail_take(struct ntm_tail *t,
                   void (*fn)(void *arg, int64_t id, const char *village,
                              const struct ntm_record *rec),
                   void *arg)
{
    ntm_tail_each_from(t, 0, fn, arg);
    ntm_tail_write(t); /* the file keeps them until the next commit */
    t->base += t->len;
    t->len = t->written = t->count = 0;
}

long ntm_tail_recover(struct ntm_tail *t, int64_t after_id,
                      void (*fn)(void *arg, int64_t id, const char *village,
                                 const struct ntm_record *rec),
                      void *arg, long *bad_at)
{
    *bad_at = -1;
    struct stat sb;
    if (fstat(t->fd, &sb) != 0 || sb.st_size <= 0)
        return 0;
    size_t size = (size_t)sb.st_size > READ_MAX ? READ_MAX : (size_t)sb.st_size;
    uint8_t *data = malloc(size);
    struct ntm_record *rec = malloc(sizeof *rec);
    long taken = 0;
    if (!data || !rec)
        goto out;
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(t->fd, data + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    char village[NTM_VILLAGE_ID_MAX + 1];
    int64_t last = after_id;
    for (size_t off = 0; off < got;) {
        int64_t id;
        long n = decode(t->key, data + off, got - off, &id, village, rec);
        if (n < 0)
            *bad_at = (long)off;
        if (n <= 0)
            break;
        if (id > last) {
            fn(arg, id, village, rec);
            last = id;
            taken++;
        }
        off += (size_t)n;
    }
    t->base = got; /* new entries go after what was read */
out:
    free(rec);
    free(data);
    return taken;
}

void ntm_tail_clear(struct ntm_tail *t)
{
    ntm_tail_committed(t);
    if (ftruncate(t->fd, 0) != 0) {
        /* nothing to do: the entries are older than the database's and are skipped */
    }
}

void ntm_tail_close(struct ntm_tail *t)
{
    if (!t)
        return;
    if (t->fd >= 0)
        close(t->fd);
    free(t->buf);
    free(t);
}
