/* SPDX-License-Identifier: GPL-3.0-or-later */
/* daemon.c: the daemon's life cycle: start (the parts in order, the state
 * restored), the status and sync timers, the live state, signals, reload and
 * stop. The message pipeline is pipeline.c; the parts it wires together own
 * their own resources. */
#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_cameras.h"
#include "tail.h"

static void status_line(struct ntm_daemon *d, char *buf, size_t len, double rate);
static void write_live(struct ntm_daemon *d);

/* The broker's state goes to STATUS= at once (READY=1 does not wait for it). */
static void on_mqtt_state(void *arg, bool subscribed)
{
    struct ntm_daemon *d = arg;
    (void)subscribed;
    char buf[384];
    status_line(d, buf, sizeof buf, d->rate);
    ntm_notify_status(&d->notify, buf);
    write_live(d);
}

/* The one-line summary for STATUS= (and systemctl status). */
static void status_line(struct ntm_daemon *d, char *buf, size_t len, double rate)
{
    struct ntm_store_stats s;
    struct ntm_sync_stats y;
    ntm_store_stats(d->store, &s);
    ntm_sync_stats(d->sync, &y);
    char last[48] = "none yet";
    if (y.last_delivered_ms > 0) {
        char iso[40];
        ntm_iso_local(y.last_delivered_ms / 1000, iso, sizeof iso);
        snprintf(last, sizeof last, "%.8s", iso + 11);
    }
    struct ntm_mqtt_info mi;
    ntm_mqtt_info(d->mqtt, &mi);
    char broker[96];
    if (mi.state == NTM_BROKER_DOWN && mi.last_error)
        snprintf(broker, sizeof broker, "down (%.60s)", mi.last_error);
    else
        snprintf(broker, sizeof broker, "%s", ntm_broker_state_name(mi.state));
    snprintf(buf, len,
             "broker %s; accepted %" PRIu64 ", rejected %" PRIu64 ", buffered %" PRIu64
             "; %.0f msg/s; batches waiting %" PRIu64 ", last delivered %s%s",
             broker, s.accepted_total, s.rejected_total, s.buffered, rate, y.pending_batches, last,
             s.disk_full  ? "; DISK FULL: ingest paused (the broker keeps messages), evicting the "
                            "oldest and retrying"
             : s.disk_low ? "; disk nearly full: evicting the oldest messages"
                          : "");
}

static void health(struct ntm_daemon *d, struct ntm_health *h)
{
    struct ntm_store_stats s;
    struct ntm_sync_stats y;
    ntm_store_stats(d->store, &s);
    ntm_sync_stats(d->sync, &y);
    h->uptime_s = (int64_t)(uv_now(&d->loop) - d->start_ms) / 1000;
    h->buffered_messages = s.buffered;
    h->pending_batches = y.pending_batches;
    h->rejected_total = s.rejected_total;
    h->dropped_total = s.dropped_total;
    h->late_total = s.late_total;
}

/* The sync tick: closed windows and alerts become batches, and what is due
 * goes to the uplinks. */
static void on_sync_timer(uv_timer_t *t)
{
    struct ntm_daemon *d = t->data;
    if (d->snapshot_due)
        ntm_daemon_save_snapshot(d);
    ntm_daemon_forget_pending(d);
    if (ntm_outbox_waiting(d->outbox) > 0) {
        struct ntm_health h;
        health(d, &h);
        ntm_outbox_form(d->outbox, &h, ntm_store_last_msg_id(d->store));
    }
    ntm_sync_kick(d->sync);
}

#define MAX_LIVE_UPLINKS 32

