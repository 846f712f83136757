/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_store.c: the durable buffer (daemon/store*.c) on real SQLite files in a
 * temporary directory: a fresh buffer and its reopening, migrations from each
 * older schema, append/commit/replay, device conflicts, the bounded
 * quarantine, counters across a restart, the size cap, MAC keys, the meta
 * keys, a bad or foreign file moved aside, a newer schema refused untouched,
 * and the tail journal handed back after a crash (a child process that exits
 * without closing). What it reads back it reads with its own connection. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "records.h"
#include "store_impl.h"

static char dir[] = "/tmp/ntm-test-store-XXXXXX";

/* ---- the environment of one store --------------------------------------------- */

struct env {
    uv_loop_t loop;
    struct ntm_log log;
    struct ntm_clock clock;
    struct ntm_config *cfg;
    char path[512];
    char err[1024];
};

struct opts {
    int max_mb, quarantine_max, commit_ms, sync_ms;
};

static bool env_init(struct env *e, const char *name, struct opts o)
{
    memset(e, 0, sizeof *e);
    snprintf(e->path, sizeof e->path, "%s/%s", dir, name);
    char text[2048];
    snprintf(text, sizeof text,
             "gateway:\n  id: gw-test\n"
             "commune:\n  code: \"16279\"\n  province_code: \"38\"\n"
             "villages:\n  - {id: thon-a}\n  - {id: thon-b}\n"
             "devices:\n"
             "  - {id: spk-1, kind: speaker, village: thon-a}\n"
             "  - {id: cam-1, kind: camera, village: thon-b}\n"
             "storage:\n  path: %s\n  max_mb: %d\n  commit_ms: %d\n  commit_max: 4000\n"
             "  sync_ms: %d\n  quarantine_max: %d\n",
             e->path, o.max_mb ? o.max_mb : 64, o.commit_ms ? o.commit_ms : 50,
             o.sync_ms ? o.sync_ms : 60000, o.quarantine_max);
    e->cfg = ntm_config_parse("test_store.yaml", text, strlen(text), e->err, sizeof e->err);
    if (!e->cfg) {
        fprintf(stderr, "config: %s\n", e->err);
        return false;
    }
    uv_loop_init(&e->loop);
    ntm_log_init(&e->log, "test_store", LOG_WARNING);
    ntm_clock_init(&e->clock);
    return true;
}

static void env_free(struct env *e)
{
    CHECK_INT(uv_loop_close(&e->loop), 0); /* the store closed every handle it made */
    ntm_config_free(e->cfg);
}

/* Opens the store of e (a check: a failure is counted and printed). */
static struct ntm_store *open_store(struct env *e)
{
    struct ntm_store *st = NULL;
    if (ntm_store_open(&st, &e->loop, e->cfg, &e->log, &e->clock, e->err, sizeof e->err) != 0) {
        failed++;
        fprintf(stderr, "open %s: %s\n", e->path, e->err);
        ntm_store_close(st);
        return NULL;
    }
    passed++;
    return st;
}

/* A store on a file of its own; NULL (with e freed) when it cannot be had. */
static struct ntm_store *start(struct env *e, const char *name, struct opts o)
{
    if (!env_init(e, name, o)) {
        failed++;
        return NULL;
    }
    struct ntm_store *st = open_store(e);
    if (!st)
        env_free(e);
    return st;
}

/* ---- reading the file with a connection of our own ----------------------------- */

