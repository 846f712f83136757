/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ping.c: the ping source. Owns two unprivileged ICMP datagram sockets (IPv4,
 * IPv6) polled on the loop, one timer spreading the probes over the round, and
 * the name lookups; a reply becomes a heartbeat through the gate. It must not
 * judge availability itself (the device contract's rule does, on heartbeats). */
#include "ping.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HOST_MAX 255
#define LOG_EVERY_MS 600000 /* one line per device and trouble in 10 minutes */
#define RECV_BURST 256      /* datagrams read per poll callback */

enum pstate { P_WAITING, P_REPLYING, P_NO_REPLY, P_RESOLVING, P_UNRESOLVED, P_DISABLED };
static const char *const pstate_names[] = {"waiting",   "replying",   "no_reply",
                                           "resolving", "unresolved", "disabled"};

struct lookup; /* an uv_getaddrinfo in flight */

struct target {
    char device[NTM_DEVICE_ID_MAX + 1];
    char host[HOST_MAX + 1];
    struct sockaddr_storage addr;
    socklen_t alen; /* 0: no address (yet) */
    struct lookup *lookup;
    uint32_t nonce; /* of the probe awaited */
    bool awaiting;
    int64_t sent_mono;
    enum pstate st;
    int64_t since_ms, last_ms; /* wall clock: state change, last reply */
    char last_error[160];
    struct ntm_complaint complaint;
};

struct lookup {
    uv_getaddrinfo_t req;
    struct ntm_ping *p; /* NULL once orphaned (list changed, or freed) */
    size_t idx;
};

struct ntm_ping {
    uv_loop_t *loop;
    struct ntm_log *log;
    struct ntm_clock *clock;
    ntm_source_emit_fn emit;
    void *emit_arg;
    int fd4, fd6;
    uv_poll_t poll4, poll6;
    bool poll4_on, poll6_on; /* initialized: closed at the end */
    uv_timer_t timer;
    int open_handles;
    bool freeing;
    bool enabled;
    char problem[480];
    struct target *t;
    size_t n;
    int interval_s, timeout_ms;
    int64_t round_fixed_ms, round_ms;
    int64_t cycle_start; /* uv_now of the current round's start */
    size_t next;         /* the next target of the round to probe */
    uint32_t nonce_ctr;
};

static void set_state(struct ntm_ping *p, struct target *t, enum pstate st, const char *err)
{
    if (err)
        snprintf(t->last_error, sizeof t->last_error, "%s", err);
    if (t->st == st)
        return;
    t->st = st;
    t->since_ms = ntm_clock_wall_ms(p->clock);
    if (err && (st == P_NO_REPLY || st == P_UNRESOLVED) &&
        ntm_complain(&t->complaint, LOG_EVERY_MS, NULL)) {
        struct ntm_log_field f[] = {{"DEVICE", t->device}, {"SOURCE", "ping"}};
        ntm_log_emit(p->log, LOG_NOTICE, NULL, f, 2,
                     "ping: device %s (%s) %s; it is pinged again every round and lapses to "
                     "offline by the device contract's rule",
                     t->device, t->host, err);
    }
}

/* ---- sockets ---- */

static int open_icmp(int family, char *why, size_t whylen)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
    if (fd < 0)
        snprintf(why, whylen, "%s", strerror(errno));
    return fd;
}

static void on_readable(uv_poll_t *h, int status, int events);

static void on_handle_closed(uv_handle_t *h)
{
    struct ntm_ping *p = h->data;
    if (--p->open_handles == 0 && p->freeing)
        free(p);
}

