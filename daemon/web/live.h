/* SPDX-License-Identifier: GPL-3.0-or-later */
/* live.h: the daemon's live state (state.json, written about once a second to
 * the runtime directory, a tmpfs) as the page and the metrics read it: broker,
 * uplinks, ingest rate. Read-only; never waits for the daemon. */
#ifndef NTM_WEB_LIVE_H
#define NTM_WEB_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEB_LIVE_UPLINKS 16

struct web_live_uplink {
    char name[64];
    char state[16]; /* ok, failing, idle */
    int64_t last_ok_ms, failing_since_ms;
    char last_error[200];
    int64_t waiting_batches;
};

struct web_live {
    bool found; /* a state file was read and parsed */
    bool stale; /* its pid is not alive, or it was written over 10 s ago */
    char path[512];
    int64_t written_ms, started_ms;
    bool clock_synced;
    char broker_state[16]; /* connected, connecting, down; "" unknown */
    int64_t broker_since_ms;
    char broker_error[200];
    double rate_per_s;
    struct web_live_uplink uplinks[WEB_LIVE_UPLINKS];
    int n_uplinks;
};

/* Reads the first state file found: `runtime_path` (NULL:
 * /run/ntm-gateway/state.json, the daemon's runtime directory under systemd), then
 * `<db_path>.state.json`. now_ms is the wall clock. */
void web_live_read(struct web_live *l, const char *runtime_path, const char *db_path,
                   int64_t now_ms);

#endif
