/* SPDX-License-Identifier: GPL-3.0-or-later */
/* http_stream.h: a long-lived HTTP GET on the daemon's one libcurl multi handle
 * (http.c), for event streams that never end: each chunk of the body goes to a
 * callback as it arrives; no total timeout, a watchdog on silence instead;
 * digest authentication (basic where the server asks for it); https with
 * verification always on. Knows nothing of what the body means. */
#ifndef NTM_HTTP_STREAM_H
#define NTM_HTTP_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

struct ntm_http_stream;

struct ntm_http_stream_opts {
    const char *url;         /* http:// or https:// */
    const char *user;        /* NULL: no authentication */
    const char *password;    /* copied into curl's handle only; wipe yours after the call */
    const char *ca_file;     /* https: NULL = the system's CA bundle; verification is always on */
    long connect_timeout_ms; /* TCP and TLS set-up; 0 = 10000 */
    long idle_timeout_s;     /* closed when no byte at all came for this long; 0 = never */
    long buffer_size;        /* curl's receive buffer; 0 = 4096 (streams are slow, and many) */
};

struct ntm_http_stream_cb {
    /* Once, before the first body byte of the final response (after any
     * authentication round): its status and Content-Type (NULL when none).
     * Non-zero aborts the stream. */
    int (*head)(void *arg, long status, const char *content_type);
    /* Each chunk of the body as it arrives. Non-zero aborts the stream. */
    int (*data)(void *arg, const char *data, size_t len);
    /* Once, when the stream is over (closed by the server, failed, or aborted
     * by a callback): `status` is the final HTTP status (0 when none came),
     * `error` a transport failure for a person (NULL when the server simply
     * ended the response), `aborted` when a callback asked for it. The stream
     * is freed right after; never called after ntm_http_stream_close. */
    void (*end)(void *arg, long status, const char *error, bool aborted);
};

/* Starts the request; returns 0 and *out, or -1 (nothing started, no callback). */
int ntm_http_stream_open(struct ntm_http *h, const struct ntm_http_stream_opts *o,
                         const struct ntm_http_stream_cb *cb, void *arg,
                         struct ntm_http_stream **out);
/* Stops and frees the stream; `end` is not called. Safe on NULL; from a
 * `head` or `data` callback of this stream too (it then ends on return). */
void ntm_http_stream_close(struct ntm_http_stream *s);

#endif