/* The live state: what ntmctl status and the web page show. */
static void write_live(struct ntm_daemon *d)
{
    if (!d->live)
        return;
    struct ntm_store_stats s;
    ntm_store_stats(d->store, &s);
    struct ntm_mqtt_info mi;
    ntm_mqtt_info(d->mqtt, &mi);
    int64_t now = ntm_clock_wall_ms(&d->clock);
    int64_t mono = ntm_clock_mono_ms();
    struct ntm_sync_uplink_info si[MAX_LIVE_UPLINKS];
    struct ntm_live_uplink lu[MAX_LIVE_UPLINKS];
    size_t n = d->sync ? ntm_sync_uplink_info(d->sync, si, MAX_LIVE_UPLINKS) : 0;
    for (size_t i = 0; i < n; i++) {
        lu[i] = (struct ntm_live_uplink){
            .name = si[i].name,
            .plugin = i < d->cfg->n_uplinks ? d->cfg->uplinks[i].plugin : NULL,
            .state = si[i].failing          ? "failing"
                     : si[i].last_ok_ms > 0 ? "ok"
                                            : "idle",
            .last_ok_ms = si[i].last_ok_ms,
            .failing_since_ms = si[i].failing_since_ms,
            .last_error = si[i].last_error,
            .next_try_ms = si[i].next_try_ms,
            .waiting_batches = si[i].waiting_batches,
        };
    }
    struct ntm_live_info info = {
        .written_ms = now,
        .started_ms = d->started_wall_ms,
        .ready = d->ready,
        .clock_synced = d->clock.synced,
        .gateway_id = d->cfg->gateway_id,
        .version = NTM_VERSION,
        .broker = {.state = ntm_broker_state_name(mi.state),
                   .since_ms = now - (mono - mi.since_mono_ms),
                   .last_error = mi.last_error,
                   .host = d->cfg->mqtt.host,
                   .port = d->cfg->mqtt.port},
        .ingest = {.rate_per_s = d->rate,
                   .accepted_total = s.accepted_total,
                   .rejected_total = s.rejected_total},
        .uplinks = lu,
        .n_uplinks = n,
    };
    if (ntm_live_write(d->live, &info) == 0) {
        d->live_failed = false;
    } else if (!d->live_failed) {
        d->live_failed = true;
        ntm_logf(&d->log, LOG_WARNING,
                 "cannot write the live state file %s: %s; `ntmctl status` will say the daemon "
                 "is not running until it can (retrying each second)",
                 ntm_live_file(d->live), strerror(errno));
    }
}

static void on_status_timer(uv_timer_t *t)
{
    struct ntm_daemon *d = t->data;
    d->ingest.clock_trusted = ntm_clock_refresh_synced(&d->clock);
    ntm_agg_tick(d->agg, (int64_t)uv_now(&d->loop));
    if (d->snapshot_due)
        ntm_daemon_save_snapshot(d);
    struct ntm_store_stats s;
    ntm_store_stats(d->store, &s);
    double rate = (double)(s.accepted_total - d->last_accepted);
    d->last_accepted = s.accepted_total;
    d->rate = rate;
    write_live(d);
    char buf[384];
    status_line(d, buf, sizeof buf, rate);
    ntm_notify_status(&d->notify, buf);
    /* a flood that stopped still gets its summary line */
    int64_t now = ntm_clock_mono_ms();
    for (int r = 0; r < NTM_REJ_COUNT; r++) {
        struct ntm_complaint *c = &d->reject_complaint[r];
        if (c->suppressed > 0 && now - c->last_ms >= NTM_REJECT_LOG_INTERVAL_MS) {
            uint64_t held = 0;
            if (ntm_complain(c, NTM_REJECT_LOG_INTERVAL_MS, &held)) {
                c->last_ms = 0; /* the next rejection logs in full again */
                ntm_daemon_log_reject_summary(d, (enum ntm_reject)r, held);
            }
        }
    }
}

static void stop(struct ntm_daemon *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    ntm_logf(&d->log, LOG_NOTICE,
             "%s: stopping: disconnecting from the broker, then committing "
             "and syncing the buffer",
             why);
    ntm_notify_stopping(&d->notify);
    ntm_mqtt_stop(d->mqtt);
    d->mqtt = NULL;
    ntm_daemon_sources_stop(d);
    ntm_daemon_cameras_stop(d);
    uv_timer_stop(&d->status_timer);
    uv_timer_stop(&d->sync_timer);
    ntm_daemon_save_snapshot(d);
    /* the signal handlers stay installed: a second SIGTERM during the flush must
     * not fall back to the default action and kill us mid-commit */
    if (ntm_store_flush(d->store) != 0)
        d->exit_code = 1;
    uv_stop(&d->loop);
}