static int64_t peek(const char *path, const char *sql, int64_t dflt)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int64_t v = dflt;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(s, 0);
    else if (db && sqlite3_errcode(db) != SQLITE_OK && sqlite3_errcode(db) != SQLITE_DONE)
        fprintf(stderr, "peek %s: %s: %s\n", path, sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

/* The first column as text (malloc'd; "" when none). */
static char *peek_text(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    char *v = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_text(s, 0))
        v = strdup((const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v ? v : strdup("");
}

static bool run_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    bool ok = sqlite3_open(path, &db) == SQLITE_OK &&
              sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK;
    if (!ok)
        fprintf(stderr, "%s: %s: %s\n", path, sql, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    sqlite3_close(db);
    return ok;
}

/* The whole file (malloc'd), or NULL when it does not exist. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    return buf;
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static bool exists_suffix(const struct env *e, const char *suffix)
{
    char p[600];
    snprintf(p, sizeof p, "%s%s", e->path, suffix);
    return exists(p);
}

/* The name of the file moved aside for base ("x.db" -> "x.db.bad-..."), or "". */
static void find_bad(const char *base, char *out, size_t len)
{
    out[0] = '\0';
    DIR *d = opendir(dir);
    size_t n = strlen(base);
    for (struct dirent *de; d && (de = readdir(d));)
        if (strncmp(de->d_name, base, n) == 0 && strncmp(de->d_name + n, ".bad-", 5) == 0 &&
            !strstr(de->d_name + n, "-wal") && !strstr(de->d_name + n, "-shm"))
            snprintf(out, len, "%s/%s", dir, de->d_name);
    if (d)
        closedir(d);
}

/* ---- collecting replayed records -------------------------------------------------- */

struct got {
    size_t n;
    int64_t ids[400];
    struct ntm_record *recs; /* 400 */
};

static void collect(void *arg, const struct ntm_record *rec, int64_t id)
{
    struct got *g = arg;
    if (g->n >= 400)
        return;
    g->ids[g->n] = id;
    g->recs[g->n++] = *rec;
}

static struct got replayed;

static struct got *replay(struct ntm_store *st, int64_t after)
{
    if (!replayed.recs)
        replayed.recs = malloc(400 * sizeof *replayed.recs);
    replayed.n = 0;
    CHECK_INT(ntm_store_replay(st, after, collect, &replayed), 0);
    return &replayed;
}

static struct ntm_record *samples(int n)
{
    struct ntm_record *r = malloc((size_t)n * sizeof *r);
    for (int i = 0; i < n; i++) {
        sample_record(&r[i], i);
        r[i].village = (uint16_t)(i % 2);
    }
    return r;
}

/* ---- the tests ---------------------------------------------------------------------- */

/* A fresh buffer is made with the current schema; what it holds is there
 * after a reopen, and created_at is not written again. */
static void test_fresh_and_reopen(void)
{
    struct env e;
    if (!env_init(&e, "fresh.db", (struct opts){0}))
        return;
    CHECK(!exists(e.path));
    struct ntm_store *st = open_store(&e);
    if (!st)
        return;
    CHECK(exists(e.path));
    CHECK_INT(ntm_store_meta_get(st, NTM_META_SCHEMA_VERSION, -1), NTM_SCHEMA_VERSION);
    int64_t created = ntm_store_meta_get(st, NTM_META_CREATED_AT, -1);
    CHECK(llabs(created - (int64_t)time(NULL)) < 120);
    CHECK_INT(ntm_store_last_msg_id(st), 0);
    struct ntm_record *r = samples(2);
    CHECK_INT(ntm_store_append(st, &r[0]), 0);
    CHECK_INT(ntm_store_append(st, &r[1]), 0);
    ntm_store_close(st);
    CHECK_INT(peek(e.path, "PRAGMA user_version", -1), NTM_SCHEMA_VERSION);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM devices WHERE declared = 1", -1), 2);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM messages", -1), 2);

    st = open_store(&e);
    if (st) {
        CHECK_INT(ntm_store_last_msg_id(st), 2);
        CHECK_INT(ntm_store_meta_get(st, NTM_META_CREATED_AT, -1), created);
        struct got *g = replay(st, 0);
        CHECK_INT(g->n, 2);
        CHECK(g->n == 2 && same_record(&g->recs[0], &r[0]) && same_record(&g->recs[1], &r[1]));
        struct ntm_store_stats s;
        ntm_store_stats(st, &s);
        CHECK_INT(s.accepted_total, 2);
        CHECK_INT(s.buffered, 2);
        ntm_store_close(st);
    }
    free(r);
    env_free(&e);

    /* an empty file (made by touch) is a fresh buffer too, not a bad one */
    if (!env_init(&e, "empty.db", (struct opts){0}))
        return;
    close(open(e.path, O_WRONLY | O_CREAT, 0600));
    st = open_store(&e);
    ntm_store_close(st);
    char bad[600];
    find_bad("empty.db", bad, sizeof bad);
    CHECK(bad[0] == '\0');
    CHECK_INT(peek(e.path, "PRAGMA user_version", -1), NTM_SCHEMA_VERSION);
    env_free(&e);
}

