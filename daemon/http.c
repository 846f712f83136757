/* SPDX-License-Identifier: GPL-3.0-or-later */
/* http.c: the daemon's one HTTP client: a libcurl multi handle driven by the
 * libuv loop (one uv_poll_t per socket curl watches, one uv_timer_t for curl's
 * timeouts). Owns the in-flight requests and their copies; knows no batches.
 * Gives Retry-After as a delay (retry_after.c), from the daemon's clock. */
#include "http.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "retry_after.h"

#define RESPONSE_MAX (64 * 1024) /* response body bytes kept */
#define HEADER_VALUE_MAX 256     /* Retry-After (as sent) and Content-Type */
#define DEFAULT_TIMEOUT_MS 30000L

struct http_request;

/* One socket curl asked us to watch; freed in its poll handle's close callback. */
struct http_socket {
    uv_poll_t poll;
    curl_socket_t fd;
    struct ntm_http *h;
    struct http_socket *prev, *next;
};

struct ntm_http {
    uv_loop_t *loop;
    struct ntm_log *log;
    struct ntm_clock *clock; /* the daemon's: "now" for a Retry-After date */
    CURLM *multi;
    uv_timer_t timer;
    struct http_request *requests; /* in flight */
    struct http_socket *sockets;   /* watched */
    unsigned open_handles;         /* uv handles not yet closed (timer + polls) */
    bool freeing;
};

struct http_request {
    struct ntm_http *h;
    CURL *easy;
    struct curl_slist *headers;
    char *body; /* our copy of the request body */
    char *resp; /* up to RESPONSE_MAX bytes, NUL-terminated */
    size_t resp_len;
    char retry_after[HEADER_VALUE_MAX];
    char content_type[HEADER_VALUE_MAX];
    bool has_retry_after, has_content_type;
    bool cut; /* the answer passed RESPONSE_MAX: the transfer was stopped there */
    char errbuf[CURL_ERROR_SIZE];
    ntm_http_done_fn done;
    void *arg;
    ntm_http_attached_fn attached; /* set for a transfer set up by its caller (ntm_http_attach) */
    struct http_request *prev, *next;
};

/* ---- handle bookkeeping ---- */

static void maybe_free(struct ntm_http *h)
{
    if (h->freeing && h->open_handles == 0)
        free(h);
}

static void on_timer_closed(uv_handle_t *handle)
{
    struct ntm_http *h = handle->data;
    h->open_handles--;
    maybe_free(h);
}

static void on_socket_closed(uv_handle_t *handle)
{
    struct http_socket *s = handle->data;
    struct ntm_http *h = s->h;
    free(s);
    h->open_handles--;
    maybe_free(h);
}

static void socket_unwatch(struct http_socket *s)
{
    struct ntm_http *h = s->h;
    if (s->prev)
        s->prev->next = s->next;
    else
        h->sockets = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_socket_closed);
}

