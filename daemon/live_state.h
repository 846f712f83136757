/* SPDX-License-Identifier: GPL-3.0-or-later */
/* live_state.h: the daemon's live state as a JSON document (schema 1) that
 * readers (ntmctl, the web program) find without touching the buffer: written
 * about once a second, atomically (temp file + rename, no fsync), to
 * $RUNTIME_DIRECTORY/state.json, else <storage.path>.state.json. This file
 * owns the schema, the path rules and the staleness rule; it does not gather
 * the figures (the daemon hands them over) nor keep any history. */
#ifndef NTM_LIVE_STATE_H
#define NTM_LIVE_STATE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NTM_LIVE_SCHEMA 1
#define NTM_LIVE_SYSTEM_PATH "/run/ntm-gateway/state.json"
#define NTM_LIVE_STALE_MS 10000

struct ntm_live_uplink {
    const char *name, *plugin;
    const char *state;        /* "ok", "failing" or "idle" */
    int64_t last_ok_ms;       /* 0 = none since start */
    int64_t failing_since_ms; /* 0 = not failing */
    const char *last_error;   /* NULL = none */
    int64_t next_try_ms;      /* 0 = nothing waiting */
    uint64_t waiting_batches;
};

/* Everything but the sources' sections; wall-clock ms throughout. */
struct ntm_live_info {
    int64_t written_ms, started_ms;
    bool ready, clock_synced;
    const char *gateway_id, *version;
    struct {
        const char *state; /* "connected", "connecting" or "down" */
        int64_t since_ms;
        const char *last_error; /* NULL = none */
        const char *host;
        int port;
    } broker;
    struct {
        double rate_per_s;
        uint64_t accepted_total, rejected_total;
    } ingest;
    const struct ntm_live_uplink *uplinks;
    size_t n_uplinks;
};

struct ntm_live;

/* The path the daemon writes: $RUNTIME_DIRECTORY (its first entry)/state.json,
 * else <storage_path>.state.json. */
void ntm_live_path(const char *storage_path, char *buf, size_t len);
/* NULL when out of memory. `path` is copied. */
struct ntm_live *ntm_live_new(const char *path);
/* A section under "sources": fn adds its object(s) to the "sources" object
 * each time the document is written. Per device: {"ID":{"state":"...",
 * "since_ms":0,"last_ms":0,"last_error":null}}. */
int ntm_live_add_section(struct ntm_live *l, void (*fn)(void *arg, cJSON *sources_obj), void *arg);
/* Builds and writes the document; 0 or -1 (errno set; the caller may log). */
int ntm_live_write(struct ntm_live *l, const struct ntm_live_info *info);
const char *ntm_live_file(const struct ntm_live *l);
/* Removes the file (at a clean stop) and frees. Safe on NULL. */
void ntm_live_free(struct ntm_live *l, bool unlink_file);

/* ---- readers ---- */
/* Reads the first that exists of: `explicit_path` (when not NULL), the system
 * path, <storage_path>.state.json. Returns the parsed document or NULL (none
 * found or unreadable); *path_out gets the file read. *stale is set when the
 * writer's pid is not alive or written_ms is older than NTM_LIVE_STALE_MS
 * before now_ms. */
cJSON *ntm_live_read(const char *explicit_path, const char *storage_path, int64_t now_ms,
                     bool *stale, char *path_out, size_t path_len);

#endif