/* The schema of a fresh buffer, as text. */
static char *schema_of(const char *path)
{
    return peek_text(path, "SELECT group_concat(type || ' ' || name || ': ' || coalesce(sql, ''),"
                           " char(10)) FROM (SELECT * FROM sqlite_master ORDER BY type, name)");
}

/* A file of each older version, filled as a gateway of that version leaves it,
 * is migrated in place: nothing kept is lost or renumbered, ids stay above
 * every id ever used, and the schema ends as a fresh buffer's. */
static void test_migrations(void)
{
    struct env e;
    if (!env_init(&e, "schema-ref.db", (struct opts){0}))
        return;
    ntm_store_close(open_store(&e));
    char *fresh = schema_of(e.path);
    CHECK(strstr(fresh, "messages\"(id INTEGER PRIMARY KEY, ts INTEGER") !=
          NULL); /* no AUTOINCREMENT */
    env_free(&e);

    for (int v = 1; v < NTM_SCHEMA_VERSION; v++) {
        char name[32];
        snprintf(name, sizeof name, "v%d.db", v);
        if (!env_init(&e, name, (struct opts){0}))
            continue;
        for (int step = 0; step < v; step++)
            CHECK(run_sql(e.path, ntm_st_migration(step)));
        CHECK_INT(peek(e.path, "PRAGMA user_version", -1), v);
        char sql[1024];
        snprintf(sql, sizeof sql,
                 "INSERT INTO meta VALUES('schema_version', %d), ('created_at', 12345);"
                 "INSERT INTO devices(id, name, village, kind, declared, messages)"
                 " VALUES(1, 'spk-1', 'thon-a', 'speaker', 1, 30);"
                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30)"
                 " INSERT INTO messages(ts, recv_ms, device, channel, event, flags, interval_s,"
                 " uptime_s) SELECT 1760000000 + i, (1760000000 + i) * 1000, 1, %d, 0, 0, 60,"
                 " 1000 + i FROM n;"
                 "DELETE FROM messages WHERE id <= 10 OR id > 25;",
                 v, NTM_CH_HEARTBEAT);
        CHECK(run_sql(e.path, sql));
        if (v >= 2)
            CHECK(run_sql(
                e.path, "INSERT INTO alerts(ts, village, kind, device, type, batch) VALUES"
                        " (1, 'thon-a', 'speaker', 'spk-1', 'offline', 1),"
                        " (2, 'thon-a', 'speaker', 'spk-1', 'online', 1),"
                        " (3, 'thon-a', 'speaker', 'spk-1', 'offline', NULL);"
                        "INSERT INTO deliveries(seq, uplink, state) VALUES(1, 'up', 'pending');"));
        struct ntm_store *st = open_store(&e);
        if (!st) {
            env_free(&e);
            continue;
        }
        CHECK_INT(ntm_store_meta_get(st, NTM_META_SCHEMA_VERSION, -1), NTM_SCHEMA_VERSION);
        CHECK_INT(ntm_store_meta_get(st, NTM_META_CREATED_AT, -1), 12345);
        CHECK_INT(ntm_store_meta_get(st, NTM_META_MSG_ID_FLOOR, -1), 30);
        struct got *g = replay(st, 0);
        CHECK_INT(g->n, 15);
        CHECK(g->n == 15 && g->ids[0] == 11 && g->ids[14] == 25);
        CHECK(g->n == 15 && g->recs[0].u.heartbeat.uptime_s == 1011 &&
              g->recs[0].channel == NTM_CH_HEARTBEAT && g->recs[0].kind == NTM_KIND_SPEAKER);
        struct ntm_record r;
        sample_record(&r, 2);
        snprintf(r.device, sizeof r.device, "spk-1");
        r.kind = NTM_KIND_SPEAKER;
        CHECK_INT(ntm_store_append(st, &r), 0);
        CHECK_INT(ntm_store_last_msg_id(st), 31); /* above every id ever used */
        ntm_store_close(st);
        CHECK_INT(peek(e.path, "PRAGMA user_version", -1), NTM_SCHEMA_VERSION);
        CHECK_INT(peek(e.path, "SELECT max(id) FROM messages", -1), 31);
        CHECK_INT(peek(e.path, "SELECT count(*) FROM sqlite_sequence WHERE name = 'messages'", -1),
                  0);
        if (v >= 2) {
            CHECK_INT(peek(e.path, "SELECT count(*) FROM alerts", -1), 1);
            CHECK_INT(peek(e.path, "SELECT ts FROM alerts", -1), 3);
            CHECK_INT(peek(e.path, "SELECT server_due_ms FROM deliveries", -1), 0);
        }
        char *got = schema_of(e.path);
        CHECK(strcmp(got, fresh) == 0);
        if (strcmp(got, fresh) != 0)
            fprintf(stderr, "schema from version %d:\n%s\nfresh:\n%s\n", v, got, fresh);
        free(got);
        char *ok = peek_text(e.path, "PRAGMA integrity_check");
        CHECK(strcmp(ok, "ok") == 0);
        free(ok);
        env_free(&e);
    }
    free(fresh);
}

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