static void request_unlink(struct http_request *r)
{
    struct ntm_http *h = r->h;
    if (r->prev)
        r->prev->next = r->next;
    else
        h->requests = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void request_free(struct http_request *r)
{
    if (r->easy && !r->attached) /* an attached easy handle is its caller's */
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    free(r->resp);
    free(r);
}

/* Takes r out of the multi handle, reports to its owner and frees it. */
static void request_finish(struct http_request *r, long status, const char *error)
{
    struct ntm_http *h = r->h;
    request_unlink(r);
    curl_multi_remove_handle(h->multi, r->easy);
    if (r->attached) {
        r->attached(r->arg, status == 0 ? CURLE_ABORTED_BY_CALLBACK : CURLE_OK);
        request_free(r);
        return;
    }
    struct ntm_http_response resp = {
        .status = status,
        .error = status == 0 ? (error ? error : "unknown transport failure") : NULL,
        .body = r->resp ? r->resp : "",
        .body_len = r->resp_len,
        .retry_after_ms = status != 0 && r->has_retry_after
                              ? ntm_retry_after_ms(r->retry_after, ntm_clock_wall_ms(h->clock))
                              : 0,
        .content_type = r->has_content_type ? r->content_type : NULL,
    };
    r->done(r->arg, &resp);
    request_free(r);
}

/* Reports every transfer curl has finished. */
static void check_done(struct ntm_http *h)
{
    CURLMsg *m;
    int left;
    while (!h->freeing && (m = curl_multi_info_read(h->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct http_request *r = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r == NULL)
            continue;
        if (r->attached) {
            request_unlink(r);
            curl_multi_remove_handle(h->multi, r->easy);
            r->attached(r->arg, (int)rc);
            request_free(r);
            continue;
        }
        if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && r->cut)) {
            long status = 0;
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
            request_finish(r, status, status == 0 ? "no HTTP status received" : NULL);
        } else {
            char error[CURL_ERROR_SIZE + 256];
            /* curl's error buffer says more than curl_easy_strerror and
             * usually ends with it: one of the two, never both */
            size_t n = (size_t)snprintf(error, sizeof error, "%s",
                                        r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
            long os_errno = 0; /* refused, unreachable, ...: what an operator asks next */
            curl_easy_getinfo(r->easy, CURLINFO_OS_ERRNO, &os_errno);
            if (os_errno != 0 && n < sizeof error && !strstr(error, strerror((int)os_errno)))
                snprintf(error + n, sizeof error - n, " (%s)", strerror((int)os_errno));
            request_finish(r, 0, error);
        }
    }
}

/* ---- curl's callbacks onto the loop ---- */

static void on_poll(uv_poll_t *poll, int status, int events)
{
    struct http_socket *s = poll->data;
    struct ntm_http *h = s->h;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    check_done(h);
}

static void on_timeout(uv_timer_t *timer)
{
    struct ntm_http *h = timer->data;
    int running;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct ntm_http *h = userp;
    struct http_socket *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            if (!h->freeing)
                curl_multi_assign(h->multi, fd, NULL);
            socket_unwatch(s);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL)
            return -1;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->fd = fd;
        s->h = h;
        s->poll.data = s;
        s->next = h->sockets;
        if (h->sockets)
            h->sockets->prev = s;
        h->sockets = s;
        h->open_handles++;
        curl_multi_assign(h->multi, fd, s);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    if (uv_poll_start(&s->poll, events, on_poll) != 0)
        return -1;
    return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct ntm_http *h = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else /* 0 too: run it from the loop, never from inside curl */
        uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    struct http_request *r = userp;
    size_t len = size * n;
    size_t room = RESPONSE_MAX - r->resp_len;
    size_t take = len < room ? len : room;
    if (take > 0) {
        memcpy(r->resp + r->resp_len, data, take);
        r->resp_len += take;
        r->resp[r->resp_len] = '\0';
    }
    if (take < len) {  /* nothing past the limit is kept: stop reading (a short */
        r->cut = true; /* count makes curl end the transfer, CURLE_WRITE_ERROR) */
        return take;
    }
    return len;
}

/* Keeps `value` (trimmed) of a header line "Name: value" when its name is `name`. */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return false;
    const char *v = line + nl + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    size_t vl = (size_t)(end - v);
    if (vl >= outlen)
        vl = outlen - 1;
    memcpy(out, v, vl);
    out[vl] = '\0';
    return true;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
    struct http_request *r = userp;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* a new response (after a 100 Continue, say): forget the last one's headers */
        r->has_retry_after = r->has_content_type = false;
        r->resp_len = 0;
        r->resp[0] = '\0';
    } else if (header_value(data, len, "Retry-After", r->retry_after, sizeof r->retry_after)) {
        r->has_retry_after = true;
    } else if (header_value(data, len, "Content-Type", r->content_type, sizeof r->content_type)) {
        r->has_content_type = true;
    }
    return len;
}

/* ---- public ---- */

int ntm_http_new(struct ntm_http **out, uv_loop_t *loop, struct ntm_log *log,
                 struct ntm_clock *clock)
{
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    struct ntm_http *h = calloc(1, sizeof *h);
    if (h == NULL) {
        curl_global_cleanup();
        return -1;
    }
    h->loop = loop;
    h->log = log;
    h->clock = clock;
    h->multi = curl_multi_init();
    if (h->multi == NULL || uv_timer_init(loop, &h->timer) != 0) {
        if (h->multi)
            curl_multi_cleanup(h->multi);
        free(h);
        curl_global_cleanup();
        return -1;
    }
    h->timer.data = h;
    h->open_handles = 1;
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    *out = h;
    return 0;
}

uv_loop_t *ntm_http_loop(const struct ntm_http *h)
{
    return h->loop;
}

/* A header line "Name: value", refusing CR/LF (header injection). */
static struct curl_slist *add_header(struct curl_slist *list, const char *name, const char *value,
                                     bool *ok)
{
    if (!*ok)
        return list;
    if (name == NULL || value == NULL || name[0] == '\0' || strpbrk(name, "\r\n:") != NULL ||
        strpbrk(value, "\r\n") != NULL) {
        *ok = false;
        return list;
    }
    char *line = NULL;
    if (asprintf(&line, "%s: %s", name, value) < 0) {
        *ok = false;
        return list;
    }
    struct curl_slist *l = curl_slist_append(list, line);
    free(line);
    if (l == NULL) {
        *ok = false;
        return list;
    }
    return l;
}