/* The keys of the changes that are (or are not) live, as "a, b and 3 more"; their count. */
static size_t changed_keys(const struct ntm_config_change *ch, size_t n, bool live, char *buf,
                           size_t size)
{
    size_t count = 0, shown = 0, len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (ch[i].live != live)
            continue;
        count++;
        size_t need = strlen(ch[i].key) + 2;
        if (len + need + 24 < size) { /* room kept for " and N more" */
            len += (size_t)snprintf(buf + len, size - len, "%s%s", shown ? ", " : "", ch[i].key);
            shown++;
        }
    }
    if (shown < count)
        snprintf(buf + len, size - len, " and %zu more", count - shown);
    return count;
}

/* SIGHUP: re-reads the configuration file. What the key tables mark live (config_keys.c:
 * log level, payload limit, storage pacing and cap, quarantine size, sync tick) is
 * applied at once; every other change is named in the log as waiting for a restart. A
 * file with errors changes nothing: the daemon keeps running on what it has. */
static void reload(struct ntm_daemon *d)
{
    char err[4096];
    struct ntm_config *n = ntm_config_load(d->cfg->path, err, sizeof err);
    if (!n) {
        for (char *p = err; *p; p++)
            if (*p == '\n')
                *p = ' ';
        ntm_logf(&d->log, LOG_ERR,
                 "SIGHUP: the configuration has errors, keeping the running one: %s", err);
        return;
    }
    struct ntm_config *c = d->cfg;
    size_t total = ntm_config_diff(c, n, NULL, 0);
    struct ntm_config_change *ch = total ? calloc(total, sizeof *ch) : NULL;
    if (total && !ch) {
        ntm_logf(&d->log, LOG_ERR, "SIGHUP: out of memory; keeping the running configuration");
        ntm_config_free(n);
        return;
    }
    ntm_config_diff(c, n, ch, total);
    char live[200], later[200];
    size_t n_live = changed_keys(ch, total, true, live, sizeof live);
    size_t n_later = changed_keys(ch, total, false, later, sizeof later);
    free(ch);

    int interval_s = c->sync.interval_s, sync_ms = c->storage.sync_ms;
    if (!ntm_config_apply_live(c, n))
        ntm_logf(&d->log, LOG_ERR,
                 "SIGHUP: out of memory; some live settings keep their old values");
    ntm_config_free(n);
    /* the parts that copied a live value at start are told; the others read cfg */
    d->log.level = c->log.level;
    d->ingest.max_payload = (size_t)c->mqtt.max_payload;
    if (c->sync.interval_s != interval_s) {
        uint64_t tick = (uint64_t)c->sync.interval_s * 1000;
        uv_timer_start(&d->sync_timer, on_sync_timer, tick, tick);
    }
    if (c->storage.sync_ms != sync_ms)
        ntm_store_set_sync_ms(d->store, c->storage.sync_ms);
    ntm_daemon_sources_reload(d);
    ntm_daemon_cameras_apply(d);

    if (n_live > 0)
        ntm_log_emit(&d->log, LOG_NOTICE, NULL, (struct ntm_log_field[]){{"KEYS", live}}, 1,
                     "SIGHUP: applied %zu changed setting%s of %s live: %s", n_live,
                     n_live == 1 ? "" : "s", c->path, live);
    if (n_later > 0)
        ntm_log_emit(&d->log, LOG_WARNING, NULL, (struct ntm_log_field[]){{"KEYS", later}}, 1,
                     "SIGHUP: %zu changed setting%s of %s take%s effect only after a restart "
                     "(systemctl restart ntm-gateway); the daemon runs on with the old values",
                     n_later, n_later == 1 ? "" : "s", c->path, n_later == 1 ? "s" : "");
    if (total == 0)
        ntm_logf(&d->log, LOG_NOTICE, "SIGHUP: configuration %s re-read; nothing changed", c->path);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct ntm_daemon *d = s->data;
    if (signum == SIGHUP) {
        ntm_notify_reloading(&d->notify);
        reload(d);
        ntm_daemon_forget_pending(d); /* ntmctl forget signals too */
        char buf[384];
        status_line(d, buf, sizeof buf, 0);
        ntm_notify_reloaded(&d->notify, buf);
        return;
    }
    if (d->stopping) {
        ntm_logf(&d->log, LOG_NOTICE, "%s again: already stopping, finishing the flush first",
                 signum == SIGTERM ? "SIGTERM" : "SIGINT");
        return;
    }
    stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void add_device(void *arg, const char *name, int village, int kind)
{
    ntm_agg_add_device(arg, name, (uint16_t)village, (uint8_t)kind);
}

struct replay {
    struct ntm_daemon *d;
    uint64_t n;
};

static void replay_one(void *arg, const struct ntm_record *rec, int64_t id)
{
    struct replay *r = arg;
    (void)id;
    /* a message that was late when it came stays late: it is not folded */
    if (!(rec->flags & NTM_REC_LATE))
        ntm_agg_add(r->d->agg, rec, (int64_t)uv_now(&r->d->loop));
    r->n++;
}

/* The HTTP client, the plugins and sync: made once. */
static int start_uplinks(struct ntm_daemon *d, char *err, size_t errlen)
{
    const struct ntm_config *cfg = d->cfg;
    if (ntm_http_new(&d->http, &d->loop, &d->log, &d->clock) != 0) {
        snprintf(err, errlen, "cannot start the HTTP client");
        return -1;
    }
    if (ntm_sync_new(&d->sync, &d->loop, d->store, cfg, &d->log, &d->clock) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct ntm_uplink_events ev = {.arg = d->sync, .complete = ntm_sync_complete};
    if (ntm_uplinks_load(&d->uplinks, &d->n_uplinks, cfg, &d->log, d->http, &ev, err, errlen) != 0)
        return -1;
    ntm_sync_set_uplinks(d->sync, d->uplinks, d->n_uplinks);
    return 0;
}

/* The outbox and the aggregation, as the database has them: the saved state,
 * then the messages after it replayed. At start, and again after the store
 * recovered from a failed write (whose effects the rollback undid). */
static int restore_state(struct ntm_daemon *d, char *err, size_t errlen)
{
    const struct ntm_config *cfg = d->cfg;
    ntm_agg_free(d->agg);
    d->agg = NULL;
    ntm_outbox_free(d->outbox);
    d->outbox = NULL;
    const char **names = calloc(d->n_uplinks + 1, sizeof *names);
    if (!names)
        return -1;
    for (size_t i = 0; i < d->n_uplinks; i++)
        names[i] = ntm_uplink_name(d->uplinks[i]);
    int rc = ntm_outbox_new(&d->outbox, d->store, cfg, &d->log, &d->clock, names, d->n_uplinks, err,
                            errlen);
    free(names);
    if (rc != 0)
        return -1;

    struct ntm_agg_sink sink = {.arg = d,
                                .row = ntm_daemon_on_row,
                                .window_closed = ntm_daemon_on_window_closed,
                                .alert = ntm_daemon_on_alert};
    d->agg = ntm_agg_new(cfg, &sink);
    if (!d->agg) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ntm_store_each_device(d->store, add_device, d->agg);
    int64_t msg_id = 0;
    void *blob = NULL;
    size_t len = 0;
    int64_t now = (int64_t)uv_now(&d->loop);
    rc = ntm_store_load_agg(d->store, &msg_id, &blob, &len);
    if (rc == 0 && ntm_agg_load(d->agg, blob, len, now) != 0) {
        ntm_logf(&d->log, LOG_ERR,
                 "the saved aggregation state is unreadable; starting the windows afresh from "
                 "the messages after it");
    }
    free(blob);
    struct replay r = {.d = d};
    d->replaying = true;
    ntm_store_replay(d->store, rc == 0 ? msg_id : 0, replay_one, &r);
    d->replaying = false;
    if (r.n > 0) {
        ntm_logf(&d->log, LOG_INFO,
                 "replayed %" PRIu64 " messages accepted after the last saved aggregation state",
                 r.n);
        ntm_daemon_save_snapshot(d);
    }
    d->last_snapshot_ms = uv_now(&d->loop);
    ntm_store_commit(d->store);
    return 0;
}

/* ---- a failed write, and the recovery ----------------------------------------- */

static void on_store_failed(void *arg)
{
    struct ntm_daemon *d = arg;
    ntm_mqtt_pause(d->mqtt);
}

/* The store's kept records (of a failed write, or read back from the tail
 * journal after a crash) are taken in again as if they had just come: folded,
 * stored, their alerts raised (none of that was committed). */
static void feed_kept(struct ntm_daemon *d, struct ntm_record **kept, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        /* the configuration may have moved its device since (a restart after
         * a crash): rejected before anything counts it, as a new message is */
        if (d->agg && ntm_store_device_conflict(d->store, kept[i]))
            ntm_daemon_not_stored(d, kept[i], 1);
        else if (d->agg)
            ntm_daemon_accept(d, kept[i], 0);
        free(kept[i]);
    }
    free(kept);
    ntm_store_kept_fed(d->store);
    ntm_store_commit(d->store);
}

static void on_store_durable(void *arg)
{
    struct ntm_daemon *d = arg;
    if (d->sync)
        ntm_sync_durable(d->sync);
}

static void on_store_recovered(void *arg)
{
    struct ntm_daemon *d = arg;
    char err[512];
    size_t n = 0;
    struct ntm_record **kept = ntm_store_take_kept(d->store, &n);
    if (restore_state(d, err, sizeof err) != 0)
        ntm_logf(&d->log, LOG_ERR, "after the write failure: %s", err);
    feed_kept(d, kept, n);
    ntm_mqtt_resume(d->mqtt);
}

int ntm_daemon_init(struct ntm_daemon *d, struct ntm_config *cfg, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    ntm_clock_init(&d->clock);
    uv_loop_init(&d->loop);
    ntm_log_init(&d->log, "ntm-gatewayd", cfg->log.level);
    ntm_notify_init(&d->notify, &d->loop);
    uv_timer_init(&d->loop, &d->status_timer);
    d->status_timer.data = d;
    uv_timer_init(&d->loop, &d->sync_timer);
    d->sync_timer.data = d;
    uv_timer_init(&d->loop, &d->ready_timer);
    d->ready_timer.data = d;
    uv_signal_t *sigs[] = {&d->sig_term, &d->sig_int, &d->sig_hup};
    int signums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&d->loop, sigs[i]);
        sigs[i]->data = d;
        uv_signal_start(sigs[i], on_signal, signums[i]);
    }
    d->start_ms = uv_now(&d->loop);
    d->started_wall_ms = ntm_clock_wall_ms(&d->clock);

    if (ntm_store_open(&d->store, &d->loop, cfg, &d->log, &d->clock, err, errlen) != 0)
        return -1;
    d->ingest.max_payload = (size_t)cfg->mqtt.max_payload;
    d->ingest.mac_key = ntm_store_mac_key;
    d->ingest.mac_key_arg = d->store;
    d->ingest.clock_trusted = d->clock.synced;
    struct ntm_store_hooks hooks = {.arg = d,
                                    .failed = on_store_failed,
                                    .recovered = on_store_recovered,
                                    .durable = on_store_durable};
    ntm_store_set_hooks(d->store, &hooks);
    if (start_uplinks(d, err, errlen) != 0 || restore_state(d, err, errlen) != 0)
        return -1;
    size_t n_kept = 0;
    struct ntm_record **kept = ntm_store_take_kept(d->store, &n_kept);
    feed_kept(d, kept, n_kept);
    ntm_daemon_forget_pending(d); /* asked while the daemon was stopped */
    /* the event-time estimate starts at the gateway clock, or at the saved
     * watermark when that is later (a clock that lost time in a power cut) */
    {
        int64_t mono = (int64_t)uv_now(&d->loop), wall = ntm_clock_wall_ms(&d->clock) / 1000;
        int64_t wm = ntm_agg_watermark(d->agg, mono);
        ntm_ts_guard_seed(&d->ts_guard, wm > wall ? wm : wall, mono, wm != INT64_MIN);
    }
    struct ntm_store_stats s;
    ntm_store_stats(d->store, &s);
    d->last_accepted = s.accepted_total;

    struct ntm_mqtt_callbacks cb = {.arg = d,
                                    .message = ntm_daemon_on_message,
                                    .state = on_mqtt_state,
                                    .session = ntm_daemon_on_mqtt_session};
    if (ntm_mqtt_start(&d->mqtt, &d->loop, cfg, &d->log, &cb, err, errlen) != 0)
        return -1;
    if (ntm_daemon_sources_start(d, err, errlen) != 0)
        return -1;
    if (ntm_daemon_cameras_start(d, err, errlen) != 0)
        return -1;
    char live_path[4096];
    ntm_live_path(cfg->storage.path, live_path, sizeof live_path);
    d->live = ntm_live_new(live_path);
    if (d->live) {
        ntm_live_add_section(d->live, ntm_daemon_cameras_live, d);
        ntm_live_add_section(d->live, ntm_daemon_sources_live, d); /* ping, mappings */
    }
    write_live(d);
    uv_timer_start(&d->status_timer, on_status_timer, 1000, 1000);
    uint64_t tick = (uint64_t)cfg->sync.interval_s * 1000;
    uv_timer_start(&d->sync_timer, on_sync_timer, tick, tick);
    ntm_log_emit(&d->log, LOG_NOTICE, NTM_MSGID_STARTED, NULL, 0,
                 "ntm-gatewayd %s started: gateway %s, commune %s, %zu villages, %zu declared "
                 "devices, buffer %s (%" PRIu64 " messages), broker %s:%d",
                 NTM_VERSION, cfg->gateway_id, cfg->commune_code, cfg->n_villages, cfg->n_devices,
                 cfg->storage.path, s.buffered, cfg->mqtt.host, cfg->mqtt.port);
    return 0;
}

