/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_store_write.c: the durable buffer (daemon/store*.c) on real SQLite
 * files, writing: append/commit/replay, device conflicts, the bounded
 * quarantine, counters across a restart, the size cap, MAC keys, a transaction
 * SQLite rolled back by itself, and the tail journal handed back after a crash
 * (a child process that exits without closing). */
#include <sys/wait.h>
#include <time.h>

#include "store_env.h"
#include "tail.h"

/* Records of every shape come back from the buffer as they went in, in order,
 * also after a reopen. */
static void test_append_replay(void)
{
    struct env e;
    struct ntm_store *st = start(&e, "replay.db", (struct opts){0});
    if (!st)
        return;
    enum { N = 14 };
    struct ntm_record *r = samples(N);
    for (int i = 0; i < N; i++)
        CHECK_INT(ntm_store_append(st, &r[i]), 0);
    CHECK_INT(ntm_store_last_msg_id(st), N);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM messages", -1), 0); /* not committed yet */
    CHECK_INT(ntm_store_commit(st), 0);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM messages", -1), N);
    for (int pass = 0; pass < 2; pass++) {
        struct got *g = replay(st, 0);
        CHECK_INT(g->n, N);
        int same = 0;
        for (size_t i = 0; i < g->n && i < N; i++)
            same += g->ids[i] == (int64_t)i + 1 && same_record(&g->recs[i], &r[i]);
        CHECK_INT(same, N);
        g = replay(st, 10);
        CHECK_INT(g->n, N - 10);
        CHECK_INT(g->n ? g->ids[0] : 0, 11);
        if (pass == 0) {
            ntm_store_close(st);
            st = open_store(&e);
            if (!st)
                break;
        }
    }
    CHECK_INT(peek(e.path, "SELECT messages FROM devices WHERE name = 'dev-03'", -1), 1);
    CHECK_INT(peek(e.path, "SELECT last_ts FROM devices WHERE name = 'dev-03'", -1), r[3].ts);
    ntm_store_close(st);
    free(r);
    env_free(&e);
}

/* A device is one village and one kind: the store says when a record claims
 * another, stores nothing of it, and still knows after a reopen. */
static void test_device_conflict(void)
{
    struct env e;
    struct ntm_store *st = start(&e, "devices.db", (struct opts){0});
    if (!st)
        return;
    struct ntm_record r;
    sample_record(&r, 0); /* a speaker's broadcast */
    snprintf(r.device, sizeof r.device, "spk-1");
    r.village = 0;
    CHECK(!ntm_store_device_conflict(st, &r));
    CHECK_INT(ntm_store_append(st, &r), 0);
    r.village = 1;
    CHECK(ntm_store_device_conflict(st, &r));
    CHECK_INT(ntm_store_append(st, &r), 1);
    r.village = 0;
    r.kind = NTM_KIND_CAMERA;
    CHECK(ntm_store_device_conflict(st, &r));
    /* declared but never heard from: known all the same */
    snprintf(r.device, sizeof r.device, "cam-1");
    r.kind = NTM_KIND_SPEAKER;
    r.village = 1;
    CHECK(ntm_store_device_conflict(st, &r));
    r.kind = NTM_KIND_CAMERA;
    CHECK(!ntm_store_device_conflict(st, &r));
    /* a new device is known from its first record on */
    sample_record(&r, 1);
    snprintf(r.device, sizeof r.device, "ap-9");
    r.village = 1;
    CHECK(!ntm_store_device_conflict(st, &r));
    CHECK_INT(ntm_store_append(st, &r), 0);
    r.village = 0;
    CHECK(ntm_store_device_conflict(st, &r));
    struct ntm_store_stats s;
    ntm_store_stats(st, &s);
    CHECK_INT(s.accepted_total, 2);
    ntm_store_close(st);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM messages", -1), 2);
    CHECK_INT(peek(e.path, "SELECT declared FROM devices WHERE name = 'ap-9'", -1), 0);
    CHECK_INT(peek(e.path, "SELECT declared FROM devices WHERE name = 'spk-1'", -1), 1);

    st = open_store(&e);
    if (st) {
        CHECK(ntm_store_device_conflict(st, &r));
        r.village = 1;
        CHECK(!ntm_store_device_conflict(st, &r));
        ntm_store_close(st);
    }
    env_free(&e);
}

