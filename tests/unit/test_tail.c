/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_tail.c: the tail journal (daemon/tail.c) on real files: what a crash
 * leaves is read back exactly, once, newest-only; a torn entry stops the
 * reading where it is; a restart after a commit hides what was committed; the
 * file grows and shrinks; the table of deliveries outlives the process. */
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "records.h"
#include "tail.h"

struct got {
    int n;
    int64_t ids[64];
    char villages[64][NTM_VILLAGE_ID_MAX + 1];
    struct ntm_record recs[64];
};

static void collect(void *arg, int64_t id, const char *village, const struct ntm_record *rec)
{
    struct got *g = arg;
    if (g->n >= 64)
        return;
    g->ids[g->n] = id;
    snprintf(g->villages[g->n], sizeof g->villages[0], "%s", village);
    g->recs[g->n] = *rec;
    g->n++;
}

struct count_ctx {
    long n;
    int64_t last;
};

static void count_one(void *arg, int64_t id, const char *village, const struct ntm_record *rec)
{
    struct count_ctx *c = arg;
    (void)village;
    (void)rec;
    c->n++;
    c->last = id;
}

/* Reads the file with a fresh handle, as a restarted daemon does. */
static struct got *reopen(const char *path, int64_t after, long *bad_at)
{
    static struct got g;
    memset(&g, 0, sizeof g);
    struct ntm_tail *t = NULL;
    char err[256];
    CHECK(ntm_tail_open(&t, path, NULL, err, sizeof err) == 0);
    ntm_tail_recover(t, after, collect, &g, bad_at);
    ntm_tail_close(t);
    return &g;
}

