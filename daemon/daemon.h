/* SPDX-License-Identifier: GPL-3.0-or-later */
/* daemon.h: the daemon's one context. It owns the loop and every part
 * (config, log, store, aggregation, outbox, plugins, sync, mqtt, sources,
 * notify) and is the only place where they meet: daemon.c (life cycle, timers,
 * signals, reload), pipeline.c (the message pipeline topic -> payload ->
 * aggregate -> store), sources_wire.c, daemon_cameras.c and gate.c (the sources). */
#ifndef NTM_DAEMON_H
#define NTM_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "aggregate.h"
#include "clock.h"
#include "config.h"
#include "http.h"
#include "ingest.h"
#include "live_state.h"
#include "log.h"
#include "ts_guard.h"
#include "mqtt.h"
#include "notify.h"
#include "outbox.h"
#include "plugin_host.h"
#include "sources/mappings.h"
#include "sources/source.h"
#include "store.h"
#include "sync.h"

struct ntm_ping;

struct ntm_daemon {
    uv_loop_t loop;
    struct ntm_config *cfg;
    struct ntm_log log;
    struct ntm_clock clock;
    struct ntm_notify notify;
    struct ntm_store *store;
    struct ntm_mqtt *mqtt;
    struct ntm_agg *agg;
    struct ntm_outbox *outbox;
    struct ntm_http *http;
    struct ntm_sync *sync;
    struct ntm_cameras *cameras; /* the camera event streams (daemon_cameras.c); NULL: none */
    struct ntm_uplink **uplinks;
    size_t n_uplinks;
    uv_timer_t sync_timer;
    uv_timer_t ready_timer;    /* READY=1 from inside the loop */
    bool snapshot_due;         /* a window closed: save the aggregation state */
    bool replaying;            /* feeding stored messages again: their alerts are stored */
    uint64_t last_snapshot_ms; /* monotonic */
    struct ntm_ingest_opts ingest;
    struct ntm_record rec;                  /* reused for every message: it is 8 KiB */
    struct ntm_ts_guard ts_guard;           /* no single device's clock moves event time ahead */
    struct ntm_complaint outlier_complaint; /* outliers of devices past the logged table */

    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t status_timer;
    uint64_t last_accepted; /* for the rate in STATUS= */
    uint64_t start_ms;      /* monotonic */
    int64_t started_wall_ms;
    struct ntm_live *live; /* the live state file for ntmctl and the web page */
    bool live_failed;      /* its write failure was logged */
    bool ready;            /* READY=1 sent: the loop runs */
    double rate;           /* accepted messages per second, last second */
    int exit_code;
    bool stopping;

    struct ntm_complaint reject_complaint[NTM_REJ_COUNT];
    struct ntm_ping *ping; /* sources (sources_wire.c); NULL when unused */
    struct ntm_mappings maps;
    const struct ntm_device_decl **by_id;
    /* cfg->devices sorted by id, for the gate */ /* the MQTT mappings' counts */
    struct ntm_complaint store_complaint;         /* accepted messages the store could not take */
    struct ntm_complaint dup_complaint;           /* QoS 1 messages the broker sent again */
    uint64_t duplicates;                          /* ... skipped, since start */
    uint64_t delivery_key; /* the broker message being handled (0 for none: a source's) */
    /* undeclared devices already logged this run (each once) */
    char (*undeclared)[NTM_DEVICE_ID_MAX + 1];
    size_t n_undeclared;
};

/* The message pipeline after the topic (daemon.c): the village, the payload,
 * the device's place, then the windows and the buffer; a rejection is stored
 * in the quarantine and logged. `flags` are NTM_SOURCE_* (sources/source.h);
 * `via` names a source in a rejection, NULL for the device contract's MQTT. The
 * sources reach it only through the gate (gate.h). */
void ntm_daemon_deliver(struct ntm_daemon *d, int64_t now_ms, const char *topic,
                        const struct ntm_topic *t, const void *payload, size_t len, unsigned flags,
                        const char *via);
/* A rejection: counted, in the quarantine under `topic`, logged (rate-limited). */
void ntm_daemon_reject(struct ntm_daemon *d, int64_t now_ms, const char *topic,
                       const struct ntm_topic *t, enum ntm_reject r, const char *why, size_t len,
                       const char *via);

/* The built-in sources (sources_wire.c): started after the broker, told on
 * SIGHUP after the live settings were applied, stopped before the flush. */
int ntm_daemon_sources_start(struct ntm_daemon *d, char *err, size_t errlen);
void ntm_daemon_sources_reload(struct ntm_daemon *d);
void ntm_daemon_sources_stop(struct ntm_daemon *d);
void ntm_daemon_sources_free(struct ntm_daemon *d);
/* The live state's "ping" and "mappings" sections (ntm_ping_live, ntm_mappings_live)
 * of this daemon's current sources, for ntm_live_add_section(live, this, daemon):
 * the ping source may come and go on SIGHUP, so the daemon, not it, is the argument. */
void ntm_daemon_sources_live(void *daemon, cJSON *sources);
/* The declared device with this id (a binary search), or NULL. */
const struct ntm_device_decl *ntm_daemon_device(const struct ntm_daemon *d, const char *id);
/* A message on a topic outside the device contract's: evaluated by every
 * mapping whose filter matches; false when none does. */
bool ntm_daemon_mapped(struct ntm_daemon *d, const char *topic, const void *payload, size_t len);

/* Rejections of one reason are logged at most once in this interval. */
#define NTM_REJECT_LOG_INTERVAL_MS 60000

/* The pipeline's hooks for daemon.c (pipeline.c): the broker's messages and
 * sessions, the aggregation sink, a record accepted (replayed or kept after a
 * failed write), one the store did not take, the rejection summary of the
 * status timer, the aggregation state saved into the buffer. */
void ntm_daemon_on_message(void *arg, const char *topic, const void *payload, size_t len, int mid);
void ntm_daemon_on_mqtt_session(void *arg, bool present);
void ntm_daemon_on_row(void *arg, const struct ntm_indicator_row *row);
void ntm_daemon_on_window_closed(void *arg, enum ntm_period p, int64_t start, int64_t end);
void ntm_daemon_on_alert(void *arg, const struct ntm_alert *a);
void ntm_daemon_accept(struct ntm_daemon *d, struct ntm_record *rec, uint64_t key);
void ntm_daemon_not_stored(struct ntm_daemon *d, const struct ntm_record *rec, int rc);
void ntm_daemon_log_reject_summary(struct ntm_daemon *d, enum ntm_reject r, uint64_t held);
void ntm_daemon_save_snapshot(struct ntm_daemon *d);

/* The operator's pending `ntmctl forget` requests, applied (daemon_forget.c):
 * at start, on SIGHUP and at each sync tick. */
void ntm_daemon_forget_pending(struct ntm_daemon *d);

/* Sets everything up; on failure prints why (and returns non-zero). */
int ntm_daemon_init(struct ntm_daemon *d, struct ntm_config *cfg, char *err, size_t errlen);
/* Runs the loop until SIGTERM/SIGINT; returns the exit code. */
int ntm_daemon_run(struct ntm_daemon *d);
/* Frees what init made (also after a failed init). */
void ntm_daemon_free(struct ntm_daemon *d);

#endif
