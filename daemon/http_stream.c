/* SPDX-License-Identifier: GPL-3.0-or-later */
/* http_stream.c: long-lived streaming GETs on the shared multi handle (through
 * ntm_http_attach). Owns each stream's easy handle and hands the body on
 * chunk by chunk; keeps no body. Never logs, and never keeps the password
 * beyond curl's own copy in the handle (freed with it). */
#include "http_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define CONNECT_TIMEOUT_MS 10000L
#define BUFFER_SIZE 4096L

struct ntm_http_stream {
    struct ntm_http *h;
    CURL *easy;
    struct ntm_http_stream_cb cb;
    void *arg;
    char content_type[256];
    bool has_content_type;
    bool head_done;
    bool aborted; /* a callback asked for it */
    bool closing; /* closed from inside a callback: freed when curl lets go */
    bool in_cb;
    char errbuf[CURL_ERROR_SIZE];
};

static void stream_free(struct ntm_http_stream *s)
{
    if (s->easy)
        curl_easy_cleanup(s->easy);
    free(s);
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
    struct ntm_http_stream *s = userp;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        s->has_content_type = false; /* a new response (after a 401 round, say) */
        s->content_type[0] = '\0';
    } else if (len > 13 && strncasecmp(data, "Content-Type:", 13) == 0) {
        const char *v = data + 13, *e = data + len;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
            e--;
        size_t vl = (size_t)(e - v);
        if (vl >= sizeof s->content_type)
            vl = sizeof s->content_type - 1;
        memcpy(s->content_type, v, vl);
        s->content_type[vl] = '\0';
        s->has_content_type = true;
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    struct ntm_http_stream *s = userp;
    size_t len = size * n;
    if (s->closing || s->aborted)
        return 0;
    int rc = 0;
    s->in_cb = true;
    if (!s->head_done) {
        s->head_done = true;
        long status = 0;
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        if (s->cb.head)
            rc = s->cb.head(s->arg, status, s->has_content_type ? s->content_type : NULL);
    }
    if (rc == 0 && !s->closing && len > 0 && s->cb.data)
        rc = s->cb.data(s->arg, data, len);
    s->in_cb = false;
    if (rc != 0 || s->closing) {
        s->aborted = true;
        return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
    }
    return len;
}

static void on_done(void *arg, int code)
{
    struct ntm_http_stream *s = arg;
    if (s->closing) {
        stream_free(s);
        return;
    }
    long status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    char error[CURL_ERROR_SIZE + 128];
    const char *err = NULL;
    if (code != CURLE_OK && !s->aborted) {
        size_t k = (size_t)snprintf(error, sizeof error, "%s", curl_easy_strerror((CURLcode)code));
        if (s->errbuf[0] != '\0' && k < sizeof error)
            snprintf(error + k, sizeof error - k, ": %s", s->errbuf);
        err = error;
    }
    if (s->cb.end)
        s->cb.end(s->arg, status, err, s->aborted);
    stream_free(s);
}

static bool setup(struct ntm_http_stream *s, const struct ntm_http_stream_opts *o)
{
    CURL *e = s->easy;
    CURLcode c = (CURLcode)ntm_http_base_options(e, o->url, s->errbuf, NULL, o->ca_file);
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (c == CURLE_OK)                                                                         \
            c = curl_easy_setopt(e, opt, val);                                                     \
    } while (0)
    SET(CURLOPT_HTTPGET, 1L);
    SET(CURLOPT_TIMEOUT_MS, 0L); /* a stream has no end: the idle watchdog instead */
    SET(CURLOPT_CONNECTTIMEOUT_MS,
        o->connect_timeout_ms > 0 ? o->connect_timeout_ms : CONNECT_TIMEOUT_MS);
    if (o->idle_timeout_s > 0) {
        SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
        SET(CURLOPT_LOW_SPEED_TIME, o->idle_timeout_s);
    }
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_BUFFERSIZE, o->buffer_size > 0 ? o->buffer_size : BUFFER_SIZE);
    if (o->user) {
        /* digest, as these cameras use; basic only where the camera offers no
         * better (curl asks first, then picks the strongest offered) */
        SET(CURLOPT_HTTPAUTH, (long)(CURLAUTH_DIGEST | CURLAUTH_BASIC));
        SET(CURLOPT_USERNAME, o->user);
        SET(CURLOPT_PASSWORD, o->password ? o->password : "");
    }
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, (void *)s);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)s);
#undef SET
    return c == CURLE_OK;
}

int ntm_http_stream_open(struct ntm_http *h, const struct ntm_http_stream_opts *o,
                         const struct ntm_http_stream_cb *cb, void *arg,
                         struct ntm_http_stream **out)
{
    *out = NULL;
    if (h == NULL || o == NULL || o->url == NULL || cb == NULL)
        return -1;
    struct ntm_http_stream *s = calloc(1, sizeof *s);
    if (s == NULL)
        return -1;
    s->h = h;
    s->cb = *cb;
    s->arg = arg;
    s->easy = curl_easy_init();
    if (s->easy == NULL || !setup(s, o) || ntm_http_attach(h, s->easy, on_done, s) != 0) {
        stream_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void ntm_http_stream_close(struct ntm_http_stream *s)
{
    if (s == NULL || s->closing)
        return;
    if (s->in_cb) {
        s->closing = true; /* on_body returns 0; on_done frees */
        return;
    }
    ntm_http_detach(s->h, s->easy);
    stream_free(s);
}
