/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_store.c: the durable buffer (daemon/store*.c) on real SQLite files, its
 * file and schema: a fresh buffer and its reopening, migrations from each
 * older schema, the meta keys, ntm_store_run, a bad or foreign file moved
 * aside, a newer schema refused untouched. test_store_write.c has the writing.
 * What it reads back it reads with a connection of its own. */
#include "store_env.h"

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

    /* the fixture below is written in the tables of versions 1 to 3 (the 3 -> 4
     * step's ids and alerts); 4 -> 5 only adds the page's history tables, and
     * the schema compared at the end is the fresh one */
    for (int v = 1; v < 4; v++) {
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

/* ntm_store_forget_device: undeclared devices leave the cache (the others are
 * still found past the holes it leaves) and the table; declared and unknown
 * ones are left; a forgotten id is never given again, so its messages stay out
 * of the replay even when it comes back. */
static void test_forget(void)
{
    struct env e;
    struct ntm_store *st = start(&e, "forget.db", (struct opts){0});
    if (!st)
        return;
    enum { N = 150 };
    struct ntm_record r;
    for (int i = 0; i < N; i++) {
        sample_record(&r, 0); /* a speaker's broadcast */
        snprintf(r.device, sizeof r.device, "u-%03d", i);
        CHECK_INT(ntm_store_append(st, &r), 0);
    }
    CHECK_INT(ntm_store_commit(st), 0);
    int64_t max_id = peek(e.path, "SELECT max(id) FROM devices", -1);
    enum ntm_forget res;
    /* every third, and the last one made (the highest id) */
    for (int i = 0; i <= N; i += 3) {
        snprintf(r.device, sizeof r.device, "u-%03d", i < N ? i : N - 1);
        CHECK_INT(ntm_store_forget_device(st, r.device, &res), 0);
        CHECK_INT(res, NTM_FORGOTTEN);
    }
    enum { KEPT = N - N / 3 - 1 };
    CHECK_INT(ntm_store_forget_device(st, "u-000", &res), 0);
    CHECK_INT(res, NTM_FORGET_UNKNOWN);
    CHECK_INT(ntm_store_forget_device(st, "nobody", &res), 0);
    CHECK_INT(res, NTM_FORGET_UNKNOWN);
    CHECK_INT(ntm_store_forget_device(st, "spk-1", &res), 0);
    CHECK_INT(res, NTM_FORGET_DECLARED);
    CHECK_INT(ntm_store_commit(st), 0);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM devices", -1), 2 + KEPT);
    CHECK_INT(peek(e.path, "SELECT count(*) FROM messages", -1), N); /* the record stays */
    /* the cache: each kept device still known (a conflict under another village) */
    sample_record(&r, 0);
    r.village = 1;
    int known = 0, forgotten_known = 0;
    for (int i = 0; i < N; i++) {
        snprintf(r.device, sizeof r.device, "u-%03d", i);
        if (ntm_store_device_conflict(st, &r))
            *(i % 3 && i != N - 1 ? &known : &forgotten_known) += 1;
    }
    CHECK_INT(known, KEPT);
    CHECK_INT(forgotten_known, 0);
    CHECK_INT(replay(st, 0)->n, KEPT);

    /* one comes back: a new row, above every id ever given, and only its new message replays */
    sample_record(&r, 0);
    snprintf(r.device, sizeof r.device, "u-%03d", N - 1);
    CHECK_INT(ntm_store_append(st, &r), 0);
    CHECK_INT(ntm_store_commit(st), 0);
    CHECK_INT(peek(e.path, "SELECT id FROM devices WHERE name = 'u-149'", -1), max_id + 1);
    CHECK_INT(replay(st, 0)->n, KEPT + 1);
    CHECK_INT(peek(e.path, "SELECT value FROM meta WHERE key = 'device_id_floor'", -1), max_id);
    ntm_store_close(st);
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
    char want[96];
    snprintf(want, sizeof want, "database schema version 99 is newer than this daemon's (%d)",
             NTM_SCHEMA_VERSION);
    CHECK(strstr(e.err, want) != NULL);
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

int main(void)
{
    if (!store_env_begin())
        return 1;
    test_fresh_and_reopen();
    test_migrations();
    test_meta();
    test_run();
    test_forget();
    test_bad_files();
    test_newer_schema();
    return store_env_end("store");
}