int ntm_ping_new(struct ntm_ping **out, uv_loop_t *loop, struct ntm_log *log,
                 struct ntm_clock *clock, int64_t round_ms, ntm_source_emit_fn emit, void *emit_arg)
{
    struct ntm_ping *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->loop = loop;
    p->log = log;
    p->clock = clock;
    p->emit = emit;
    p->emit_arg = emit_arg;
    p->round_fixed_ms = round_ms;
    p->interval_s = 60;
    p->timeout_ms = 1000;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
    p->open_handles = 1;
    char why4[128] = "", why6[128] = "";
    p->fd4 = open_icmp(AF_INET, why4, sizeof why4);
    p->fd6 = open_icmp(AF_INET6, why6, sizeof why6);
    if (p->fd4 >= 0 && uv_poll_init(loop, &p->poll4, p->fd4) == 0) {
        p->poll4.data = p;
        p->poll4_on = true;
        p->open_handles++;
        uv_poll_start(&p->poll4, UV_READABLE, on_readable);
    }
    if (p->fd6 >= 0 && uv_poll_init(loop, &p->poll6, p->fd6) == 0) {
        p->poll6.data = p;
        p->poll6_on = true;
        p->open_handles++;
        uv_poll_start(&p->poll6, UV_READABLE, on_readable);
    }
    p->enabled = p->poll4_on || p->poll6_on;
    if (p->fd4 < 0) {
        snprintf(p->problem, sizeof p->problem,
                 "this system does not allow unprivileged ICMP sockets (%s): set "
                 "net.ipv4.ping_group_range to include the daemon's group, e.g. "
                 "`sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` (the package installs "
                 "/usr/lib/sysctl.d/50-ntm-gateway-ping.conf for this)",
                 why4);
        ntm_log_emit(p->log, LOG_WARNING, NULL, (struct ntm_log_field[]){{"SOURCE", "ping"}}, 1,
                     "ping: %s; the daemon runs without %s", p->problem,
                     p->fd6 >= 0 ? "IPv4 ping (IPv6 works)" : "ping");
        if (p->fd6 >= 0)
            p->problem[0] = '\0';
    }
    *out = p;
    return 0;
}

bool ntm_ping_enabled(const struct ntm_ping *p)
{
    return p && p->enabled;
}

/* ---- probes ---- */

static void send_probe(struct ntm_ping *p, size_t idx)
{
    struct target *t = &p->t[idx];
    if (t->alen == 0)
        return;
    if (t->awaiting) /* the last probe was not answered in time */
        set_state(p, t, P_NO_REPLY, "did not answer the last ping");
    int fd = t->addr.ss_family == AF_INET ? p->fd4 : p->fd6;
    if (fd < 0) {
        set_state(p, t, P_DISABLED,
                  t->addr.ss_family == AF_INET ? "IPv4 ping is not allowed"
                                               : "IPv6 ping is not available");
        return;
    }
    uint8_t pkt[16];
    memset(pkt, 0, sizeof pkt);
    uint32_t nonce = ++p->nonce_ctr;
    uint16_t seq = htons((uint16_t)idx);
    pkt[0] = t->addr.ss_family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
    memcpy(pkt + 6, &seq, 2); /* id (bytes 4-5) is the kernel's */
    memcpy(pkt + 8, &nonce, 4);
    memcpy(pkt + 12, &p->nonce_ctr, 4);
    ssize_t r = sendto(fd, pkt, sizeof pkt, 0, (struct sockaddr *)&t->addr, t->alen);
    t->sent_mono = (int64_t)uv_now(p->loop);
    t->nonce = nonce;
    t->awaiting = r == (ssize_t)sizeof pkt;
    if (r < 0) {
        char why[96];
        snprintf(why, sizeof why, "cannot be pinged: %s", strerror(errno));
        set_state(p, t, P_NO_REPLY, why);
    }
}

/* The time target i is due in the round that started at cycle_start. */
static int64_t due(const struct ntm_ping *p, size_t i)
{
    return p->cycle_start + (int64_t)((double)p->round_ms * (double)i / (double)p->n);
}