/* Every meta key has one name; values join the open transaction. */
static void test_meta(void)
{
    for (int k = 0; k < NTM_META_COUNT; k++) {
        CHECK(ntm_store_meta_name((enum ntm_meta)k) != NULL);
        for (int j = 0; j < k; j++)
            CHECK(strcmp(ntm_store_meta_name((enum ntm_meta)k),
                         ntm_store_meta_name((enum ntm_meta)j)) != 0);
    }
    CHECK(ntm_store_meta_name(NTM_META_COUNT) == NULL);
    CHECK(strcmp(ntm_store_meta_name(NTM_META_LAST_SEQ), "last_seq") == 0);
    struct env e;
    struct ntm_store *st = start(&e, "meta.db", (struct opts){0});
    if (!st)
        return;
    CHECK_INT(ntm_store_meta_get(st, NTM_META_LAST_SEQ, -7), -7);
    CHECK_INT(ntm_store_meta_set(st, NTM_META_LAST_SEQ, 42), 0);
    CHECK_INT(ntm_store_meta_get(st, NTM_META_LAST_SEQ, -7), 42);
    CHECK_INT(peek(e.path, "SELECT value FROM meta WHERE key = 'last_seq'", -1), -1);
    CHECK_INT(ntm_store_commit(st), 0);
    CHECK_INT(peek(e.path, "SELECT value FROM meta WHERE key = 'last_seq'", -1), 42);
    CHECK_INT(ntm_store_meta_set(st, NTM_META_RELEASED_UPTO, 1760000000), 0);
    CHECK_INT(ntm_store_meta_set(st, NTM_META_CLOSED_DAY_UPTO, 1760054400), 0);
    CHECK_INT(ntm_store_meta_set(st, NTM_META_COUNT, 1), -1);
    ntm_store_close(st);
    CHECK_INT(peek(e.path, "SELECT value FROM meta WHERE key = 'closed_day_upto'", -1), 1760054400);
    st = open_store(&e);
    if (st) {
        CHECK_INT(ntm_store_meta_get(st, NTM_META_RELEASED_UPTO, 0), 1760000000);
        CHECK_INT(ntm_store_meta_get(st, NTM_META_LAST_SEQ, 0), 42);
        ntm_store_close(st);
    }
    env_free(&e);
}

