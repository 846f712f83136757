/* daemon.c: the message pipeline and the daemon's life cycle. Owns the
 * signal handlers, the status timer and the rate-limited rejection log; the
 * parts it wires together own their own resources. */
#include "daemon.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tail.h"

#define REJECT_LOG_INTERVAL_MS 60000

/* A topic as it may appear in a log line: printable ASCII, bounded. */
static void printable(char *dst, size_t dstlen, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < dstlen; i++)
        dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
    dst[i] = '\0';
}

static void log_reject_summary(struct ntm_daemon *d, enum ntm_reject r, uint64_t held)
{
    if (held > 0)
        ntm_log_emit(&d->log, LOG_WARNING, NTM_MSGID_REJECTED,
                     (struct ntm_log_field[]){{"REASON", ntm_reject_name(r)}}, 1,
                     "%" PRIu64 " more messages rejected as %s in the last minute; "
                     "`ntmctl quarantine` lists them",
                     held, ntm_reject_name(r));
}

static void reject(struct ntm_daemon *d, int64_t now_ms, const char *topic,
                   const struct ntm_topic *t, enum ntm_reject r, const char *why, size_t len)
{
    ntm_store_reject(d->store, now_ms, topic, strlen(topic), r, why, len);
    uint64_t held = 0;
    if (!ntm_complain(&d->reject_complaint[r], REJECT_LOG_INTERVAL_MS, &held))
        return;
    char shown[160];
    printable(shown, sizeof shown, topic);
    struct ntm_log_field f[] = {{"REASON", ntm_reject_name(r)},
                                {"VILLAGE", t && t->village[0] ? t->village : NULL},
                                {"DEVICE", t && t->device[0] ? t->device : NULL}};
    ntm_log_emit(&d->log, LOG_WARNING, NTM_MSGID_REJECTED, f, 3,
                 "rejected a message on %s: %s (%s); it is in the quarantine, and further "
                 "rejections for this reason are summed up once a minute",
                 shown, ntm_reject_name(r), why);
    log_reject_summary(d, r, held);
}

/* Saves the aggregation state with the id of the last message folded into it,
 * in the same transaction as that message: after a crash the state and the
 * messages agree, and the ones after it are replayed. Done when a window
 * closed and at least once a minute, so that a restart replays little. */
static void write_device_state(void *arg, const char *name, int village, int kind)
{
    struct ntm_daemon *d = arg;
    (void)village;
    (void)kind;
    int64_t now = (int64_t)uv_now(&d->loop);
    double pct = -1;
    if (ntm_agg_device_uptime_today(d->agg, name, now, &pct) != 0)
        pct = -1;
    ntm_store_device_state(d->store, name, ntm_agg_device_online(d->agg, name, now), pct);
}

static void save_snapshot(struct ntm_daemon *d)
{
    ntm_store_each_device(d->store, write_device_state, d);
    void *blob = NULL;
    size_t len = 0;
    int rc = -1;
    if (ntm_agg_save(d->agg, &blob, &len) == 0)
        rc = ntm_store_save_agg(d->store, ntm_store_last_msg_id(d->store), blob, len);
    free(blob);
    if (rc != 0)
        return; /* due still: saved at the next message */
    d->snapshot_due = false;
    d->last_snapshot_ms = uv_now(&d->loop);
}

static void maybe_snapshot(struct ntm_daemon *d)
{
    if (!ntm_store_snapshot_ok(d->store))
        return; /* due still: saved at a later message */
    if (d->snapshot_due || uv_now(&d->loop) - d->last_snapshot_ms >= 60000)
        save_snapshot(d);
}

/* ---- aggregation sink --------------------------------------------------------- */

static void on_row(void *arg, const struct ntm_indicator_row *row)
{
    struct ntm_daemon *d = arg;
    /* A replayed message is a committed one: the rows of a window it closed
     * were committed in its transaction (the state snapshot may come in a
     * later one, when a checkpoint held it back), so they are not formed twice. */
    if (d->replaying)
        return;
    ntm_outbox_add_row(d->outbox, row);
}