/* The quarantine keeps the newest storage.quarantine_max rejections: topic
 * (cut at 256 bytes), reason, detail and size, never the payload. */
static void test_quarantine(void)
{
    struct env e;
    struct ntm_store *st = start(&e, "quarantine.db", (struct opts){.quarantine_max = 5});
    if (!st)
        return;
    for (int i = 0; i < 12; i++) {
        char topic[96];
        int n = snprintf(topic, sizeof topic, "ntm/v1/thon-a/speaker/spk-%d/state", i);
        CHECK_INT(ntm_store_reject(st, 1000 + i, topic, (size_t)n, NTM_REJ_NOT_JSON,
                                   "the payload is not JSON", 5000 + (size_t)i),
                  0);
    }
    CHECK_INT(ntm_store_commit(st), 0);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM quarantine", -1), 5);
    CHECK_INT(peek(e.path, "SELECT min(size) FROM quarantine", -1), 5007);
    CHECK_INT(peek(e.path, "SELECT max(recv_ms) FROM quarantine", -1), 1011);
    char *first = peek_text(e.path, "SELECT topic FROM quarantine ORDER BY id LIMIT 1");
    CHECK(strcmp(first, "ntm/v1/thon-a/speaker/spk-7/state") == 0);
    free(first);
    char *cols =
        peek_text(e.path, "SELECT group_concat(name) FROM pragma_table_info('quarantine')");
    CHECK(strcmp(cols, "id,recv_ms,topic,reason,detail,size") == 0);
    free(cols);
    CHECK_INT(peek(e.path,
                   "SELECT count(*) FROM quarantine WHERE typeof(topic) != 'text' OR"
                   " typeof(detail) != 'text' OR reason != 'not_json'",
                   -1),
              0);
    /* a long topic is cut; the count is the message's, the payload is not kept */
    char topic[1000];
    memset(topic, 'x', sizeof topic);
    CHECK_INT(ntm_store_reject(st, 2000, topic, sizeof topic, NTM_REJ_TOPIC, "bad topic", 70000),
              0);
    CHECK_INT(ntm_store_commit(st), 0);
    CHECK_INT(peek(e.path, "SELECT length(topic) FROM quarantine WHERE recv_ms = 2000", -1), 256);
    CHECK_INT(peek(e.path, "SELECT size FROM quarantine WHERE recv_ms = 2000", -1), 70000);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM quarantine", -1), 5);
    /* quarantine_max 0: counted, not kept */
    e.cfg->storage.quarantine_max = 0;
    CHECK_INT(ntm_store_reject(st, 3000, "t", 1, NTM_REJ_VALUE, "bad value", 3), 0);
    CHECK_INT(ntm_store_commit(st), 0);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM quarantine WHERE recv_ms = 3000", -1), 0);
    struct ntm_store_stats s;
    ntm_store_stats(st, &s);
    CHECK_INT(s.rejected[NTM_REJ_NOT_JSON], 12);
    CHECK_INT(s.rejected[NTM_REJ_TOPIC], 1);
    CHECK_INT(s.rejected[NTM_REJ_VALUE], 1);
    CHECK_INT(s.rejected_total, 14);
    ntm_store_close(st);
    env_free(&e);
}

