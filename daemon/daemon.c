/* daemon.c: the message pipeline and the daemon's life cycle. Owns the
 * signal handlers, the status timer and the rate-limited rejection log; the
 * parts it wires together own their own resources. */
#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_cameras.h"
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

static void reject_from(struct ntm_daemon *d, int64_t now_ms, const char *topic,
                        const struct ntm_topic *t, enum ntm_reject r, const char *why, size_t len,
                        const char *via)
{
    ntm_store_reject(d->store, now_ms, topic, strlen(topic), r, why, len);
    uint64_t held = 0;
    if (!ntm_complain(&d->reject_complaint[r], REJECT_LOG_INTERVAL_MS, &held))
        return;
    char shown[160];
    printable(shown, sizeof shown, topic);
    struct ntm_log_field f[] = {{"REASON", ntm_reject_name(r)},
                                {"VILLAGE", t && t->village[0] ? t->village : NULL},
                                {"DEVICE", t && t->device[0] ? t->device : NULL},
                                {"SOURCE", via}};
    ntm_log_emit(&d->log, LOG_WARNING, NTM_MSGID_REJECTED, f, via ? 4 : 3,
                 "rejected a message on %s: %s (%s); it is in the quarantine, and further "
                 "rejections for this reason are summed up once a minute",
                 shown, ntm_reject_name(r), why);
    log_reject_summary(d, r, held);
}

static void reject(struct ntm_daemon *d, int64_t now_ms, const char *topic,
                   const struct ntm_topic *t, enum ntm_reject r, const char *why, size_t len)
{
    reject_from(d, now_ms, topic, t, r, why, len, NULL);
}

void ntm_daemon_reject(struct ntm_daemon *d, int64_t now_ms, const char *topic,
                       const struct ntm_topic *t, enum ntm_reject r, const char *why, size_t len,
                       const char *via)
{
    reject_from(d, now_ms, topic, t, r, why, len, via);
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

/* A device ts far ahead of what the other devices' clocks and monotonic time
 * support is not believed: the record gets the gateway's estimate (or its
 * clock, when later) and counts as clock_fallback; logged once per device. */
static void guard_ts(struct ntm_daemon *d, struct ntm_record *rec, int64_t now_ms)
{
    if (rec->flags & NTM_REC_CLOCK_FALLBACK)
        return; /* the gateway's own clock already */
    int64_t mono = (int64_t)uv_now(&d->loop), wall = now_ms / 1000;
    if (d->ingest.clock_trusted)
        ntm_ts_guard_at_least(&d->ts_guard, wall, mono);
    bool first = false;
    int64_t claimed = rec->ts;
    if (ntm_ts_guard_check(&d->ts_guard, rec->device, claimed, mono, &first) != NTM_TS_OUTLIER)
        return;
    int64_t est = ntm_ts_guard_estimate(&d->ts_guard, mono);
    rec->ts = est > wall ? est : wall;
    rec->flags |= NTM_REC_CLOCK_FALLBACK;
    uint64_t held = 0;
    if (!first && !(d->ts_guard.n_logged == NTM_TS_GUARD_LOGGED &&
                    ntm_complain(&d->outlier_complaint, 60000, &held)))
        return;
    char said[40], est_s[40];
    ntm_iso_local(claimed, said, sizeof said);
    ntm_iso_local(est, est_s, sizeof est_s);
    const char *village = d->cfg->villages[rec->village].id;
    struct ntm_log_field f[] = {
        {"VILLAGE", village}, {"DEVICE", rec->device}, {"KIND", ntm_kind_name(rec->kind)}};
    ntm_log_emit(&d->log, LOG_WARNING, NULL, f, 3,
                 "device %s in village %s says the time is %s, %" PRId64
                 " s ahead of what the other devices' clocks and the gateway's monotonic time "
                 "support (%s): its messages get that time instead, counted as clock_fallback, "
                 "until another device confirms its clock (logged once per device; %" PRIu64
                 " such messages in all)",
                 rec->device, village, said, claimed - est, est_s, d->ts_guard.outliers);
}

#define UNDECLARED_MAX 256

/* A device that reports without being in the inventory: said once per run,
 * with the declared id nearest to it (a typo shows). */
static void note_undeclared(struct ntm_daemon *d, const struct ntm_topic *t)
{
    if (d->cfg->n_devices == 0 || ntm_config_device(d->cfg, t->device))
        return;
    for (size_t i = 0; i < d->n_undeclared; i++)
        if (strcmp(d->undeclared[i], t->device) == 0)
            return;
    if (d->n_undeclared >= UNDECLARED_MAX)
        return;
    if (!d->undeclared) {
        d->undeclared = calloc(UNDECLARED_MAX, sizeof *d->undeclared);
        if (!d->undeclared)
            return;
    }
    snprintf(d->undeclared[d->n_undeclared++], sizeof d->undeclared[0], "%s", t->device);
    const char *nearest = NULL;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < d->cfg->n_devices; i++) {
        size_t dist = ntm_id_distance(t->device, d->cfg->devices[i].id);
        if (dist < best) {
            best = dist;
            nearest = d->cfg->devices[i].id;
        }
    }
    char hint[160] = "";
    if (nearest && best <= 3)
        snprintf(hint, sizeof hint, "; the nearest declared id is %s (a typo?)", nearest);
    struct ntm_log_field f[] = {
        {"VILLAGE", t->village}, {"DEVICE", t->device}, {"KIND", ntm_kind_name(t->kind)}};
    ntm_log_emit(&d->log, LOG_WARNING, NULL, f, 3,
                 "device %s (%s in village %s) reports but is not in the inventory (devices: in "
                 "the configuration)%s; its messages are accepted and counted; said once",
                 t->device, ntm_kind_name(t->kind), t->village, hint);
}

