/* SPDX-License-Identifier: GPL-3.0-or-later */
/* replay.c: the ingest path of ntm-gatewayd end to end (topic, config village,
 * payload parse/validate/normalize with MAC hashing, device conflict check,
 * aggregation with its rows and alerts into the outbox tables, store append
 * with its batched commits, aggregation snapshots), driven from a file of
 * `ntm-sim --dry-run` lines instead of libmosquitto, so that callgrind can
 * count the instructions per message without the broker or the MQTT client.
 *
 * It calls, per message, what daemon.c's on_message and accept_record call,
 * in the same order; everything before and after the loop (config, database
 * open, reading the file) is setup, kept out of the count by running callgrind
 * with --toggle-collect=replay_loop. The monotonic clock the aggregation sees
 * is virtual (1 ms per 10 messages, a 10,000 msg/s consumer), so that windows
 * close at the same messages in every run and the count is reproducible.
 * The event loop is not run inside the loop (no timers: commits happen at
 * storage.commit_max records, as they do at full speed in the daemon); the
 * WAL checkpoint that the daemon's sync worker would do is done once at the
 * end, inside the counted function.
 *
 * Usage: ntm-replay --config GATEWAY.yaml --messages FILE [--repeat N]
 * Prints one line: "messages N accepted A rejected R".
 * It must not change the daemon: it only links its static libraries and
 * outbox.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>
#include <uv.h>

#include "aggregate.h"
#include "config.h"
#include "ingest.h"
#include "log.h"
#include "outbox.h"
#include "store.h"

struct msg {
    const char *topic;
    const char *payload;
    size_t len;
};

struct replay {
    uv_loop_t loop;
    struct ntm_config *cfg;
    struct ntm_log log;
    struct ntm_store *store;
    struct ntm_agg *agg;
    struct ntm_outbox *outbox;
    struct ntm_ingest_opts ingest;
    struct ntm_record rec;
    int64_t mono_ms;
    struct ntm_clock clock;
    bool snapshot_due;
    int64_t last_snapshot_ms;
    uint64_t accepted, rejected, late, rows, alerts, snapshots;
};

/* ---- as daemon.c ---------------------------------------------------------------- */

static void save_snapshot(struct replay *r)
{
    void *blob = NULL;
    size_t len = 0;
    if (ntm_agg_save(r->agg, &blob, &len) == 0)
        ntm_store_save_agg(r->store, ntm_store_last_msg_id(r->store), blob, len);
    free(blob);
    r->snapshot_due = false;
    r->last_snapshot_ms = r->mono_ms;
    r->snapshots++;
}

static void maybe_snapshot(struct replay *r)
{
    if (r->snapshot_due || r->mono_ms - r->last_snapshot_ms >= 60000)
        save_snapshot(r);
}

static void on_row(void *arg, const struct ntm_indicator_row *row)
{
    struct replay *r = arg;
    r->rows++;
    ntm_outbox_add_row(r->outbox, row);
}

static void on_window_closed(void *arg, enum ntm_period p, int64_t start, int64_t end)
{
    struct replay *r = arg;
    (void)start;
    r->snapshot_due = true;
    if (p == NTM_PERIOD_DAY) {
        ntm_outbox_day_closed(r->outbox, end);
        ntm_store_forget_mac_keys(r->store, ntm_local_day(end));
    }
}

static void on_alert(void *arg, const struct ntm_alert *a)
{
    struct replay *r = arg;
    r->alerts++;
    ntm_outbox_add_alert(r->outbox, a);
}

static void reject(struct replay *r, int64_t now_ms, const char *topic, enum ntm_reject why_r,
                   const char *why, size_t len)
{
    r->rejected++;
    ntm_store_reject(r->store, now_ms, topic, strlen(topic), why_r, why, len);
}

static void accept_record(struct replay *r, struct ntm_record *rec)
{
    if (ntm_agg_add(r->agg, rec, r->mono_ms)) {
        rec->flags |= NTM_REC_LATE;
        r->late++;
    } else {
        rec->flags &= (uint8_t)~NTM_REC_LATE;
    }
    ntm_store_append(r->store, rec);
    maybe_snapshot(r);
    r->accepted++;
}

