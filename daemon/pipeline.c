/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pipeline.c: the message pipeline, from a broker message (or, through the gate,
 * a source's) to the windows and the buffer: the topic, the village, the payload,
 * the device's place and clock, the undeclared-device cap; rejections (counted,
 * quarantined, logged at most once a minute per reason) and the aggregation sink.
 * It must not start, stop or reload anything: that is daemon.c. */
#include "daemon.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tail.h"
#include "text_safe.h"

void ntm_daemon_log_reject_summary(struct ntm_daemon *d, enum ntm_reject r, uint64_t held)
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
    if (!ntm_complain(&d->reject_complaint[r], NTM_REJECT_LOG_INTERVAL_MS, &held))
        return;
    char shown[160];
    ntm_text_safe_str(shown, sizeof shown, topic);
    struct ntm_log_field f[] = {{"REASON", ntm_reject_name(r)},
                                {"VILLAGE", t && t->village[0] ? t->village : NULL},
                                {"DEVICE", t && t->device[0] ? t->device : NULL},
                                {"SOURCE", via}};
    ntm_log_emit(&d->log, LOG_WARNING, NTM_MSGID_REJECTED, f, via ? 4 : 3,
                 "rejected a message on %s: %s (%s); it is in the quarantine, and further "
                 "rejections for this reason are summed up once a minute",
                 shown, ntm_reject_name(r), why);
    ntm_daemon_log_reject_summary(d, r, held);
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

void ntm_daemon_save_snapshot(struct ntm_daemon *d)
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
        ntm_daemon_save_snapshot(d);
}

/* ---- aggregation sink --------------------------------------------------------- */

void ntm_daemon_on_row(void *arg, const struct ntm_indicator_row *row)
{
    struct ntm_daemon *d = arg;
    /* A replayed message is a committed one: the rows of a window it closed
     * were committed in its transaction (the state snapshot may come in a
     * later one, when a checkpoint held it back), so they are not formed twice. */
    if (d->replaying)
        return;
    ntm_outbox_add_row(d->outbox, row);
}

void ntm_daemon_on_window_closed(void *arg, enum ntm_period p, int64_t start, int64_t end)
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

void ntm_daemon_on_alert(void *arg, const struct ntm_alert *a)
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
void ntm_daemon_not_stored(struct ntm_daemon *d, const struct ntm_record *rec, int rc)
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
void ntm_daemon_accept(struct ntm_daemon *d, struct ntm_record *rec, uint64_t key)
{
    if (ntm_agg_add(d->agg, rec, (int64_t)uv_now(&d->loop)))
        rec->flags |= NTM_REC_LATE;
    else
        rec->flags &= (uint8_t)~NTM_REC_LATE;
    int rc = ntm_store_append_delivery(d->store, rec, key);
    if (rc != 0)
        ntm_daemon_not_stored(d, rec, rc);
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
    ntm_daemon_accept(d, &d->rec, d->delivery_key);
}

/* A message from the broker. One it delivers again (QoS 1 after a
 * reconnection: the same packet id, topic and payload) that this daemon, or a
 * run of it killed since, already took in, is skipped: libmosquitto has
 * acknowledged it, so the broker stops sending it. */
void ntm_daemon_on_message(void *arg, const char *topic, const void *payload, size_t len, int mid)
{
    struct ntm_daemon *d = arg;
    uint64_t key = ntm_tail_delivery_key(mid, topic, strlen(topic), payload, len);
    if (key != 0 && ntm_store_delivered_before(d->store, key)) {
        d->duplicates++;
        uint64_t held = 0;
        if (ntm_complain(&d->dup_complaint, 60000, &held)) {
            char shown[160];
            ntm_text_safe_str(shown, sizeof shown, topic);
            ntm_logf(&d->log, LOG_INFO,
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
void ntm_daemon_on_mqtt_session(void *arg, bool present)
{
    struct ntm_daemon *d = arg;
    if (!present)
        ntm_store_forget_deliveries(d->store);
}
