/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_tail.c: the tail journal (daemon/tail.c) on real files: what a crash
 * leaves is read back exactly, once, newest-only; a torn entry stops the
 * reading where it is; a restart after a commit hides what was committed. */
#include <fcntl.h>
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

/* Reads the file with a fresh handle, as a restarted daemon does. */
static struct got *reopen(const char *path, int64_t after, long *bad_at)
{
    static struct got g;
    memset(&g, 0, sizeof g);
    struct ntm_tail *t = NULL;
    char err[256];
    CHECK(ntm_tail_open(&t, path, err, sizeof err) == 0);
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
    CHECK(ntm_tail_open(&t, path, err, sizeof err) == 0);
    struct ntm_record r;
    long bad = 0;

    /* 1. ten records written, then a "crash": all ten come back, exactly */
    for (int i = 0; i < 10; i++) {
        sample_record(&r, i);
        CHECK(ntm_tail_add(t, 100 + i, i % 2 ? "thon-tay" : "thon-dong", &r) == 0);
    }
    CHECK_INT(ntm_tail_unwritten(t) > 0, 1);
    CHECK(ntm_tail_write(t) == 0);
    CHECK_INT(ntm_tail_unwritten(t), 0);
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
        CHECK(ntm_tail_add(t, 110 + i, "thon-dong", &r) == 0);
    }
    CHECK(ntm_tail_write(t) == 0);
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
        CHECK(ntm_tail_add(t, taken.ids[i], taken.villages[i], &taken.recs[i]) == 0);
    sample_record(&r, 30);
    CHECK(ntm_tail_add(t, 113, "thon-dong", &r) == 0);
    CHECK(ntm_tail_write(t) == 0);
    g = reopen(path, 109, &bad);
    CHECK_INT(g->n, 4);
    CHECK_INT(g->ids[3], 113);

    /* 4. a torn entry (a byte flipped in the second one): the first comes
     * back, reading stops there and says where */
    ntm_tail_committed(t);
    for (int i = 0; i < 3; i++) {
        sample_record(&r, 40 + i);
        CHECK(ntm_tail_add(t, 200 + i, "thon-dong", &r) == 0);
    }
    CHECK(ntm_tail_write(t) == 0);
    uint8_t one[16384];
    sample_record(&r, 40);
    size_t first = ntm_tail_encode(one, sizeof one, 200, "thon-dong", &r);
    CHECK(first > 0);
    int fd = open(path, O_RDWR);
    uint8_t byte;
    CHECK(pread(fd, &byte, 1, (off_t)first + 40) == 1);
    byte ^= 0x5a;
    CHECK(pwrite(fd, &byte, 1, (off_t)first + 40) == 1);
    close(fd);
    g = reopen(path, 199, &bad);
    CHECK_INT(g->n, 1);
    CHECK_INT(g->ids[0], 200);
    CHECK_INT(bad, (long)first);

    /* 5. a clean stop empties the file: nothing to read back */
    ntm_tail_clear(t);
    g = reopen(path, 0, &bad);
    CHECK_INT(g->n, 0);
    CHECK_INT(bad, -1);

    /* 6. a record too big for the buffer grows it; a file of other bytes is
     * not read as entries */
    sample_record(&r, 1);
    r.u.wifi.n_macs = NTM_MACS_MAX;
    CHECK(ntm_tail_add(t, 300, "thon-dong", &r) == 0);
    CHECK(ntm_tail_write(t) == 0);
    g = reopen(path, 0, &bad);
    CHECK_INT(g->n, 1);
    CHECK_INT(g->recs[0].u.wifi.n_macs, NTM_MACS_MAX);
    ntm_tail_close(t);
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(write(fd, "SQLite format 3\0 and more text than a header", 44) == 44);
    close(fd);
    g = reopen(path, 0, &bad);
    CHECK_INT(g->n, 0);
    CHECK_INT(bad, 0);

    unlink(path);
    rmdir(dir);
    printf("tail: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
