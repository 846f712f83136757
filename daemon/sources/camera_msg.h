/* SPDX-License-Identifier: GPL-3.0-or-later */
/* camera_msg.h: what one part of a camera's event stream says, once a brand's
 * parser (hikvision.c, dahua.c) has read it and applied the device contract's
 * mapping of vendor event types. Plain data; no I/O. */
#ifndef NTM_CAMERA_MSG_H
#define NTM_CAMERA_MSG_H

#include <stdarg.h>
#include <stdio.h>

#include "record.h"

enum ntm_cam_msg_kind {
    NTM_CAM_KEEPALIVE, /* a sign of life only: Hikvision's inactive videoloss, Dahua's Heartbeat */
    NTM_CAM_START,     /* the start of an event the contract maps (`event`, `channel`) */
    NTM_CAM_END,       /* the end (or a pulse) of a mapped event type: not an event */
    NTM_CAM_IGNORED,   /* well formed, of a type the contract does not map: counted */
};

#define NTM_CAM_CODE_MAX 40

struct ntm_cam_msg {
    enum ntm_cam_msg_kind kind;
    enum ntm_event event; /* NTM_EV_MOTION, _TAMPER, _VIDEO_LOSS, _STORAGE_ERROR; NONE otherwise */
    int channel;          /* 1-based video channel; 1 when the message names none */
    char code[NTM_CAM_CODE_MAX + 1]; /* the vendor's event type, truncated, for counts and logs */
};

static inline const char *ntm_cam_msg_kind_name(enum ntm_cam_msg_kind k)
{
    static const char *const names[] = {"keepalive", "start", "end", "ignored"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

/* For the parsers: puts a reason in `why` (when there is room) and returns 0. */
static inline size_t ntm_cam_fail(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline size_t ntm_cam_fail(char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return 0;
}

/* A brand's parser: reads one part's body (len bytes, not NUL-terminated for
 * the parser) into at most `max` messages. Returns how many; 0 means the part
 * was not understood, and `why` (always terminated when whylen > 0) says why
 * in words for a person, never quoting the part. */
typedef size_t (*ntm_cam_parse_fn)(const char *body, size_t len, struct ntm_cam_msg *out,
                                   size_t max, char *why, size_t whylen);

#endif