static void on_window_closed(void *arg, enum ntm_period p, int64_t start, int64_t end)
{
    struct ntm_daemon *d = arg;
    (void)start;
    d->snapshot_due = true;
    if (p == NTM_PERIOD_DAY) {
        ntm_outbox_day_closed(d->outbox, end);
        /* the closed day's MAC hashing key is destroyed (devices.md) */
        ntm_store_forget_mac_keys(d->store, ntm_local_day(end));
    }
}

static void on_alert(void *arg, const struct ntm_alert *a)
{
    struct ntm_daemon *d = arg;
    /* A replayed message's alerts were stored with it, in the transaction
     * that stored the message: raising them again would send duplicates. */
    if (d->replaying)
        return;
    ntm_outbox_add_alert(d->outbox, a);
    if (a->type == NTM_ALERT_ONLINE || a->type == NTM_ALERT_OFFLINE)
        ntm_store_device_state(d->store, a->device, a->type == NTM_ALERT_ONLINE, -1);
}

/* A record rejected after its topic was parsed (a kept record whose device is
 * now known elsewhere): the topic it came on, rebuilt. */
static void reject_record(struct ntm_daemon *d, const struct ntm_record *rec, enum ntm_reject r,
                          const char *why)
{
    struct ntm_topic t = {.kind = rec->kind, .channel = rec->channel};
    snprintf(t.village, sizeof t.village, "%s", d->cfg->villages[rec->village].id);
    snprintf(t.device, sizeof t.device, "%s", rec->device);
    char topic[256];
    snprintf(topic, sizeof topic, "ntm/v1/%s/%s/%s/%s", t.village, ntm_kind_name(rec->kind),
             t.device, ntm_channel_name(rec->channel));
    reject(d, rec->recv_ms, topic, &t, r, why, 0);
}

/* The store did not take an accepted record: it is said, and counted (as a
 * rejection, or by the store as dropped), never lost silently. */
static void not_stored(struct ntm_daemon *d, const struct ntm_record *rec, int rc)
{
    if (rc == 1) {
        char why[256];
        snprintf(why, sizeof why, "device '%s' is already known in another village or kind",
                 rec->device);
        reject_record(d, rec, NTM_REJ_DEVICE, why);
        return;
    }
    uint64_t held = 0;
    if (!ntm_complain(&d->store_complaint, 60000, &held))
        return;
    struct ntm_store_stats s;
    ntm_store_stats(d->store, &s);
    const char *village = d->cfg->villages[rec->village].id;
    struct ntm_log_field f[] = {
        {"VILLAGE", village}, {"DEVICE", rec->device}, {"KIND", ntm_kind_name(rec->kind)}};
    ntm_log_emit(&d->log, LOG_ERR, NULL, f, 3,
                 "a message of device %s in village %s was accepted but could not be stored "
                 "(out of memory): it is lost and counted as dropped (%" PRIu64
                 " dropped in all, %" PRIu64 " more such messages since the last line)",
                 rec->device, village, s.dropped_total, held);
}

/* An accepted record: folded into the windows (which decides whether it is
 * late), then stored with that flag (and the key of the delivery that brought
 * it, 0 for none). */
static void accept_record(struct ntm_daemon *d, struct ntm_record *rec, uint64_t key)
{
    if (ntm_agg_add(d->agg, rec, (int64_t)uv_now(&d->loop)))
        rec->flags |= NTM_REC_LATE;
    else
        rec->flags &= (uint8_t)~NTM_REC_LATE;
    int rc = ntm_store_append_delivery(d->store, rec, key);
    if (rc != 0)
        not_stored(d, rec, rc);
    maybe_snapshot(d);
}