static void on_timer(uv_timer_t *h)
{
    struct ntm_ping *p = h->data;
    if (p->n == 0)
        return;
    int64_t now = (int64_t)uv_now(p->loop);
    /* a loop stalled past a whole round skips ahead instead of bursting */
    if (now - p->cycle_start >= 2 * p->round_ms) {
        p->cycle_start = now;
        p->next = 0;
    }
    for (size_t sent = 0; sent < p->n && due(p, p->next) <= now; sent++) {
        send_probe(p, p->next);
        if (++p->next == p->n) {
            p->next = 0;
            p->cycle_start += p->round_ms;
        }
    }
    int64_t wait = due(p, p->next) - now;
    uv_timer_start(&p->timer, on_timer, wait > 0 ? (uint64_t)wait : 1, 0);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

static void got_reply(struct ntm_ping *p, int family, const uint8_t *buf, size_t len,
                      const struct sockaddr_storage *from)
{
    if (len < 16 || buf[0] != (family == AF_INET ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY))
        return;
    uint16_t seq;
    uint32_t nonce;
    memcpy(&seq, buf + 6, 2);
    memcpy(&nonce, buf + 8, 4);
    size_t idx = ntohs(seq);
    if (idx >= p->n)
        return;
    struct target *t = &p->t[idx];
    if (!t->awaiting || t->nonce != nonce || !same_addr(&t->addr, from))
        return;
    t->awaiting = false;
    if ((int64_t)uv_now(p->loop) - t->sent_mono > p->timeout_ms) {
        set_state(p, t, P_NO_REPLY, "answered after the timeout");
        return;
    }
    t->last_ms = ntm_clock_wall_ms(p->clock);
    t->last_error[0] = '\0';
    set_state(p, t, P_REPLYING, NULL);
    char payload[40];
    int plen = snprintf(payload, sizeof payload, "{\"interval_s\":%d}", p->interval_s);
    p->emit(p->emit_arg, t->device, NTM_CH_HEARTBEAT, payload, (size_t)plen, NTM_SOURCE_RECV_TIME);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    struct ntm_ping *p = h->data;
    (void)events;
    if (status < 0)
        return;
    int fd = h == &p->poll4 ? p->fd4 : p->fd6;
    int family = h == &p->poll4 ? AF_INET : AF_INET6;
    for (int i = 0; i < RECV_BURST; i++) {
        uint8_t buf[128];
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            continue; /* an ICMP error queued on the socket: the probe just goes unanswered */
        }
        got_reply(p, family, buf, (size_t)r, &from);
    }
}

/* ---- addresses ---- */

static bool literal(struct target *t)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)&t->addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&t->addr;
    memset(&t->addr, 0, sizeof t->addr);
    if (inet_pton(AF_INET, t->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        t->alen = sizeof *a4;
        return true;
    }
    if (inet_pton(AF_INET6, t->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        t->alen = sizeof *a6;
        return true;
    }
    return false;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct lookup *l = req->data;
    struct ntm_ping *p = l->p;
    if (p != NULL) {
        struct target *t = &p->t[l->idx];
        t->lookup = NULL;
        if (status == 0 && res != NULL && res->ai_addrlen <= sizeof t->addr) {
            memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
            t->alen = (socklen_t)res->ai_addrlen;
            set_state(p, t, P_WAITING, "");
        } else {
            char why[160];
            snprintf(why, sizeof why, "host name '%.64s' could not be resolved: %s", t->host,
                     uv_strerror(status));
            set_state(p, t, P_UNRESOLVED, why);
        }
    }
    uv_freeaddrinfo(res);
    free(l);
}

static void resolve(struct ntm_ping *p, size_t idx)
{
    struct target *t = &p->t[idx];
    if (literal(t) || t->lookup)
        return;
    struct lookup *l = calloc(1, sizeof *l);
    if (!l)
        return;
    l->p = p;
    l->idx = idx;
    l->req.data = l;
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_family = AF_UNSPEC};
    set_state(p, t, P_RESOLVING, "");
    if (uv_getaddrinfo(p->loop, &l->req, on_resolved, t->host, NULL, &hints) != 0) {
        free(l);
        set_state(p, t, P_UNRESOLVED, "host name lookup could not be started");
        return;
    }
    t->lookup = l;
}