int ntm_http_base_options(void *easy, const char *url, char *errbuf, const char *user_agent,
                          const char *ca_file)
{
    CURL *e = easy;
    CURLcode c = curl_easy_setopt(e, CURLOPT_URL, url);
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_USERAGENT, user_agent ? user_agent : "ntm-gateway");
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    if (c == CURLE_OK)
        c = curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c == CURLE_OK && ca_file)
        c = curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
    return (int)c;
}

static bool setup_easy(struct http_request *r, const struct ntm_http_request *req,
                       const char *user_agent)
{
    CURL *e = r->easy;
    bool ok = true;
    for (size_t i = 0; i < req->n_headers; i++)
        r->headers = add_header(r->headers, req->headers[i].name, req->headers[i].value, &ok);
    /* no "Expect: 100-continue" round trip before the body */
    struct curl_slist *l = curl_slist_append(r->headers, "Expect:");
    if (l == NULL)
        ok = false;
    else
        r->headers = l;
    if (!ok)
        return false;

    CURLcode c = (CURLcode)ntm_http_base_options(e, req->url, r->errbuf, user_agent, req->ca_file);
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (c == CURLE_OK)                                                                         \
            c = curl_easy_setopt(e, opt, val);                                                     \
    } while (0)
    SET(CURLOPT_PRIVATE, (void *)r);
    SET(CURLOPT_HTTPHEADER, r->headers);
    SET(CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS);
    if (req->cert_file)
        SET(CURLOPT_SSLCERT, req->cert_file);
    if (req->key_file)
        SET(CURLOPT_SSLKEY, req->key_file);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, (void *)r);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, (void *)r);
    if (strcmp(req->method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(req->method, "POST") != 0)
            SET(CURLOPT_CUSTOMREQUEST, req->method);
        SET(CURLOPT_POST, 1L);
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        SET(CURLOPT_POSTFIELDS, r->body);
    }
#undef SET
    return c == CURLE_OK;
}

int ntm_http_request(struct ntm_http *h, const struct ntm_http_request *req, const char *user_agent,
                     ntm_http_done_fn done, void *arg)
{
    if (h == NULL || h->freeing || req == NULL || req->url == NULL || req->method == NULL ||
        done == NULL || (req->body_len > 0 && req->body == NULL))
        return -1;
    struct http_request *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -1;
    r->h = h;
    r->done = done;
    r->arg = arg;
    r->resp = malloc(RESPONSE_MAX + 1);
    r->body = malloc(req->body_len ? req->body_len : 1);
    r->easy = curl_easy_init();
    if (r->resp == NULL || r->body == NULL || r->easy == NULL)
        goto fail;
    r->resp[0] = '\0';
    if (req->body_len)
        memcpy(r->body, req->body, req->body_len);
    if (!setup_easy(r, req, user_agent ? user_agent : "ntm-gateway"))
        goto fail;
    if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK)
        goto fail;
    r->next = h->requests;
    if (h->requests)
        h->requests->prev = r;
    h->requests = r;
    return 0;
fail:
    request_free(r);
    return -1;
}

int ntm_http_attach(struct ntm_http *h, void *easy, ntm_http_attached_fn done, void *arg)
{
    if (h == NULL || h->freeing || easy == NULL || done == NULL)
        return -1;
    struct http_request *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -1;
    r->h = h;
    r->easy = easy;
    r->attached = done;
    r->arg = arg;
    if (curl_easy_setopt(easy, CURLOPT_PRIVATE, (void *)r) != CURLE_OK ||
        curl_multi_add_handle(h->multi, easy) != CURLM_OK) {
        free(r);
        return -1;
    }
    r->next = h->requests;
    if (h->requests)
        h->requests->prev = r;
    h->requests = r;
    return 0;
}

void ntm_http_detach(struct ntm_http *h, void *easy)
{
    struct http_request *r = NULL;
    if (h == NULL || easy == NULL ||
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r) != CURLE_OK || r == NULL ||
        !r->attached)
        return;
    request_unlink(r);
    curl_multi_remove_handle(h->multi, easy);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    request_free(r);
}

void ntm_http_free(struct ntm_http *h)
{
    if (h == NULL || h->freeing)
        return;
    h->freeing = true;
    /* request_finish unlinks (h->requests moves on) before it frees */
    while (h->requests != NULL)
        request_finish(h->requests, 0, "cancelled"); // NOLINT(clang-analyzer-unix.Malloc)
    curl_multi_cleanup(h->multi);                    /* may still report sockets to forget */
    h->multi = NULL;
    curl_global_cleanup(); /* pairs with ntm_http_new's curl_global_init */
    while (h->sockets != NULL)
        socket_unwatch(h->sockets);
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}
