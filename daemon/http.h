/* SPDX-License-Identifier: GPL-3.0-or-later */
/* http.h: the daemon's one HTTP client: a libcurl multi handle driven by the
 * daemon's libuv loop (CURLMOPT_SOCKETFUNCTION onto uv_poll_t,
 * CURLMOPT_TIMERFUNCTION onto a uv_timer_t). Plugins reach it through the
 * host API; nothing here knows about batches. */
#ifndef NTM_HTTP_H
#define NTM_HTTP_H

#include <uv.h>

#include "clock.h"
#include "log.h"
#include "ntm/plugin.h"

struct ntm_http;

/* `clock` (the daemon's one) gives "now" for a Retry-After that is a date. */
int ntm_http_new(struct ntm_http **out, uv_loop_t *loop, struct ntm_log *log,
                 struct ntm_clock *clock);
/* The loop it runs on (the plugin host defers plugins' early completions on it). */
uv_loop_t *ntm_http_loop(const struct ntm_http *h);
/* Starts a request; `done` is called exactly once, later, on the loop, with a
 * response valid only during the call. Returns -1 (and never calls `done`)
 * when the request could not be started. */
int ntm_http_request(struct ntm_http *h, const struct ntm_http_request *req, const char *user_agent,
                     ntm_http_done_fn done, void *arg);
/* A transfer whose easy handle (a CURL *) its caller set up, run on the same
 * multi handle: for streams (http_stream.c). `done` is called once, on the
 * loop, with curl's result (a CURLcode; CURLE_ABORTED_BY_CALLBACK when
 * ntm_http_free cancels it); the easy handle stays the caller's, to clean up.
 * Its CURLOPT_PRIVATE belongs to this file. Returns -1 when it could not start. */
typedef void (*ntm_http_attached_fn)(void *arg, int curl_code);
int ntm_http_attach(struct ntm_http *h, void *easy, ntm_http_attached_fn done, void *arg);
/* Takes an attached transfer off the multi handle without calling `done`.
 * Not from inside one of curl's callbacks for that handle. */
void ntm_http_detach(struct ntm_http *h, void *easy);
/* The options every transfer of the daemon sets on its easy handle: the URL,
 * http and https only, no signals, the error buffer (CURL_ERROR_SIZE bytes),
 * the User-Agent (NULL: "ntm-gateway"), TLS peer and host verification, and
 * ca_file when not NULL. Returns curl's code (0 when all were set). */
int ntm_http_base_options(void *easy, const char *url, char *errbuf, const char *user_agent,
                          const char *ca_file);
/* Aborts what is in flight (their `done` runs with status 0, error "cancelled")
 * and frees once the loop has closed the handles (run the loop once more before
 * uv_loop_close). Safe on NULL; not from inside a `done` callback. */
void ntm_http_free(struct ntm_http *h);

#endif