int main(void)
{
    char dir[] = "/tmp/ntm-test-tail-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char path[256];
    snprintf(path, sizeof path, "%s/buffer.db-tail", dir);
    struct ntm_tail *t = NULL;
    char err[256];
    CHECK(ntm_tail_open(&t, path, NULL, err, sizeof err) == 0);
    struct ntm_record r;
    long bad = 0;

    /* 1. ten records written, then a "crash": all ten come back, exactly */
    for (int i = 0; i < 10; i++) {
        sample_record(&r, i);
        CHECK(ntm_tail_add(t, 100 + i, 0, i % 2 ? "thon-tay" : "thon-dong", &r) == 0);
    }
    struct got *g = reopen(path, 99, &bad);
    CHECK_INT(g->n, 10);
    CHECK_INT(bad, -1);
    for (int i = 0; i < g->n; i++) {
        sample_record(&r, i);
        CHECK_INT(g->ids[i], 100 + i);
        CHECK(same_record(&g->recs[i], &r));
        CHECK(strcmp(g->villages[i], i % 2 ? "thon-tay" : "thon-dong") == 0);
    }
    /* only what the database lacks: ids above its last message */
    g = reopen(path, 104, &bad);
    CHECK_INT(g->n, 5);
    CHECK_INT(g->ids[0], 105);

    /* 2. committed: the file starts over at 0; three newer records overwrite
     * the start, the stale rest (ids <= 109) is skipped */
    ntm_tail_committed(t);
    for (int i = 0; i < 3; i++) {
        sample_record(&r, 20 + i);
        CHECK(ntm_tail_add(t, 110 + i, 0, "thon-dong", &r) == 0);
    }
    g = reopen(path, 109, &bad);
    CHECK_INT(g->n, 3);
    CHECK_INT(g->ids[2], 112);
    CHECK_INT(bad, -1);

    /* 3. a failed write: the records are taken back (in order) and fed again
     * under the same ids; the file then holds each twice, read back once */
    struct got taken;
    memset(&taken, 0, sizeof taken);
    ntm_tail_take(t, collect, &taken);
    CHECK_INT(taken.n, 3);
    CHECK_INT(ntm_tail_count(t), 0);
    for (int i = 0; i < taken.n; i++)
        CHECK(ntm_tail_add(t, taken.ids[i], 0, taken.villages[i], &taken.recs[i]) == 0);
    sample_record(&r, 30);
    CHECK(ntm_tail_add(t, 113, 0, "thon-dong", &r) == 0);
    g = reopen(path, 109, &bad);
    CHECK_INT(g->n, 4);
    CHECK_INT(g->ids[3], 113);

    /* 4. a torn entry (a byte flipped in the second one): the first comes
     * back, reading stops there and says where */
    ntm_tail_committed(t);
    for (int i = 0; i < 3; i++) {
        sample_record(&r, 40 + i);
        CHECK(ntm_tail_add(t, 200 + i, 0, "thon-dong", &r) == 0);
    }
    uint8_t one[16384];
    sample_record(&r, 40);
    size_t first = ntm_tail_encode(one, sizeof one, 200, 0, "thon-dong", &r);
    CHECK(first > 0);
    int fd = open(path, O_RDWR);
    uint8_t byte;
    CHECK(pread(fd, &byte, 1, (off_t)(NTM_TAIL_ENTRIES_OFF + first + 40)) == 1);
    byte ^= 0x5a;
    CHECK(pwrite(fd, &byte, 1, (off_t)(NTM_TAIL_ENTRIES_OFF + first + 40)) == 1);
    close(fd);
    g = reopen(path, 199, &bad);
    CHECK_INT(g->n, 1);
    CHECK_INT(g->ids[0], 200);
    CHECK_INT(bad, (long)(NTM_TAIL_ENTRIES_OFF + first));

    /* 5. a clean stop empties the file: nothing to read back */
    ntm_tail_clear(t);
    g = reopen(path, 0, &bad);
    CHECK_INT(g->n, 0);
    CHECK_INT(bad, -1);

    /* 6. a record too big for the buffer grows it; a file of other bytes is
     * not read as entries */
    sample_record(&r, 1);
    r.u.wifi.n_macs = NTM_MACS_MAX;
    CHECK(ntm_tail_add(t, 300, 0, "thon-dong", &r) == 0);
    g = reopen(path, 0, &bad);
    CHECK_INT(g->n, 1);
    CHECK_INT(g->recs[0].u.wifi.n_macs, NTM_MACS_MAX);

    /* 7. a kill in the middle of an entry leaves its magic unwritten (it is
     * stored last): the entries before it come back, cleanly */
    ntm_tail_committed(t);
    for (int i = 0; i < 3; i++) {
        sample_record(&r, 50 + i);
        CHECK(ntm_tail_add(t, 400 + i, 0, "thon-dong", &r) == 0);
    }
    size_t third = ntm_tail_mark(t);
    sample_record(&r, 53);
    CHECK(ntm_tail_add(t, 403, 0, "thon-dong", &r) == 0);
    fd = open(path, O_RDWR);
    uint8_t zeros[4] = {0};
    CHECK(pwrite(fd, zeros, 4, (off_t)(NTM_TAIL_ENTRIES_OFF + third)) == 4);
    close(fd);
    g = reopen(path, 0, &bad);
    CHECK_INT(g->n, 3);
    CHECK_INT(g->ids[2], 402);
    CHECK_INT(bad, -1);

    /* 8. a burst bigger than the file: it grows, everything comes back; after
     * the commit it shrinks to its first size */
    ntm_tail_committed(t);
    struct stat sb;
    CHECK(stat(path, &sb) == 0);
    off_t small = sb.st_size;
    int many = 0;
    for (int i = 0; i < 20000; i++) {
        sample_record(&r, i % 64);
        if (ntm_tail_add(t, 1000 + i, 0, "thon-dong", &r) == 0)
            many++;
    }
    CHECK_INT(many, 20000);
    CHECK(stat(path, &sb) == 0);
    CHECK(sb.st_size > small);
    static struct ntm_tail *t2;
    CHECK(ntm_tail_open(&t2, path, NULL, err, sizeof err) == 0);
    struct count_ctx cc = {0};
    CHECK_INT(ntm_tail_recover(t2, 0, count_one, &cc, &bad), 20000);
    CHECK_INT(cc.last, 1000 + 19999);
    CHECK_INT(bad, -1);
    ntm_tail_close(t2);
    ntm_tail_committed(t);
    CHECK(stat(path, &sb) == 0);
    CHECK_INT(sb.st_size, small);

    /* 9. deliveries: a key noted is seen, by this handle and by a new one
     * (a restarted daemon); the same packet id with another payload is not;
     * a key in an entry counts as noted even if the table lacks it (a kill
     * between the two stores) */
    const char *topic = "ntm/v1/thon-dong/wifi/ap-1/stats";
    uint64_t k1 = ntm_tail_delivery_key(7, topic, strlen(topic), "{\"a\":1}", 7);
    uint64_t k2 = ntm_tail_delivery_key(7, topic, strlen(topic), "{\"a\":2}", 7);
    uint64_t k3 = ntm_tail_delivery_key(8, topic, strlen(topic), "{\"a\":1}", 7);
    CHECK(k1 != 0 && k1 != k2 && k1 != k3);
    CHECK_INT(ntm_tail_delivery_key(0, topic, strlen(topic), "{}", 2), 0);
    /* an empty payload comes as NULL from libmosquitto: keyed, and no UB (ASan+UBSan run) */
    uint64_t k0 = ntm_tail_delivery_key(7, topic, strlen(topic), NULL, 0);
    CHECK(k0 != 0 && k0 != k1);
    CHECK(!ntm_tail_seen(t, k1));
    ntm_tail_note(t, k1);
    CHECK(ntm_tail_seen(t, k1));
    CHECK(!ntm_tail_seen(t, k2));
    CHECK(!ntm_tail_seen(t, k3));
    sample_record(&r, 3);
    CHECK(ntm_tail_add(t, 500, k3, "thon-dong", &r) == 0);
    CHECK(ntm_tail_open(&t2, path, NULL, err, sizeof err) == 0);
    CHECK(ntm_tail_seen(t2, k1));
    CHECK(!ntm_tail_seen(t2, k3));
    memset(&cc, 0, sizeof cc);
    CHECK_INT(ntm_tail_recover(t2, 0, count_one, &cc, &bad), 1);
    CHECK(ntm_tail_seen(t2, k3));
    ntm_tail_close(t2);
    /* a clean stop keeps them */
    ntm_tail_clear(t);
    ntm_tail_close(t);
    CHECK(ntm_tail_open(&t, path, NULL, err, sizeof err) == 0);
    CHECK(ntm_tail_seen(t, k1));
    CHECK(ntm_tail_seen(t, k3));
    ntm_tail_close(t);

    /* 10. a file of other bytes (another version's journal) is not read as
     * entries: said, and started afresh */
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(write(fd, "SQLite format 3\0 and more text than a header", 44) == 44);
    close(fd);
    bool foreign = false;
    CHECK(ntm_tail_open(&t, path, &foreign, err, sizeof err) == 0);
    CHECK(foreign);
    CHECK_INT(ntm_tail_recover(t, 0, count_one, &cc, &bad), 0);
    CHECK_INT(bad, -1);
    ntm_tail_close(t);

    unlink(path);
    rmdir(dir);
    printf("tail: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
