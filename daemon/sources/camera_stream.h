/* SPDX-License-Identifier: GPL-3.0-or-later */
/* camera_stream.h: inside the camera source: one event stream and the devices
 * it serves (camera.c owns the list and the configuration; camera_stream.c the
 * connection, the parts and the messages). Not for use outside sources/. */
#ifndef NTM_CAMERA_STREAM_H
#define NTM_CAMERA_STREAM_H

#include "camera.h"
#include "camera_msg.h"
#include "multipart.h"
#include "http_stream.h"

struct ntm_cameras {
    uv_loop_t *loop;
    struct ntm_http *http;
    struct ntm_log *log;
    struct ntm_clock *clock;
    struct ntm_camera_tuning t;
    ntm_source_emit_fn emit;
    void *emit_arg;
    struct cam_stream *streams;
    unsigned open_handles; /* stream timers not yet closed */
    bool freeing;
};

struct cam_dev {
    char device[NTM_DEVICE_ID_MAX + 1];
    char village[NTM_VILLAGE_ID_MAX + 1];
    int channel;
    int64_t last_hb_ms;              /* monotonic: the last heartbeat emitted */
    bool on[NTM_EV_COUNT];           /* Hikvision: an event of this type is active */
    int64_t active_ms[NTM_EV_COUNT]; /* monotonic: its last "active" */
    uint64_t events;
};

enum cam_phase { PH_WAIT, PH_OPENING, PH_OPEN };

/* What went wrong, for "log each state change once". */
enum cam_fail {
    F_NONE,
    F_UP, /* not a failure: connected */
    F_PASSWORD,
    F_START,
    F_TRANSPORT,
    F_REFUSED,
    F_HTTP,
    F_CLOSED,
    F_SILENT,
};

struct cam_stream {
    struct ntm_cameras *c;
    /* the key and settings (a device list may change without a reconnect) */
    enum ntm_camera_api api;
    char *host, *user, *password_file, *ca_file;
    int port;
    bool https;
    int keepalive_s;
    struct cam_dev *devs;
    size_t n_devs;
    char name[300]; /* "dahua 192.168.10.40:80" */

    uv_timer_t timer; /* the retry wait, or the silence watchdog while open */
    struct ntm_http_stream *hs;
    enum cam_phase phase;
    struct ntm_multipart mp;
    bool mp_live;
    bool spoke;           /* this connection delivered a part we understood */
    bool up;              /* logged as connected */
    bool alt_path;        /* Hikvision: the pre-ISAPI path after a 404 */
    int64_t last_life_ms; /* monotonic */
    int64_t last_wall_ms; /* wall clock (Unix ms) of the last sign of life; 0 = none yet */
    unsigned attempts;    /* failures since the last connection that spoke */
    enum cam_fail logged; /* the state last logged */
    long logged_detail;
    char last_error[256];
    int64_t since_ms;
    uint64_t keepalives, ignored, malformed, connects, unmapped, oversized_done;
    struct ntm_complaint bad_parts;
    struct cam_stream *next;
};

/* camera_stream.c */
void ntm_cam_stream_start(struct cam_stream *s);
/* Closes the connection and the timer; the stream is freed (with its devices)
 * by the timer's close callback. */
void ntm_cam_stream_close(struct cam_stream *s);
void ntm_cam_stream_free(struct cam_stream *s);
/* A reload dropped it: logged once (with its devices), then destroyed. */
void ntm_cam_stream_retire(struct cam_stream *s);

#endif