static void handle_message(struct ntm_daemon *d, const char *topic, const void *payload, size_t len)
{
    if (d->cfg->n_mappings > 0 && strncmp(topic, "ntm/", 4) != 0 &&
        ntm_daemon_mapped(d, topic, payload, len))
        return;
    int64_t now_ms = ntm_clock_wall_ms(&d->clock);
    char why[256] = "";
    struct ntm_topic t;
    memset(&t, 0, sizeof t);
    enum ntm_reject r = ntm_topic_parse(topic, strlen(topic), &t, why, sizeof why);
    if (r != NTM_ACCEPT) {
        reject(d, now_ms, topic, NULL, r, why, len);
        return;
    }
    ntm_daemon_deliver(d, now_ms, topic, &t, payload, len, 0, NULL);
}

/* The rest of the pipeline, for a parsed topic: the MQTT messages of the device
 * contract and, through the gate (gate.c), every source's. `via` names the
 * source ("mapping frigate-events") in a rejection's reason and log line. */
void ntm_daemon_deliver(struct ntm_daemon *d, int64_t now_ms, const char *topic,
                        const struct ntm_topic *t, const void *payload, size_t len, unsigned flags,
                        const char *via)
{
    char why[256] = "", inner[224] = "";
    size_t pre = via ? (size_t)snprintf(why, sizeof why, "%s: ", via) : 0;
    if (pre >= sizeof why / 2)
        pre = 0;
    int village = ntm_config_village(d->cfg, t->village);
    if (village < 0) {
        snprintf(why + pre, sizeof why - pre, "village '%s' is not in the configuration",
                 t->village);
        reject_from(d, now_ms, topic, t, NTM_REJ_VILLAGE, why, len, via);
        return;
    }
    enum ntm_reject r =
        ntm_payload_parse(t, payload, len, now_ms, &d->ingest, &d->rec, inner, sizeof inner);
    if (r != NTM_ACCEPT) {
        snprintf(why + pre, sizeof why - pre, "%s", inner);
        reject_from(d, now_ms, topic, t, r, why, len, via);
        return;
    }
    if (flags & NTM_SOURCE_RECV_TIME) {
        /* the source's rule of time, not a device's missing clock */
        d->rec.ts = now_ms >= 0 ? now_ms / 1000 : -((-now_ms + 999) / 1000);
        d->rec.flags &= (uint8_t)~NTM_REC_CLOCK_FALLBACK;
    }
    d->rec.village = (uint16_t)village;
    /* a device already known elsewhere is rejected before anything counts it */
    if (ntm_store_device_conflict(d->store, &d->rec)) {
        snprintf(why + pre, sizeof why - pre,
                 "device '%s' is already known in another village or kind", t->device);
        reject_from(d, now_ms, topic, t, NTM_REJ_DEVICE, why, len, via);
        return;
    }
    /* ids sprayed by one client must not grow memory and the villages' device
     * counts for ever: past the cap, a new undeclared device is refused */
    if (ntm_store_undeclared_full(d->store, t->device)) {
        snprintf(why + pre, sizeof why - pre,
                 "device '%s' is not in the inventory and %d undeclared devices are known "
                 "already (storage.max_undeclared_devices)",
                 t->device, d->cfg->storage.max_undeclared);
        reject_from(d, now_ms, topic, t, NTM_REJ_DEVICES, why, len, via);
        return;
    }
    guard_ts(d, &d->rec, now_ms);
    if (!d->replaying)
        note_undeclared(d, t);
    accept_record(d, &d->rec, d->delivery_key);
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
    d->delivery_key = key; /* stored with the record it gives, mapped or not */
    handle_message(d, topic, payload, len);
    d->delivery_key = 0;
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
        save_snapshot(d);
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
        ntm_log(&d->log, LOG_WARNING,
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
        save_snapshot(d);
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
    ntm_log(&d->log, LOG_NOTICE,
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
        ntm_log(&d->log, LOG_NOTICE, "SIGHUP: configuration %s re-read; nothing changed", c->path);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct ntm_daemon *d = s->data;
    if (signum == SIGHUP) {
        ntm_notify_reloading(&d->notify);
        reload(d);
        char buf[384];
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

    struct ntm_mqtt_callbacks cb = {
        .arg = d, .message = on_message, .state = on_mqtt_state, .session = on_mqtt_session};
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
        ntm_log(&d->log, LOG_WARNING, "event loop closed with handles still open");
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
