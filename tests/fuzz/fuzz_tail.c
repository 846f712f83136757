/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_tail.c: libFuzzer target for the tail journal's reading after a crash
 * (daemon/tail.c, ntm_tail_recover). Random bytes never pass an entry's
 * 64-bit check, so the input builds entries and then damages them: byte 0 is
 * the number of entries (1..8), then per entry 24 bytes (kind, channel, event,
 * flags, n_macs, device length, then bytes for the device id and the union);
 * the rest is damage, 3 bytes each (offset u16 into the entries, a byte xored
 * there), and a cut (the last damage's offset ends the area: a torn write).
 * Checked: reading never fails badly, gives ids that increase, at most the
 * entries written, all of them when nothing was damaged, and each record as
 * written when it comes back whole. */
#include <fcntl.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "tail.h"

#define MAX_ENTRIES 8

struct seen {
    int n;
    int64_t last;
    const struct ntm_record *want;
    bool damaged;
};

static void got(void *arg, int64_t id, const char *village, const struct ntm_record *rec)
{
    struct seen *s = arg;
    FUZZ_ASSERT(id > s->last);
    FUZZ_ASSERT(strlen(village) <= NTM_VILLAGE_ID_MAX);
    FUZZ_ASSERT(strlen(rec->device) <= NTM_DEVICE_ID_MAX);
    FUZZ_ASSERT(rec->kind < NTM_KIND_COUNT && rec->channel < NTM_CH_COUNT);
    FUZZ_ASSERT(id >= 1 && id <= MAX_ENTRIES);
    if (!s->damaged) {
        const struct ntm_record *w = &s->want[id - 1];
        FUZZ_ASSERT(rec->ts == w->ts && rec->kind == w->kind && rec->channel == w->channel);
        FUZZ_ASSERT(strcmp(rec->device, w->device) == 0);
    }
    s->last = id;
    s->n++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int n = 1 + data[0] % MAX_ENTRIES;
    if (size < 1 + (size_t)n * 24)
        return 0;
    static struct ntm_record want[MAX_ENTRIES];
    /* one journal for the whole run, started over each time (as after a commit) */
    static char path[64];
    static struct ntm_tail *t;
    static int fd = -1;
    if (!t) {
        snprintf(path, sizeof path, "%s/ntm-fuzz-tail-%d",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
        unlink(path);
        char err[256];
        FUZZ_ASSERT(ntm_tail_open(&t, path, NULL, err, sizeof err) == 0);
        fd = open(path, O_RDWR | O_CLOEXEC);
        FUZZ_ASSERT(fd >= 0);
        unlink(path); /* gone when the run ends */
    }
    ntm_tail_committed(t);
    const uint8_t *p = data + 1;
    for (int i = 0; i < n; i++, p += 24) {
        struct ntm_record *r = &want[i];
        memset(r, 0, sizeof *r);
        r->ts = 1760000000 + i;
        r->kind = p[0] % NTM_KIND_COUNT;
        r->channel = p[1] % NTM_CH_COUNT;
        r->event = p[2] % NTM_EV_COUNT;
        r->flags = p[3];
        size_t dl = 1 + p[5] % 8;
        for (size_t k = 0; k < dl; k++)
            r->device[k] = (char)('a' + p[6 + k] % 26);
        memcpy(&r->u, p + 14, 10);
        if (r->channel == NTM_CH_STATS && r->kind == NTM_KIND_WIFI)
            r->u.wifi.n_macs = p[4] % 4;
        FUZZ_ASSERT(ntm_tail_add(t, i + 1, 0, "thon-a", r) == 0);
    }
    size_t end = ntm_tail_mark(t);
    /* the damage, straight into the file (the same pages as the mapping) */
    bool damaged = false;
    for (; p + 3 <= data + size; p += 3) {
        size_t off = (size_t)(p[0] | p[1] << 8) % (end + 8);
        uint8_t b = 0;
        FUZZ_ASSERT(pread(fd, &b, 1, (off_t)(NTM_TAIL_ENTRIES_OFF + off)) == 1);
        b ^= p[2];
        FUZZ_ASSERT(pwrite(fd, &b, 1, (off_t)(NTM_TAIL_ENTRIES_OFF + off)) == 1);
        damaged |= p[2] != 0 && off < end + 4;
    }
    struct seen s = {.last = 0, .want = want, .damaged = damaged};
    long bad = 0;
    long k = ntm_tail_recover(t, 0, got, &s, &bad);
    FUZZ_ASSERT(k == s.n && k <= n);
    if (!damaged)
        FUZZ_ASSERT(k == n && bad == -1);
    return 0;
}
