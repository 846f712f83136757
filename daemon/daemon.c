/* daemon.c: the message pipeline and the daemon's life cycle. Owns the
 * signal handlers, the status timer and the rate-limited rejection log; the
 * parts it wires together own their own resources. */
#include "daemon.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REJECT_LOG_INTERVAL_MS 60000

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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
    if (!ntm_complain(&d->reject_complaint[r], now_ms, REJECT_LOG_INTERVAL_MS, &held))
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

static void on_message(void *arg, const char *topic, const void *payload, size_t len)
{
    struct ntm_daemon *d = arg;
    int64_t now_ms = wall_ms();
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
    int rc = ntm_store_append(d->store, &d->rec);
    if (rc == 1) {
        snprintf(why, sizeof why, "device '%s' is already known in another village or kind",
                 t.device);
        reject(d, now_ms, topic, &t, NTM_REJ_DEVICE, why, len);
    }
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
    ntm_store_stats(d->store, &s);
    snprintf(buf, len,
             "broker %s; accepted %" PRIu64 ", rejected %" PRIu64 ", buffered %" PRIu64
             "; %.0f msg/s%s",
             ntm_mqtt_subscribed(d->mqtt) ? "connected" : "disconnected", s.accepted_total,
             s.rejected_total, s.buffered, rate,
             s.disk_full ? "; DISK FULL: writes failing, oldest messages being evicted" : "");
}

static void on_status_timer(uv_timer_t *t)
{
    struct ntm_daemon *d = t->data;
    struct ntm_store_stats s;
    ntm_store_stats(d->store, &s);
    double rate = (double)(s.accepted_total - d->last_accepted);
    d->last_accepted = s.accepted_total;
    char buf[256];
    status_line(d, buf, sizeof buf, rate);
    ntm_notify_status(&d->notify, buf);
    /* a flood that stopped still gets its summary line */
    int64_t now = wall_ms();
    for (int r = 0; r < NTM_REJ_COUNT; r++) {
        struct ntm_complaint *c = &d->reject_complaint[r];
        if (c->suppressed > 0 && now - c->last_ms >= REJECT_LOG_INTERVAL_MS) {
            uint64_t held = 0;
            if (ntm_complain(c, now, REJECT_LOG_INTERVAL_MS, &held)) {
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
    uv_signal_stop(&d->sig_term);
    uv_signal_stop(&d->sig_int);
    uv_signal_stop(&d->sig_hup);
    if (ntm_store_flush(d->store) != 0)
        d->exit_code = 1;
    uv_stop(&d->loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct ntm_daemon *d = s->data;
    if (signum == SIGHUP) {
        ntm_notify_reloading(&d->notify);
        ntm_log(&d->log, LOG_NOTICE,
                "SIGHUP: configuration reload is not implemented yet; restart the service "
                "to apply changes");
        char buf[256];
        status_line(d, buf, sizeof buf, 0);
        ntm_notify_reloaded(&d->notify, buf);
        return;
    }
    stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

int ntm_daemon_init(struct ntm_daemon *d, struct ntm_config *cfg, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    d->cfg = cfg;
    uv_loop_init(&d->loop);
    ntm_log_init(&d->log, "ntm-gatewayd", cfg->log.level);
    ntm_notify_init(&d->notify, &d->loop);
    uv_timer_init(&d->loop, &d->status_timer);
    d->status_timer.data = d;
    uv_signal_t *sigs[] = {&d->sig_term, &d->sig_int, &d->sig_hup};
    int signums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&d->loop, sigs[i]);
        sigs[i]->data = d;
        uv_signal_start(sigs[i], on_signal, signums[i]);
    }
    d->start_ms = uv_now(&d->loop);

    if (ntm_store_open(&d->store, &d->loop, cfg, &d->log, err, errlen) != 0)
        return -1;
    d->ingest.max_payload = (size_t)cfg->mqtt.max_payload;
    d->ingest.mac_key = ntm_store_mac_key;
    d->ingest.mac_key_arg = d->store;
    struct ntm_store_stats s;
    ntm_store_stats(d->store, &s);
    d->last_accepted = s.accepted_total;

    struct ntm_mqtt_callbacks cb = {.arg = d, .message = on_message, .state = on_mqtt_state};
    if (ntm_mqtt_start(&d->mqtt, &d->loop, cfg, &d->log, &cb, err, errlen) != 0)
        return -1;
    uv_timer_start(&d->status_timer, on_status_timer, 1000, 1000);
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
    ntm_store_close(d->store);
    d->store = NULL;
    uv_close((uv_handle_t *)&d->status_timer, on_closed);
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
                     " buffered, all committed and synced",
                     s.accepted_total, s.buffered);
}