/* ntm_store_run: one statement, one bound integer, in the open transaction. */
static void test_run(void)
{
    struct env e;
    struct ntm_store *st = start(&e, "run.db", (struct opts){0});
    if (!st)
        return;
    CHECK_INT(ntm_store_run(st, "UPDATE devices SET messages = ?1 WHERE declared = 1", 9), 2);
    CHECK_INT(ntm_store_run(st, "UPDATE devices SET messages = 0 WHERE id > ?1", 99), 0);
    CHECK_INT(ntm_store_run(st, "UPDATE no_such_table SET x = ?1", 1), -1);
    CHECK_INT(peek(e.path, "SELECT sum(messages) FROM devices", -1), 0); /* not committed */
    CHECK_INT(ntm_store_commit(st), 0);
    CHECK_INT(peek(e.path, "SELECT sum(messages) FROM devices", -1), 18);
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

/* What is at the path but is not an ntm-gateway buffer is moved aside, every
 * byte kept, and a fresh buffer is made. */
static void check_moved_aside(const char *name, const char *content, size_t len, const char *sql)
{
    struct env e;
    if (!env_init(&e, name, (struct opts){0}))
        return;
    if (content) {
        FILE *f = fopen(e.path, "wb");
        CHECK(f && fwrite(content, 1, len, f) == len);
        if (f)
            fclose(f);
    } else {
        CHECK(run_sql(e.path, sql));
    }
    size_t before_len = 0, after_len = 0;
    char *before = slurp(e.path, &before_len);
    struct ntm_store *st = open_store(&e);
    ntm_store_close(st);
    char bad[600];
    find_bad(name, bad, sizeof bad);
    CHECK(bad[0] != '\0');
    char *after = bad[0] ? slurp(bad, &after_len) : NULL;
    CHECK(after && before && after_len == before_len && memcmp(after, before, before_len) == 0);
    CHECK_INT(peek(e.path, "PRAGMA user_version", -1), NTM_SCHEMA_VERSION);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM messages", -1), 0);
    free(before);
    free(after);
    env_free(&e);
}

static void test_bad_files(void)
{
    char junk[5000];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 7 + 3);
    memcpy(junk, "not a database at all", 21);
    check_moved_aside("junk.db", junk, sizeof junk, NULL);
    /* starts as SQLite, then garbage: SQLite calls it damaged */
    memcpy(junk, "SQLite format 3", 16);
    check_moved_aside("damaged.db", junk, sizeof junk, NULL);
    check_moved_aside("foreign.db", NULL, 0,
                      "CREATE TABLE photos(id INTEGER PRIMARY KEY, path TEXT);"
                      "INSERT INTO photos(path) VALUES('a.jpg'), ('b.jpg');");
}

/* A buffer of a newer daemon is refused with a message saying so, and nothing
 * is written: not the file, not a WAL, not a tail journal or reserve. */
static void test_newer_schema(void)
{
    struct env e;
    if (!env_init(&e, "newer.db", (struct opts){0}))
        return;
    CHECK(run_sql(e.path, "CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
                          "CREATE TABLE things_of_v99(x);"
                          "INSERT INTO meta VALUES('schema_version', 99);"
                          "PRAGMA user_version=99;"));
    size_t before_len = 0, after_len = 0;
    char *before = slurp(e.path, &before_len);
    struct ntm_store *st = NULL;
    int rc = ntm_store_open(&st, &e.loop, e.cfg, &e.log, &e.clock, e.err, sizeof e.err);
    CHECK_INT(rc, -1);
    CHECK(strstr(e.err, "database schema version 99 is newer than this daemon's (4)") != NULL);
    ntm_store_close(st);
    char *after = slurp(e.path, &after_len);
    CHECK(after && before && after_len == before_len && memcmp(after, before, before_len) == 0);
    CHECK(!exists_suffix(&e, "-wal"));
    CHECK(!exists_suffix(&e, "-shm"));
    CHECK(!exists_suffix(&e, "-tail"));
    CHECK(!exists_suffix(&e, "-reserve"));
    char bad[600];
    find_bad("newer.db", bad, sizeof bad);
    CHECK(bad[0] == '\0');
    free(before);
    free(after);
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
    CHECK_INT(ntm_store_last_msg_id(st), 7);
    ntm_store_close(st);
    char tail[600];
    snprintf(tail, sizeof tail, "%s-tail", e.path);
    struct stat sb;
    CHECK(stat(tail, &sb) == 0 && sb.st_size == 0); /* a clean stop empties it */
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

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    unsetenv("RUNTIME_DIRECTORY"); /* the tail journal beside the database */
    test_fresh_and_reopen();
    test_migrations();
    test_append_replay();
    test_device_conflict();
    test_quarantine();
    test_counters_survive();
    test_size_cap();
    test_mac_keys();
    test_meta();
    test_run();
    test_lost_transaction();
    test_bad_files();
    test_newer_schema();
    test_tail_after_crash();
    free(replayed.recs);
    remove_dir();
    printf("store: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