static void orphan_lookups(struct target *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].lookup)
            t[i].lookup->p = NULL; /* its callback frees it */
}

int ntm_ping_configure(struct ntm_ping *p, const struct ntm_ping_target *tg, size_t n,
                       int interval_s, int timeout_ms)
{
    struct target *nt = n ? calloc(n, sizeof *nt) : NULL;
    if (n && !nt)
        return -1;
    if (n > 65536) /* the ICMP sequence number names the target */
        n = 65536;
    for (size_t i = 0; i < n; i++) {
        snprintf(nt[i].device, sizeof nt[i].device, "%s", tg[i].device);
        snprintf(nt[i].host, sizeof nt[i].host, "%s", tg[i].host);
        nt[i].st = P_WAITING;
        nt[i].since_ms = ntm_clock_wall_ms(p->clock);
        /* a device whose host is unchanged keeps what it had */
        for (size_t j = 0; j < p->n; j++)
            if (strcmp(p->t[j].device, nt[i].device) == 0 &&
                strcmp(p->t[j].host, nt[i].host) == 0) {
                nt[i].st = p->t[j].st;
                nt[i].since_ms = p->t[j].since_ms;
                nt[i].last_ms = p->t[j].last_ms;
                memcpy(nt[i].last_error, p->t[j].last_error, sizeof nt[i].last_error);
                nt[i].complaint = p->t[j].complaint;
                break;
            }
    }
    orphan_lookups(p->t, p->n);
    free(p->t);
    p->t = nt;
    p->n = n;
    p->interval_s = interval_s;
    p->timeout_ms = timeout_ms;
    p->round_ms = p->round_fixed_ms > 0 ? p->round_fixed_ms : (int64_t)interval_s * 1000;
    for (size_t i = 0; i < n; i++) {
        if (!p->enabled) {
            set_state(p, &p->t[i], P_DISABLED, p->problem);
            continue;
        }
        resolve(p, i);
    }
    p->cycle_start = (int64_t)uv_now(p->loop);
    p->next = 0;
    uv_timer_stop(&p->timer);
    if (p->enabled && n > 0)
        uv_timer_start(&p->timer, on_timer, 1, 0);
    return 0;
}

void ntm_ping_live(void *ping, cJSON *sources)
{
    struct ntm_ping *p = ping;
    if (!p || !sources)
        return;
    cJSON *sec = cJSON_AddObjectToObject(sources, "ping");
    for (size_t i = 0; sec && i < p->n; i++) {
        const struct target *t = &p->t[i];
        cJSON *d = cJSON_AddObjectToObject(sec, t->device);
        if (!d)
            continue;
        cJSON_AddStringToObject(d, "state", pstate_names[t->st]);
        cJSON_AddNumberToObject(d, "since_ms", (double)t->since_ms);
        cJSON_AddNumberToObject(d, "last_ms", (double)t->last_ms);
        if (t->last_error[0])
            cJSON_AddStringToObject(d, "last_error", t->last_error);
        else
            cJSON_AddNullToObject(d, "last_error");
        cJSON_AddStringToObject(d, "host", t->host);
    }
}

void ntm_ping_free(struct ntm_ping *p)
{
    if (!p)
        return;
    orphan_lookups(p->t, p->n);
    free(p->t);
    p->t = NULL;
    p->n = 0;
    p->freeing = true;
    if (p->poll4_on) {
        uv_poll_stop(&p->poll4);
        uv_close((uv_handle_t *)&p->poll4, on_handle_closed);
    }
    if (p->poll6_on) {
        uv_poll_stop(&p->poll6);
        uv_close((uv_handle_t *)&p->poll6, on_handle_closed);
    }
    uv_close((uv_handle_t *)&p->timer, on_handle_closed);
    /* uv_poll does not own the descriptors: closed after the handles stop */
    if (p->fd4 >= 0)
        close(p->fd4);
    if (p->fd6 >= 0)
        close(p->fd6);
}
