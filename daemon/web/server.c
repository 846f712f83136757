/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server.c: runs libmicrohttpd in external-poll mode on this process's one
 * loop (epoll + signalfd): answers GET / and GET /metrics, refuses the rest,
 * bounds connections, headers and time, delays and logs wrong passwords.
 * Must not write anything but its answers and its log. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "clock.h"
#include "request.h"
#include "view.h"

#define MAX_DELAYED 32     /* wrong-password answers waiting at once */
#define CONN_LIMIT 64      /* connections at once */
#define PER_IP_LIMIT 16    /* from one address */
#define TIMEOUT_S 10       /* a connection idle this long is closed (slowloris) */
#define MEMORY_LIMIT 16384 /* bytes per connection: bounds the request's headers */

struct conn {
    int64_t opened_ms;
    bool answered;
};

struct req {
    bool delayed; /* a wrong password, its answer waiting */
};

struct server {
    const struct web_server_opts *o;
    struct MHD_Daemon *mhd;
    struct ntm_clock clock;
    struct {
        struct MHD_Connection *c;
        int64_t due_ms;
    } delayed[MAX_DELAYED];
    int n_delayed;
    int open;
    int64_t idle_since_ms;
    struct ntm_complaint c_auth, c_notfound, c_method, c_slow, c_mhd, c_busy;
};

static void client_addr(struct MHD_Connection *c, char *buf, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(buf, len, "?");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)len);
}

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* One log line for the first of a kind of refusal, then one per 10 s with the count. */
static void refused(struct server *s, struct ntm_complaint *cp, int level, struct MHD_Connection *c,
                    const char *what, const char *detail)
{
    uint64_t held = 0;
    if (!ntm_complain(cp, 10000, &held))
        return;
    char addr[64];
    client_addr(c, addr, sizeof addr);
    struct ntm_log_field f[] = {{"CLIENT", addr}};
    ntm_log_emit(s->o->log, level, NULL, f, 1,
                 "web: %s from %s%s%s; refused, and it goes on serving (%" PRIu64
                 " more such refusals since the last such line)",
                 what, addr, detail ? ": " : "", detail ? detail : "", held);
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned code, const char *type, char *body,
                              size_t len, bool must_free, int lang)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (must_free)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                            "form-action 'none'; frame-ancestors 'none'");
    if (lang >= 0)
        MHD_add_response_header(r, "Content-Language", lang == NTM_LANG_EN ? "en" : "vi");
    struct conn *cn = conn_of(c);
    if (cn)
        cn->answered = true;
    enum MHD_Result rc = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned code, const char *msg)
{
    return answer(c, code, "text/plain; charset=utf-8", (char *)msg, strlen(msg), false, -1);
}

static enum MHD_Result unauthorized(struct MHD_Connection *c)
{
    static const char msg[] = "401: user and password needed (user ntm)\n";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    struct conn *cn = conn_of(c);
    if (cn)
        cn->answered = true;
    enum MHD_Result rc = MHD_queue_basic_auth_fail_response(c, "ntm-gateway", r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result serve(struct server *s, struct MHD_Connection *c, enum web_route route)
{
    const struct web_server_opts *o = s->o;
    struct web_live live;
    int64_t now = ntm_clock_wall_ms(&s->clock);
    web_live_read(&live, o->state_path, o->db_path, now);
    struct web_db *db = NULL;
    char err[600] = "";
    if (web_db_open(&db, o->db_path, err, sizeof err) != 0)
        db = NULL;
    int lang = web_language(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "lang"),
                            MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Language"),
                            o->cfg->web.language);
    struct web_view v = {.cfg = o->cfg,
                         .live = &live,
                         .db = db,
                         .db_error = err,
                         .lang = lang,
                         .now_ms = now,
                         .refresh_s = o->refresh_s};
    struct web_buf b = {0};
    int rc = route == WEB_PAGE ? web_page(&b, &v) : web_metrics(&b, &v);
    web_db_close(db);
    if (rc != 0) {
        wb_free(&b);
        return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "500: out of memory\n");
    }
    if (route == WEB_PAGE)
        return answer(c, MHD_HTTP_OK, "text/html; charset=utf-8", b.p, b.n, true, lang);
    return answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.p, b.n, true, -1);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct server *s = cls;
    (void)version;
    (void)upload_data;
    struct req *rq = *req_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *req_cls = rq;
    }
    if (rq->delayed) /* resumed after the wrong-password delay */
        return unauthorized(c);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        refused(s, &s->c_method, LOG_NOTICE, c, "a request that is not GET", method);
        return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "405: these pages are read-only\n");
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return text(c, MHD_HTTP_BAD_REQUEST, "400: a GET has no body\n");
    }
    if (s->o->auth->required) {
        char *pass = NULL;
        char *user = MHD_basic_auth_get_username_password(c, &pass);
        bool ok = web_auth_ok(s->o->auth, user, pass);
        bool tried = user != NULL;
        if (pass) {
            explicit_bzero(pass, strlen(pass));
            MHD_free(pass);
        }
        if (user)
            MHD_free(user);
        if (!ok && !tried) /* a browser's first request: it asks the person */
            return unauthorized(c);
        if (!ok) {
            refused(s, &s->c_auth, LOG_WARNING, c, "a wrong user or password", NULL);
            if (s->n_delayed >= MAX_DELAYED) {
                refused(s, &s->c_busy, LOG_WARNING, c,
                        "too many wrong passwords waiting for their answer", NULL);
                return text(c, MHD_HTTP_TOO_MANY_REQUESTS, "429: too many attempts\n");
            }
            rq->delayed = true;
            s->delayed[s->n_delayed].c = c;
            s->delayed[s->n_delayed].due_ms = ntm_clock_mono_ms() + s->o->auth_delay_ms;
            s->n_delayed++;
            MHD_suspend_connection(c);
            return MHD_YES;
        }
    }
    enum web_route route = web_route(url);
    if (route == WEB_NOT_FOUND) {
        refused(s, &s->c_notfound, LOG_NOTICE, c, "a request for a path that is not served", url);
        return text(c, MHD_HTTP_NOT_FOUND, "404: only / and /metrics are served\n");
    }
    return serve(s, c, route);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*req_cls);
    *req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *cn = calloc(1, sizeof *cn);
        if (cn)
            cn->opened_ms = ntm_clock_mono_ms();
        *socket_context = cn;
        s->open++;
        return;
    }
    struct conn *cn = *socket_context;
    s->open--;
    if (s->open == 0)
        s->idle_since_ms = ntm_clock_mono_ms();
    if (cn && !cn->answered && ntm_clock_mono_ms() - cn->opened_ms >= (TIMEOUT_S - 1) * 1000)
        refused(s, &s->c_slow, LOG_NOTICE, c,
                "a connection that sent no complete request in 10 s (slow or idle client)", NULL);
    free(cn);
    *socket_context = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct server *s = cls;
    uint64_t held = 0;
    if (!ntm_complain(&s->c_mhd, 10000, &held))
        return;
    char msg[300];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    ntm_logf(s->o->log, LOG_NOTICE,
             "web: the HTTP server says \"%s\"; it goes on serving (%" PRIu64
             " more such lines held back)",
             msg, held);
}

