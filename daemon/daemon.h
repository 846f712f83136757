/* daemon.h: the daemon's one context. It owns the loop and every part
 * (config, log, store, aggregation, outbox, plugins, sync, mqtt, notify) and
 * is the only place where they meet: the message pipeline topic -> payload ->
 * aggregate -> store, the sync tick, the status line, signals. */
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
#include "log.h"
#include "ts_guard.h"
#include "mqtt.h"
#include "notify.h"
#include "outbox.h"
#include "plugin_host.h"
#include "store.h"
#include "sync.h"

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
    struct ntm_uplink **uplinks;
    size_t n_uplinks;
    uv_timer_t sync_timer;
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
    int exit_code;
    bool stopping;

    struct ntm_complaint reject_complaint[NTM_REJ_COUNT];
    struct ntm_complaint store_complaint; /* accepted messages the store could not take */
    uint64_t reject_held[NTM_REJ_COUNT];
};

/* Sets everything up; on failure prints why (and returns non-zero). */
int ntm_daemon_init(struct ntm_daemon *d, struct ntm_config *cfg, char *err, size_t errlen);
/* Runs the loop until SIGTERM/SIGINT; returns the exit code. */
int ntm_daemon_run(struct ntm_daemon *d);
/* Frees what init made (also after a failed init). */
void ntm_daemon_free(struct ntm_daemon *d);

#endif