/* The counters are in the file: a restart starts from them. */
static void test_counters_survive(void)
{
    struct env e;
    struct ntm_store *st = start(&e, "counters.db", (struct opts){.quarantine_max = 10});
    if (!st)
        return;
    struct ntm_record *r = samples(SAMPLE_SHAPES); /* one clock fallback, one late */
    for (int i = 0; i < SAMPLE_SHAPES; i++)
        CHECK_INT(ntm_store_append(st, &r[i]), 0);
    ntm_store_reject(st, 1, "a", 1, NTM_REJ_TOPIC, "x", 1);
    ntm_store_reject(st, 2, "b", 1, NTM_REJ_VALUE, "y", 1);
    ntm_store_reject(st, 3, "c", 1, NTM_REJ_VALUE, "z", 1);
    ntm_store_close(st);
    CHECK_INT(peek(e.path, "SELECT value FROM counters WHERE name = 'accepted'", -1),
              SAMPLE_SHAPES);
    CHECK_INT(peek(e.path, "SELECT value FROM counters WHERE name = 'rejected.bad_value'", -1), 2);

    st = open_store(&e);
    if (st) {
        struct ntm_store_stats s;
        ntm_store_stats(st, &s);
        CHECK_INT(s.accepted_total, SAMPLE_SHAPES);
        CHECK_INT(s.buffered, SAMPLE_SHAPES);
        CHECK_INT(s.clock_fallback_total, 1);
        CHECK_INT(s.late_total, 1);
        CHECK_INT(s.rejected[NTM_REJ_TOPIC], 1);
        CHECK_INT(s.rejected[NTM_REJ_VALUE], 2);
        CHECK_INT(s.rejected_total, 3);
        CHECK_INT(s.dropped_total, 0);
        /* and they go on from there */
        CHECK_INT(ntm_store_append(st, &r[0]), 0);
        ntm_store_close(st);
    }
    CHECK_INT(peek(e.path, "SELECT value FROM counters WHERE name = 'accepted'", -1),
              SAMPLE_SHAPES + 1);
    free(r);
    env_free(&e);
}

/* Over storage.max_mb the oldest messages go first, counted as dropped; ids
 * go on above the evicted ones. */
static void test_size_cap(void)
{
    struct env e;
    struct ntm_store *st = start(&e, "cap.db", (struct opts){.max_mb = 1});
    if (!st)
        return;
    enum { N = 300 };
    struct ntm_record r;
    sample_record(&r, 1); /* a wifi report: 8 KiB of MAC hashes each */
    r.u.wifi.n_macs = NTM_MACS_MAX;
    for (int k = 0; k < NTM_MACS_MAX; k++)
        r.u.wifi.mac_hash[k] = 0x9e3779b97f4a7c15ull * (uint64_t)(k + 1);
    for (int i = 0; i < N; i++) {
        r.ts = 1760000000 + i;
        CHECK_INT(ntm_store_append(st, &r), 0);
    }
    ntm_store_close(st);
    CHECK(peek(e.path, "SELECT page_count * page_size FROM pragma_page_count, pragma_page_size",
               0) > (2 << 20));

    st = open_store(&e); /* the cap is enforced at open, and at every sync tick */
    if (!st)
        return;
    struct ntm_store_stats s;
    ntm_store_stats(st, &s);
    CHECK(s.dropped_total > 0);
    CHECK_INT(s.buffered + s.dropped_total, N);
    CHECK_INT(ntm_store_meta_get(st, NTM_META_MSG_ID_FLOOR, -1), N);
    int64_t dropped = (int64_t)s.dropped_total;
    CHECK_INT(ntm_store_append(st, &r), 0);
    CHECK_INT(ntm_store_last_msg_id(st), N + 1);
    ntm_store_close(st);
    CHECK_INT(peek(e.path, "SELECT min(id) FROM messages", -1), dropped + 1); /* oldest first */
    CHECK_INT(peek(e.path, "SELECT count(*) FROM messages", -1), N - dropped + 1);
    CHECK_INT(peek(e.path, "SELECT min(ts) FROM messages", -1), 1760000000 + dropped);
    CHECK_INT(peek(e.path, "SELECT value FROM counters WHERE name = 'dropped'", -1), dropped);
    CHECK(peek(e.path,
               "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count,"
               " pragma_freelist_count, pragma_page_size",
               -1) <= (1 << 20) + (64 << 10));
    env_free(&e);
}

static bool same_key(const uint8_t a[16], const uint8_t b[16])
{
    return memcmp(a, b, 16) == 0;
}

/* One secret key a local day: made on first use and committed at once, the
 * same all day (also after a restart), destroyed by forget; one that cannot be
 * stored is not used, and spoils no other. */
