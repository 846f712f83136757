/* SPDX-License-Identifier: GPL-3.0-or-later */
/* plugin_host.h: the daemon's side of the plugin ABI. Loads each configured
 * uplink's .so with dlopen, checks its ABI version, validates its options
 * against its table, gives it the host services and forwards its outcomes.
 * Knows nothing of batches' storage or retry schedules (sync.c owns those). */
#ifndef NTM_PLUGIN_HOST_H
#define NTM_PLUGIN_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "ntm/plugin.h"

struct ntm_uplink;

struct ntm_uplink_events {
    void *arg;
    /* The outcome of one ntm_uplink_send, exactly once, always from the loop and
     * never inside ntm_uplink_send (also when the plugin completed at once).
     * `reason` may be NULL and is valid only during the call. */
    void (*complete)(void *arg, struct ntm_uplink *u, uint64_t seq, enum ntm_send_result r,
                     int64_t retry_after_ms, const char *reason);
};

/* Loads every uplink of cfg->uplinks from cfg->plugin_dir. On failure returns -1
 * with err naming the plugin and the problem (missing file, wrong ABI version,
 * unknown/missing/bad option as FILE:LINE:COLUMN, the plugin's own init error),
 * and nothing stays loaded. */
int ntm_uplinks_load(struct ntm_uplink ***out, size_t *n_out, const struct ntm_config *cfg,
                     struct ntm_log *log, struct ntm_http *http, const struct ntm_uplink_events *ev,
                     char *err, size_t errlen);
/* A stable name for cursors and logs: the plugin name, with "#2", "#3" … for
 * the second and later uplinks of the same plugin. */
const char *ntm_uplink_name(const struct ntm_uplink *u);
unsigned ntm_uplink_max_in_flight(const struct ntm_uplink *u);
/* 0 when started (an outcome will follow), -1 when not (retry later): also
 * when max_in_flight sends are outstanding or this seq is already in flight. */
int ntm_uplink_send(struct ntm_uplink *u, const struct ntm_batch *b);
/* destroy()s each plugin, dlcloses it and frees the array. Outstanding sends
 * get no outcome; HTTP answers still to come are dropped. Some memory is freed
 * by handle close callbacks: run the loop before uv_loop_close. Not from inside
 * an events.complete callback. Call it before ntm_http_free. */
void ntm_uplinks_free(struct ntm_uplink **u, size_t n);

#endif