static void resume_due(struct server *s, int64_t now)
{
    int j = 0;
    for (int i = 0; i < s->n_delayed; i++) {
        if (s->delayed[i].due_ms <= now)
            MHD_resume_connection(s->delayed[i].c);
        else
            s->delayed[j++] = s->delayed[i];
    }
    s->n_delayed = j;
}

int web_serve(const struct web_server_opts *o)
{
    struct server s = {.o = o, .idle_since_ms = ntm_clock_mono_ms()};
    ntm_clock_init(&s.clock);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    signal(SIGPIPE, SIG_IGN);
    s.mhd = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, &s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, &s, MHD_OPTION_LISTEN_SOCKET,
        (MHD_socket)o->listen_fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)PER_IP_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)MEMORY_LIMIT,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, &s, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        &s, MHD_OPTION_END);
    if (sfd < 0 || s.mhd == NULL) {
        ntm_logf(o->log, LOG_ERR, "web: the HTTP server could not start: %s; not serving",
                 sfd < 0 ? strerror(errno) : "libmicrohttpd refused the listening socket");
        if (sfd >= 0)
            close(sfd);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s.mhd, MHD_DAEMON_INFO_EPOLL_FD);
    int efd = di ? di->epoll_fd : -1;
    int rc = 0;
    for (;;) {
        int64_t now = ntm_clock_mono_ms();
        int64_t wait = 1000;
        MHD_UNSIGNED_LONG_LONG t;
        if (MHD_get_timeout(s.mhd, &t) == MHD_YES && (int64_t)t < wait)
            wait = (int64_t)t;
        for (int i = 0; i < s.n_delayed; i++)
            if (s.delayed[i].due_ms - now < wait)
                wait = s.delayed[i].due_ms - now > 0 ? s.delayed[i].due_ms - now : 0;
        struct pollfd p[2] = {{.fd = efd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(p, 2, (int)wait) < 0 && errno != EINTR) {
            ntm_logf(o->log, LOG_ERR, "web: poll failed: %s; stopping", strerror(errno));
            rc = -1;
            break;
        }
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo != SIGHUP) {
                ntm_logf(o->log, LOG_INFO, "web: signal %u received; stopping", si.ssi_signo);
                break;
            }
        }
        resume_due(&s, ntm_clock_mono_ms());
        MHD_run(s.mhd);
        if (o->idle_exit_s > 0 && s.open == 0 &&
            ntm_clock_mono_ms() - s.idle_since_ms > (int64_t)o->idle_exit_s * 1000) {
            ntm_logf(o->log, LOG_INFO,
                     "web: no connection for %d s; exiting (systemd starts it again on the "
                     "next one)",
                     o->idle_exit_s);
            break;
        }
    }
    /* answers waiting on a wrong password go out before the stop */
    resume_due(&s, INT64_MAX);
    MHD_run(s.mhd);
    MHD_stop_daemon(s.mhd);
    close(sfd);
    return rc;
}