static void test_mac_keys(void)
{
    struct env e;
    struct ntm_store *st = start(&e, "keys.db", (struct opts){0});
    if (!st)
        return;
    const int64_t d1 = 20400, d2 = 20401, d3 = 20402;
    uint8_t k1[16], k1b[16], k2[16], k1c[16], zero[16] = {0};
    CHECK_INT(ntm_store_mac_key(st, d1, k1), 0);
    CHECK_INT(ntm_store_mac_key(st, d1, k1b), 0);
    CHECK(same_key(k1, k1b));
    CHECK(!same_key(k1, zero));
    CHECK_INT(ntm_store_mac_key(st, d2, k2), 0);
    CHECK(!same_key(k1, k2));
    CHECK_INT(peek(e.path, "SELECT count(*) FROM mac_keys", -1), 2); /* committed at once */
    ntm_store_close(st);

    st = open_store(&e);
    if (!st)
        return;
    CHECK_INT(ntm_store_mac_key(st, d1, k1b), 0);
    CHECK(same_key(k1, k1b));
    CHECK_INT(ntm_store_forget_mac_keys(st, d3), 0);
    CHECK_INT(ntm_store_commit(st), 0);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM mac_keys", -1), 0);
    CHECK_INT(ntm_store_mac_key(st, d1, k1c), 0); /* gone: a new one */
    CHECK(!same_key(k1, k1c));
    CHECK_INT(peek(e.path, "SELECT count(*) FROM mac_keys", -1), 1);

    /* A key that cannot be stored (another writer holds the file past the
     * busy timeout) is refused, and the cached key of the day that shares its
     * slot (d1 + 3) is left as it was. */
    sqlite3 *other = NULL;
    CHECK(sqlite3_open(e.path, &other) == SQLITE_OK &&
          sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_INT(ntm_store_mac_key(st, d1 + 3, k2), -1);
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    CHECK_INT(ntm_store_mac_key(st, d1, k1b), 0);
    CHECK(same_key(k1b, k1c));
    CHECK_INT(ntm_store_mac_key(st, d1 + 3, k2), 0); /* and made once the file is free */
    CHECK(!same_key(k2, k1c));
    CHECK_INT(peek(e.path, "SELECT count(*) FROM mac_keys", -1), 2);
    ntm_store_close(st);
    env_free(&e);
}

static int failed_calls, recovered_calls;

static void on_failed(void *arg)
{
    (void)arg;
    failed_calls++;
}

static void on_recovered(void *arg)
{
    (void)arg;
    recovered_calls++;
}

/* SQLite may roll the open transaction back by itself after a full disk or an
 * I/O error in any statement (done here with a ROLLBACK behind the store's
 * back). The store notices at its next write: the records of the lost
 * transaction and those after it are kept and handed back once it writes
 * again, and none is committed on its own (which would store it twice). */
static void test_lost_transaction(void)
{
    struct env e;
    struct ntm_store *st = start(&e, "lost.db", (struct opts){0});
    if (!st)
        return;
    ntm_store_set_hooks(st,
                        &(struct ntm_store_hooks){.failed = on_failed, .recovered = on_recovered});
    struct ntm_record *r = samples(5);
    CHECK_INT(ntm_store_append(st, &r[0]), 0);
    CHECK_INT(ntm_store_append(st, &r[1]), 0);
    CHECK_INT(sqlite3_exec(ntm_store_db(st), "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    for (int i = 2; i < 5; i++)
        CHECK_INT(ntm_store_append(st, &r[i]), 0); /* kept */
    CHECK_INT(failed_calls, 1);
    CHECK(!ntm_store_snapshot_ok(st));
    CHECK_INT(ntm_store_commit(st), 0);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM messages", -1), 0);
    /* the recovery tries every second */
    for (int i = 0; i < 100 && recovered_calls == 0; i++)
        uv_run(&e.loop, UV_RUN_ONCE);
    CHECK_INT(recovered_calls, 1);
    size_t n = 0;
    struct ntm_record **kept = ntm_store_take_kept(st, &n);
    CHECK_INT(n, 5);
    int same = 0;
    for (size_t i = 0; i < n && i < 5; i++) {
        same += same_record(kept[i], &r[i]);
        CHECK_INT(ntm_store_append(st, kept[i]), 0);
        free(kept[i]);
    }
    free(kept);
    CHECK_INT(same, 5);
    CHECK_INT(ntm_store_commit(st), 0);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM messages", -1), 5);
    CHECK_INT(peek(e.path, "SELECT max(id) FROM messages", -1), 5);
    CHECK_INT(peek(e.path, "SELECT value FROM counters WHERE name = 'accepted'", -1), 5);
    ntm_store_close(st);
    free(r);
    env_free(&e);
}

/* The child: 3 records committed, 4 more only in the tail journal, then the
 * process ends as a crash would (no flush, no close). */
static int crash_child(const struct ntm_record *r)
{
    struct env e;
    if (!env_init(&e, "crash.db", (struct opts){.commit_ms = 50}))
        return 2;
    struct ntm_store *st = open_store(&e);
    if (!st)
        return 3;
    for (int i = 0; i < 3; i++)
        if (ntm_store_append(st, &r[i]) != 0)
            return 4;
    if (ntm_store_commit(st) != 0)
        return 5;
    for (int i = 3; i < 7; i++)
        if (ntm_store_append(st, &r[i]) != 0)
            return 6;
    /* the tail timer (storage.commit_ms) writes the journal; the commit
     * would follow one interval later. UV_RUN_NOWAIT runs the timers that are
     * due once, so the loop stops between the two however late it runs. */
    char tail[600];
    snprintf(tail, sizeof tail, "%s-tail", e.path);
    struct stat sb;
    for (int i = 0; i < 2000 && (stat(tail, &sb) != 0 || sb.st_size == 0); i++) {
        nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
        uv_run(&e.loop, UV_RUN_NOWAIT);
    }
    return stat(tail, &sb) == 0 && sb.st_size > 0 ? 0 : 7;
}

static void test_tail_after_crash(void)
{
    struct ntm_record *r = samples(7);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(crash_child(r));
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct env e;
    if (!env_init(&e, "crash.db", (struct opts){.commit_ms = 50}))
        return;
    CHECK_INT(peek(e.path, "SELECT count(*) FROM messages", -1), 3);
    struct ntm_store *st = open_store(&e);
    if (!st)
        return;
    size_t n = 0;
    struct ntm_record **kept = ntm_store_take_kept(st, &n);
    CHECK_INT(n, 4);
    int same = 0;
    for (size_t i = 0; i < n && i < 4; i++)
        same += same_record(kept[i], &r[3 + i]);
    CHECK_INT(same, 4);
    /* handed back once; taken in again, they get the ids they had */
    size_t again = 9;
    struct ntm_record **none = ntm_store_take_kept(st, &again);
    CHECK_INT(again, 0);
    free(none);
    for (size_t i = 0; i < n; i++) {
        CHECK_INT(ntm_store_append(st, kept[i]), 0);
        free(kept[i]);
    }
    free(kept);
    ntm_store_kept_fed(st);
    CHECK_INT(ntm_store_last_msg_id(st), 7);
    ntm_store_close(st);
    char tail[600];
    snprintf(tail, sizeof tail, "%s-tail", e.path);
    /* a clean stop empties it: the end marker at the head of the entries */
    int tfd = open(tail, O_RDONLY);
    uint8_t head[4] = {1, 1, 1, 1};
    CHECK(tfd >= 0 && pread(tfd, head, 4, NTM_TAIL_ENTRIES_OFF) == 4);
    CHECK_INT(head[0] | head[1] | head[2] | head[3], 0);
    if (tfd >= 0)
        close(tfd);
    st = open_store(&e);
    if (st) {
        n = 9;
        kept = ntm_store_take_kept(st, &n);
        CHECK_INT(n, 0);
        free(kept);
        struct got *g = replay(st, 0);
        CHECK_INT(g->n, 7);
        same = 0;
        for (size_t i = 0; i < g->n && i < 7; i++)
            same += g->ids[i] == (int64_t)i + 1 && same_record(&g->recs[i], &r[i]);
        CHECK_INT(same, 7);
        ntm_store_close(st);
    }
    free(r);
    env_free(&e);
}

int main(void)
{
    if (!store_env_begin())
        return 1;
    test_append_replay();
    test_device_conflict();
    test_quarantine();
    test_counters_survive();
    test_size_cap();
    test_mac_keys();
    test_lost_transaction();
    test_tail_after_crash();
    return store_env_end("store_write");
}