/* READY=1 once the loop runs: the buffer is open, the sources and the
 * uplinks work; the broker may still be connecting (STATUS= says so). A
 * broker down at boot must not make the unit time out and restart. */
static void on_ready_timer(uv_timer_t *t)
{
    struct ntm_daemon *d = t->data;
    char buf[384];
    d->ready = true;
    status_line(d, buf, sizeof buf, 0);
    ntm_notify_ready(&d->notify, buf);
    write_live(d);
}

int ntm_daemon_run(struct ntm_daemon *d)
{
    uv_timer_start(&d->ready_timer, on_ready_timer, 0, 0);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    return d->exit_code;
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

void ntm_daemon_free(struct ntm_daemon *d)
{
    if (d->mqtt) {
        ntm_mqtt_stop(d->mqtt);
        d->mqtt = NULL;
    }
    ntm_daemon_sources_free(d);
    struct ntm_store_stats s = {0};
    if (d->store)
        ntm_store_stats(d->store, &s);
    /* sync stops listening first; then the plugins are destroyed (the host
     * drops answers that come for them later), then the HTTP client cancels
     * what is still in flight. Unfinished sends stay pending in the database
     * and are sent again at the next start. */
    ntm_sync_free(d->sync);
    d->sync = NULL;
    ntm_uplinks_free(d->uplinks, d->n_uplinks);
    d->uplinks = NULL;
    ntm_daemon_cameras_stop(d); /* its streams are on the HTTP client */
    ntm_http_free(d->http);
    d->http = NULL;
    ntm_outbox_free(d->outbox);
    d->outbox = NULL;
    ntm_agg_free(d->agg);
    d->agg = NULL;
    ntm_store_close(d->store);
    d->store = NULL;
    uv_close((uv_handle_t *)&d->status_timer, on_closed);
    uv_close((uv_handle_t *)&d->sync_timer, on_closed);
    uv_close((uv_handle_t *)&d->ready_timer, on_closed);
    uv_close((uv_handle_t *)&d->sig_term, on_closed);
    uv_close((uv_handle_t *)&d->sig_int, on_closed);
    uv_close((uv_handle_t *)&d->sig_hup, on_closed);
    ntm_notify_close(&d->notify);
    ntm_live_free(d->live, true);
    d->live = NULL;
    free(d->undeclared);
    d->undeclared = NULL;
    /* let every handle's close callback run, then the loop can go */
    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d->loop) != 0)
        ntm_logf(&d->log, LOG_WARNING, "event loop closed with handles still open");
    if (d->stopping)
        ntm_log_emit(&d->log, LOG_NOTICE, NTM_MSGID_STOPPED, NULL, 0,
                     "stopped: %" PRIu64 " messages accepted in all, %" PRIu64
                     " buffered, all committed and synced; %" PRIu64
                     " commits this run, %.3f ms on average, the longest %.3f ms; the longest"
                     " end of a checkpoint on the loop %.3f ms",
                     s.accepted_total, s.buffered, s.commits,
                     s.commits ? (double)s.commit_ns_total / (double)s.commits / 1e6 : 0.0,
                     (double)s.commit_ns_max / 1e6, (double)s.ckpt_tail_ns_max / 1e6);
}
