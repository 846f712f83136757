/* SPDX-License-Identifier: GPL-3.0-or-later */
/* camera.h: the camera event source. One long-lived HTTP event stream per
 * (host, port, user), shared by the inventory devices it serves (an NVR's
 * channels), read on the daemon's loop through the shared curl multi handle;
 * what the cameras say becomes device-contract messages (`event`, `heartbeat`)
 * handed to the caller's emit callback, the daemon's one gate. Reconnects with
 * capped exponential backoff and full jitter; logs each state change once. */
#ifndef NTM_CAMERA_H
#define NTM_CAMERA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "source.h"

enum ntm_camera_api { NTM_CAMERA_HIKVISION, NTM_CAMERA_DAHUA };

/* One inventory camera whose events are read from a stream (its `events:`). */
struct ntm_camera_device {
    const char *device;  /* inventory id */
    const char *village; /* its village id, for the logs */
    enum ntm_camera_api api;
    const char *host;          /* IPv4, IPv6 or a name: events.host, else the device's ip */
    int port;                  /* 0: 80, or 443 with https */
    bool https;                /* verification always on */
    const char *ca_file;       /* NULL: the system's CAs */
    const char *user;          /* the camera account */
    const char *password_file; /* read again at each connection attempt */
    int channel;               /* 1-based channel of the camera or NVR; 0 means 1 */
    int keepalive_s;           /* expected keep-alive period (Dahua: asked for); 0 means 30 */
};

/* Timings; NULL or 0 fields take the defaults (tests shorten them). */
struct ntm_camera_tuning {
    int64_t backoff_min_ms;   /* 1000: the first retry waits up to this (full jitter) */
    int64_t backoff_max_ms;   /* 300000: the cap of the doubling */
    int64_t refused_retry_ms; /* 300000: after credentials are refused (401, 403) */
    int64_t hold_ms;          /* 10000: a Hikvision "active" repeated within this is one event */
    size_t max_part;          /* 16384: larger parts are passed over and counted */
};

/* What ntmctl shows for one device. */
struct ntm_camera_state {
    bool connected;       /* its stream is open and has spoken */
    int64_t since_ms;     /* wall clock (Unix ms) of the last change of state; 0 = none yet */
    char last_error[256]; /* the last failure, for a person; "" when none */
    char stream[300];     /* "dahua 192.168.10.40:80", the stream it is heard on */
    uint64_t events;      /* events emitted for this device */
    uint64_t keepalives;  /* of the stream */
    uint64_t ignored;     /* parts of types the contract does not map (stream) */
    uint64_t malformed;   /* parts that could not be read (stream) */
    uint64_t oversized;   /* parts passed over for their size (stream) */
    uint64_t connects;    /* streams opened (HTTP 200) */
};

struct ntm_cameras;

/* `clock` gives since_ms; `emit` receives every message. Returns 0, or -1. */
int ntm_cameras_new(struct ntm_cameras **out, uv_loop_t *loop, struct ntm_http *http,
                    struct ntm_log *log, struct ntm_clock *clock,
                    const struct ntm_camera_tuning *tuning, ntm_source_emit_fn emit,
                    void *emit_arg);
/* Sets the whole list of camera devices (at start and on SIGHUP). Streams whose
 * host, port, user and settings are unchanged stay open; others are closed or
 * opened. Nothing changes and -1 is returned, with a reason in err, when the
 * list is inconsistent (devices sharing a stream but not its api, https,
 * ca_file, password_file or keepalive_s; two devices on one channel; a bad
 * host, port or channel). The strings are copied. */
int ntm_cameras_configure(struct ntm_cameras *c, const struct ntm_camera_device *devs, size_t n,
                          char *err, size_t errlen);
/* The state of one device's stream: 0, or -1 when the device has no stream. */
int ntm_cameras_state(const struct ntm_cameras *c, const char *device,
                      struct ntm_camera_state *out);
/* The live state's "cameras" section (the daemon's state.json, read by
 * ntmctl): per device {"state": "connected" | "connecting" | "failing",
 * "since_ms", "last_ms" (its stream's last sign of life), "last_error", "stream",
 * "events", "connects", "malformed", "oversized", "ignored"}, wall-clock ms, 0
 * for "not yet". `cameras` is a struct ntm_cameras (NULL: no section). */
struct cJSON;
void ntm_cameras_live(void *cameras, struct cJSON *sources_obj);
/* Closes every stream (no message is emitted) and frees once the loop has
 * closed its timers (run the loop once more before uv_loop_close), before
 * ntm_http_free. Safe on NULL. */
void ntm_cameras_free(struct ntm_cameras *c);

#endif