static void handle_message(struct ntm_daemon *d, const char *topic, const void *payload, size_t len,
                           uint64_t key)
{
    int64_t now_ms = ntm_clock_wall_ms(&d->clock);
    char why[256] = "";
    struct ntm_topic t;
    memset(&t, 0, sizeof t);
    enum ntm_reject r = ntm_topic_parse(topic, strlen(topic), &t, why, sizeof why);
    if (r != NTM_ACCEPT) {
        reject(d, now_ms, topic, NULL, r, why, len);
        return;
    }
    int village = ntm_config_village(d->cfg, t.village);
    if (village < 0) {
        snprintf(why, sizeof why, "village '%s' is not in the configuration", t.village);
        reject(d, now_ms, topic, &t, NTM_REJ_VILLAGE, why, len);
        return;
    }
    r = ntm_payload_parse(&t, payload, len, now_ms, &d->ingest, &d->rec, why, sizeof why);
    if (r != NTM_ACCEPT) {
        reject(d, now_ms, topic, &t, r, why, len);
        return;
    }
    d->rec.village = (uint16_t)village;
    /* a device already known elsewhere is rejected before anything counts it */
    if (ntm_store_device_conflict(d->store, &d->rec)) {
        snprintf(why, sizeof why, "device '%s' is already known in another village or kind",
                 t.device);
        reject(d, now_ms, topic, &t, NTM_REJ_DEVICE, why, len);
        return;
    }
    accept_record(d, &d->rec, key);
}

/* A message from the broker. One it delivers again (QoS 1 after a
 * reconnection: the same packet id, topic and payload) that this daemon, or a
 * run of it killed since, already took in, is skipped: libmosquitto has
 * acknowledged it, so the broker stops sending it. */
static void on_message(void *arg, const char *topic, const void *payload, size_t len, int mid)
{
    struct ntm_daemon *d = arg;
    uint64_t key = ntm_tail_delivery_key(mid, topic, strlen(topic), payload, len);
    if (key != 0 && ntm_store_delivered_before(d->store, key)) {
        d->duplicates++;
        uint64_t held = 0;
        if (ntm_complain(&d->dup_complaint, 60000, &held)) {
            char shown[160];
            printable(shown, sizeof shown, topic);
            ntm_log(&d->log, LOG_INFO,
                    "the broker delivered again a message already stored (on %s, packet id %d); "
                    "skipped (%" PRIu64 " such since the start)",
                    shown, mid, d->duplicates);
        }
        return;
    }
    handle_message(d, topic, payload, len, key);
    ntm_store_note_delivery(d->store, key);
}

/* A new session (the broker lost ours, or it is the first): its packet ids
 * start again, so the deliveries of the old one would only hide new messages. */
static void on_mqtt_session(void *arg, bool present)
{
    struct ntm_daemon *d = arg;
    if (!present)
        ntm_store_forget_deliveries(d->store);
}