static void on_message(struct replay *r, const char *topic, const void *payload, size_t len)
{
    int64_t now_ms = ntm_clock_wall_ms(&r->clock);
    char why[256] = "";
    struct ntm_topic t;
    memset(&t, 0, sizeof t);
    enum ntm_reject rj = ntm_topic_parse(topic, strlen(topic), &t, why, sizeof why);
    if (rj != NTM_ACCEPT) {
        reject(r, now_ms, topic, rj, why, len);
        return;
    }
    int village = ntm_config_village(r->cfg, t.village);
    if (village < 0) {
        snprintf(why, sizeof why, "village '%s' is not in the configuration", t.village);
        reject(r, now_ms, topic, NTM_REJ_VILLAGE, why, len);
        return;
    }
    rj = ntm_payload_parse(&t, payload, len, now_ms, &r->ingest, &r->rec, why, sizeof why);
    if (rj != NTM_ACCEPT) {
        reject(r, now_ms, topic, rj, why, len);
        return;
    }
    r->rec.village = (uint16_t)village;
    if (ntm_store_device_conflict(r->store, &r->rec)) {
        snprintf(why, sizeof why, "device '%s' is already known in another village or kind",
                 t.device);
        reject(r, now_ms, topic, NTM_REJ_DEVICE, why, len);
        return;
    }
    accept_record(r, &r->rec);
}

/* ---- the counted part ------------------------------------------------------------ */

__attribute__((noinline)) void replay_loop(struct replay *r, const struct msg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        r->mono_ms = 1000000 + (int64_t)(i / 10);
        on_message(r, m[i].topic, m[i].payload, m[i].len);
        /* the daemon ticks the aggregation once a second (status timer) */
        if (i % 10000 == 9999)
            ntm_agg_tick(r->agg, r->mono_ms);
    }
    ntm_store_commit(r->store);
    sqlite3_wal_checkpoint_v2(ntm_store_db(r->store), NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

/* ---- setup ----------------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    if (!buf || fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[sz] = '\0';
    *len = (size_t)sz;
    return buf;
}

static void add_device(void *arg, const char *name, int village, int kind)
{
    ntm_agg_add_device(arg, name, (uint16_t)village, (uint8_t)kind);
}

int main(int argc, char **argv)
{
    const char *config = NULL, *messages = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--config") == 0)
            config = argv[i + 1];
        else if (strcmp(argv[i], "--messages") == 0)
            messages = argv[i + 1];
    }
    if (!config || !messages) {
        fprintf(stderr, "usage: ntm-replay --config GATEWAY.yaml --messages FILE\n");
        return 2;
    }
    static struct replay r;
    char err[4096];
    r.cfg = ntm_config_load(config, err, sizeof err);
    if (!r.cfg) {
        fprintf(stderr, "ntm-replay: %s\n", err);
        return 1;
    }
    uv_loop_init(&r.loop);
    ntm_clock_init(&r.clock);
    ntm_log_init(&r.log, "ntm-replay", LOG_WARNING);
    if (ntm_store_open(&r.store, &r.loop, r.cfg, &r.log, &r.clock, err, sizeof err) != 0) {
        fprintf(stderr, "ntm-replay: %s\n", err);
        return 1;
    }
    r.ingest.max_payload = (size_t)r.cfg->mqtt.max_payload;
    r.ingest.mac_key = ntm_store_mac_key;
    r.ingest.clock_trusted = true;
    r.ingest.mac_key_arg = r.store;
    const char *names[] = {"bench"};
    if (ntm_outbox_new(&r.outbox, r.store, r.cfg, &r.log, &r.clock, names, 1, err, sizeof err) !=
        0) {
        fprintf(stderr, "ntm-replay: %s\n", err);
        return 1;
    }
    struct ntm_agg_sink sink = {
        .arg = &r, .row = on_row, .window_closed = on_window_closed, .alert = on_alert};
    r.agg = ntm_agg_new(r.cfg, &sink);
    ntm_store_each_device(r.store, add_device, r.agg);
    r.mono_ms = 1000000;
    r.last_snapshot_ms = r.mono_ms;

    size_t len = 0;
    char *text = slurp(messages, &len);
    if (!text) {
        fprintf(stderr, "ntm-replay: cannot read %s\n", messages);
        return 1;
    }
    size_t cap = 1024, n = 0;
    struct msg *m = malloc(cap * sizeof *m);
    for (char *p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        char *end = nl ? nl : text + len;
        char *sp = memchr(p, ' ', (size_t)(end - p));
        if (sp) {
            *sp = '\0';
            *end = '\0';
            if (n == cap)
                m = realloc(m, (cap *= 2) * sizeof *m);
            m[n++] = (struct msg){p, sp + 1, (size_t)(end - sp - 1)};
        }
        p = end + 1;
    }

    replay_loop(&r, m, n);

    printf("messages %zu accepted %" PRIu64 " rejected %" PRIu64 " late %" PRIu64 " rows %" PRIu64
           " alerts %" PRIu64 " snapshots %" PRIu64 "\n",
           n, r.accepted, r.rejected, r.late, r.rows, r.alerts, r.snapshots);
    ntm_outbox_free(r.outbox);
    ntm_agg_free(r.agg);
    ntm_store_close(r.store);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    uv_loop_close(&r.loop);
    ntm_config_free(r.cfg);
    free(m);
    free(text);
    return r.accepted + r.rejected == n ? 0 : 1;
}