static void on_mqtt_state(void *arg, bool subscribed)
{
    struct ntm_daemon *d = arg;
    if (subscribed)
        ntm_notify_ready(&d->notify, "broker connected; subscribed");
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
    snprintf(buf, len,
             "broker %s; accepted %" PRIu64 ", rejected %" PRIu64 ", buffered %" PRIu64
             "; %.0f msg/s; batches waiting %" PRIu64 ", last delivered %s%s",
             ntm_mqtt_subscribed(d->mqtt) ? "connected" : "disconnected", s.accepted_total,
             s.rejected_total, s.buffered, rate, y.pending_batches, last,
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
        save_snapshot(d);
    if (ntm_outbox_waiting(d->outbox) > 0) {
        struct ntm_health h;
        health(d, &h);
        ntm_outbox_form(d->outbox, &h, ntm_store_last_msg_id(d->store));
    }
    ntm_sync_kick(d->sync);
}

static void on_status_timer(uv_timer_t *t)
{
    struct ntm_daemon *d = t->data;
    d->ingest.clock_trusted = ntm_clock_refresh_synced(&d->clock);
    ntm_agg_tick(d->agg, (int64_t)uv_now(&d->loop));
    if (d->snapshot_due)
        save_snapshot(d);
    struct ntm_store_stats s;
    ntm_store_stats(d->store, &s);
    double rate = (double)(s.accepted_total - d->last_accepted);
    d->last_accepted = s.accepted_total;
    char buf[256];
    status_line(d, buf, sizeof buf, rate);
    ntm_notify_status(&d->notify, buf);
    /* a flood that stopped still gets its summary line */
    int64_t now = ntm_clock_mono_ms();
    for (int r = 0; r < NTM_REJ_COUNT; r++) {
        struct ntm_complaint *c = &d->reject_complaint[r];
        if (c->suppressed > 0 && now - c->last_ms >= REJECT_LOG_INTERVAL_MS) {
            uint64_t held = 0;
            if (ntm_complain(c, REJECT_LOG_INTERVAL_MS, &held)) {
                c->last_ms = 0; /* the next rejection logs in full again */
                log_reject_summary(d, (enum ntm_reject)r, held);
            }
        }
    }
}

static void stop(struct ntm_daemon *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = true;
    ntm_log(&d->log, LOG_INFO,
            "%s: stopping: disconnecting from the broker, then committing "
            "and syncing the buffer",
            why);
    ntm_notify_stopping(&d->notify);
    ntm_mqtt_stop(d->mqtt);
    d->mqtt = NULL;
    uv_timer_stop(&d->status_timer);
    uv_timer_stop(&d->sync_timer);
    save_snapshot(d);
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
        ntm_log(&d->log, LOG_ERR,
                "SIGHUP: the configuration has errors, keeping the running one: %s", err);
        return;
    }
    struct ntm_config *c = d->cfg;
    size_t total = ntm_config_diff(c, n, NULL, 0);
    struct ntm_config_change *ch = total ? calloc(total, sizeof *ch) : NULL;
    if (total && !ch) {
        ntm_log(&d->log, LOG_ERR, "SIGHUP: out of memory; keeping the running configuration");
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
        ntm_log(&d->log, LOG_ERR,
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

    if (n_live > 0)
        ntm_log_emit(&d->log, LOG_NOTICE, NULL, (struct ntm_log_field[]){{"KEYS", live}}, 1,
                     "SIGHUP: applied %zu changed setting%s of %s live", n_live,
                     n_live == 1 ? "" : "s", c->path);
    if (n_later > 0)
        ntm_log_emit(&d->log, LOG_WARNING, NULL, (struct ntm_log_field[]){{"KEYS", later}}, 1,
                     "SIGHUP: %zu changed setting%s of %s take%s effect only after a restart "
                     "(systemctl restart ntm-gateway); the daemon runs on with the old values",
                     n_later, n_later == 1 ? "" : "s", c->path, n_later == 1 ? "s" : "");
    if (total == 0)
        ntm_log(&d->log, LOG_NOTICE, "SIGHUP: configuration %s re-read; nothing changed", c->path);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct ntm_daemon *d = s->data;
    if (signum == SIGHUP) {
        ntm_notify_reloading(&d->notify);
        reload(d);
        char buf[256];
        status_line(d, buf, sizeof buf, 0);
        ntm_notify_reloaded(&d->notify, buf);
        return;
    }
    if (d->stopping) {
        ntm_log(&d->log, LOG_NOTICE, "%s again: already stopping, finishing the flush first",
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
    int rc = ntm_outbox_open(&d->outbox, d->store, cfg, &d->log, &d->clock, names, d->n_uplinks,
                             err, errlen);
    free(names);
    if (rc != 0)
        return -1;

    struct ntm_agg_sink sink = {
        .arg = d, .row = on_row, .window_closed = on_window_closed, .alert = on_alert};
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
        ntm_log(&d->log, LOG_ERR,
                "the saved aggregation state is unreadable; starting the windows afresh from "
                "the messages after it");
    }
    free(blob);
    struct replay r = {.d = d};
    d->replaying = true;
    ntm_store_replay(d->store, rc == 0 ? msg_id : 0, replay_one, &r);
    d->replaying = false;
    if (r.n > 0) {
        ntm_log(&d->log, LOG_INFO,
                "replayed %" PRIu64 " messages accepted after the last saved aggregation state",
                r.n);
        save_snapshot(d);
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
            not_stored(d, kept[i], 1);
        else if (d->agg)
            accept_record(d, kept[i], 0);
        free(kept[i]);
    }
    free(kept);
    ntm_store_kept_fed(d->store);
    ntm_store_commit(d->store);
}

static void on_store_recovered(void *arg)
{
    struct ntm_daemon *d = arg;
    char err[512];
    size_t n = 0;
    struct ntm_record **kept = ntm_store_take_kept(d->store, &n);
    if (restore_state(d, err, sizeof err) != 0)
        ntm_log(&d->log, LOG_ERR, "after the write failure: %s", err);
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
    uv_signal_t *sigs[] = {&d->sig_term, &d->sig_int, &d->sig_hup};
    int signums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&d->loop, sigs[i]);
        sigs[i]->data = d;
        uv_signal_start(sigs[i], on_signal, signums[i]);
    }
    d->start_ms = uv_now(&d->loop);

    if (ntm_store_open(&d->store, &d->loop, cfg, &d->log, &d->clock, err, errlen) != 0)
        return -1;
    d->ingest.max_payload = (size_t)cfg->mqtt.max_payload;
    d->ingest.mac_key = ntm_store_mac_key;
    d->ingest.mac_key_arg = d->store;
    d->ingest.clock_trusted = d->clock.synced;
    struct ntm_store_hooks hooks = {
        .arg = d, .failed = on_store_failed, .recovered = on_store_recovered};
    ntm_store_set_hooks(d->store, &hooks);
    if (start_uplinks(d, err, errlen) != 0 || restore_state(d, err, errlen) != 0)
        return -1;
    size_t n_kept = 0;
    struct ntm_record **kept = ntm_store_take_kept(d->store, &n_kept);
    feed_kept(d, kept, n_kept);
    struct ntm_store_stats s;
    ntm_store_stats(d->store, &s);
    d->last_accepted = s.accepted_total;

    struct ntm_mqtt_callbacks cb = {
        .arg = d, .message = on_message, .state = on_mqtt_state, .session = on_mqtt_session};
    if (ntm_mqtt_start(&d->mqtt, &d->loop, cfg, &d->log, &cb, err, errlen) != 0)
        return -1;
    uv_timer_start(&d->status_timer, on_status_timer, 1000, 1000);
    uint64_t tick = (uint64_t)cfg->sync.interval_s * 1000;
    uv_timer_start(&d->sync_timer, on_sync_timer, tick, tick);
    ntm_log_emit(&d->log, LOG_INFO, NTM_MSGID_STARTED, NULL, 0,
                 "ntm-gatewayd %s started: gateway %s, commune %s, %zu villages, %zu declared "
                 "devices, buffer %s (%" PRIu64 " messages), broker %s:%d",
                 NTM_VERSION, cfg->gateway_id, cfg->commune_code, cfg->n_villages, cfg->n_devices,
                 cfg->storage.path, s.buffered, cfg->mqtt.host, cfg->mqtt.port);
    return 0;
}

int ntm_daemon_run(struct ntm_daemon *d)
{
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
    uv_close((uv_handle_t *)&d->sig_term, on_closed);
    uv_close((uv_handle_t *)&d->sig_int, on_closed);
    uv_close((uv_handle_t *)&d->sig_hup, on_closed);
    ntm_notify_close(&d->notify);
    /* let every handle's close callback run, then the loop can go */
    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d->loop) != 0)
        ntm_log(&d->log, LOG_WARNING, "event loop closed with handles still open");
    if (d->stopping)
        ntm_log_emit(&d->log, LOG_INFO, NTM_MSGID_STOPPED, NULL, 0,
                     "stopped: %" PRIu64 " messages accepted in all, %" PRIu64
                     " buffered, all committed and synced; %" PRIu64
                     " commits this run, %.3f ms on average, the longest %.3f ms; the longest"
                     " end of a checkpoint on the loop %.3f ms",
                     s.accepted_total, s.buffered, s.commits,
                     s.commits ? (double)s.commit_ns_total / (double)s.commits / 1e6 : 0.0,
                     (double)s.commit_ns_max / 1e6, (double)s.ckpt_tail_ns_max / 1e6);
}
