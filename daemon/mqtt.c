/* mqtt.c: libmosquitto on the daemon's libuv loop. Owns the mosquitto client,
 * its uv_poll_t (re-made for each new socket), the housekeeping and reconnect
 * timers, and the name resolution (uv_getaddrinfo, since libmosquitto's own
 * blocks). Must not parse or store messages: they go to the callback. */
#include "mqtt.h"
#include "clock.h"

#include <errno.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "backoff.h"
#include "clock.h"

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 60000
#define STABLE_MS 30000      /* a subscribed connection this long was not part of a loop */
#define READS_PER_WAKEUP 512 /* packets handled before the loop runs timers again */
/* A peer that accepts TCP but does not answer CONNECT within this is not a
 * broker (or a stuck one): said, dropped and retried, instead of waiting for
 * the keepalive (1.5 x keepalive, 45 s by default) in silence. */
#define CONNACK_TIMEOUT_MS 5000

enum conn_state { ST_IDLE, ST_RESOLVING, ST_CONNECTING, ST_CONNECTED, ST_SUBSCRIBED, ST_STOPPED };

struct ntm_mqtt {
    uv_loop_t *loop;
    const struct ntm_config *cfg;
    struct ntm_log *log;
    struct ntm_mqtt_callbacks cb;
    struct mosquitto *mosq;

    enum conn_state state;
    uv_poll_t *poll; /* NULL when no socket is watched; freed in its close callback */
    int poll_events;
    uv_timer_t misc_timer;
    uv_timer_t retry_timer;
    uv_timer_t connack_timer;
    uv_getaddrinfo_t resolver;
    bool resolving;
    char addr[64]; /* resolved address of the last attempt */

    unsigned attempts;   /* reconnects since the last success, for the backoff */
    uint64_t failures;   /* consecutive failed attempts */
    bool was_up;         /* for logging each state change once */
    bool paused;         /* stay disconnected until ntm_mqtt_resume */
    int64_t up_since_ms; /* monotonic, when the last subscription was confirmed */
    /* connections that end before the subscription is confirmed, or soon after
     * it (a broker dropping us for a message we cannot take, our client id
     * taken by another client): a loop, logged once a minute with its count */
    struct ntm_complaint loop_complaint;
    /* retained messages the broker replayed on our subscription: ignored */
    uint64_t retained_ignored;
    struct ntm_complaint retained_complaint;
    int open_handles; /* timers not yet closed, for stop */

    enum ntm_broker_state live;
    int64_t live_since; /* monotonic ms */
    char last_error[200];
    int main_mid;   /* the subscription to the device contract's topics */
    char **filters; /* the mappings' topic filters, subscribed too */
    size_t n_filters;
};

static void free_mqtt(struct ntm_mqtt *m)
{
    for (size_t i = 0; i < m->n_filters; i++)
        free(m->filters[i]);
    free(m->filters);
    free(m);
}

static void set_live(struct ntm_mqtt *m, enum ntm_broker_state st, const char *error)
{
    if (st != m->live) {
        m->live = st;
        m->live_since = ntm_clock_mono_ms();
    }
    if (error)
        snprintf(m->last_error, sizeof m->last_error, "%s", error);
    else if (st == NTM_BROKER_CONNECTED)
        m->last_error[0] = '\0';
}

void ntm_mqtt_info(const struct ntm_mqtt *m, struct ntm_mqtt_info *out)
{
    if (!m) {
        *out = (struct ntm_mqtt_info){.state = NTM_BROKER_DOWN, .last_error = "stopped"};
        return;
    }
    out->state = m->live;
    out->since_mono_ms = m->live_since;
    out->last_error = m->last_error[0] ? m->last_error : NULL;
}

const char *ntm_broker_state_name(enum ntm_broker_state s)
{
    switch (s) {
    case NTM_BROKER_CONNECTED:
        return "connected";
    case NTM_BROKER_CONNECTING:
        return "connecting";
    case NTM_BROKER_DOWN:
        break;
    }
    return "down";
}

static const char *host_port(const struct ntm_mqtt *m, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%d", m->cfg->mqtt.host, m->cfg->mqtt.port);
    return buf;
}

/* ---- socket watching -------------------------------------------------------- */

static void on_poll_closed(uv_handle_t *h)
{
    free(h);
}

static void unwatch(struct ntm_mqtt *m)
{
    if (!m->poll)
        return;
    uv_poll_stop(m->poll);
    uv_close((uv_handle_t *)m->poll, on_poll_closed);
    m->poll = NULL;
    m->poll_events = 0;
}

static void on_poll(uv_poll_t *p, int status, int events);

/* Watches the client's socket for reading, and for writing while it has
 * packets queued (PUBACKs, PINGREQ, SUBSCRIBE, the CONNECT itself). */
static void update_watch(struct ntm_mqtt *m)
{
    int fd = mosquitto_socket(m->mosq);
    if (fd < 0 || m->state == ST_STOPPED) {
        unwatch(m);
        return;
    }
    if (!m->poll) {
        m->poll = malloc(sizeof *m->poll);
        if (!m->poll || uv_poll_init_socket(m->loop, m->poll, fd) != 0) {
            free(m->poll);
            m->poll = NULL;
            ntm_logf(m->log, LOG_ERR, "broker: cannot watch socket %d", fd);
            return;
        }
        m->poll->data = m;
    }
    int want = UV_READABLE | (mosquitto_want_write(m->mosq) ? UV_WRITABLE : 0);
    if (want != m->poll_events) {
        uv_poll_start(m->poll, want, on_poll);
        m->poll_events = want;
    }
}

static void schedule_retry(struct ntm_mqtt *m);

static void after_io(struct ntm_mqtt *m, int rc, const char *what)
{
    if (rc == MOSQ_ERR_SUCCESS) {
        update_watch(m);
        return;
    }
    /* libmosquitto closed the socket (and ran on_disconnect) or cannot go on. */
    unwatch(m);
    if (m->state != ST_STOPPED && m->state != ST_IDLE) {
        uv_timer_stop(&m->connack_timer);
        if (m->live != NTM_BROKER_DOWN)
            set_live(m, NTM_BROKER_DOWN,
                     rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        if (m->was_up)
            ntm_logf(m->log, LOG_DEBUG, "broker: %s: %s", what, mosquitto_strerror(rc));
        m->state = ST_IDLE;
        schedule_retry(m);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct ntm_mqtt *m = p->data;
    int rc = MOSQ_ERR_SUCCESS;
    if (status < 0) {
        /* a socket error: let libmosquitto find it on read */
        events = UV_READABLE;
    }
    if (events & UV_READABLE) {
        /* mosquitto_loop_read handles about one packet per call: go on until a
         * read would block (libmosquitto then returns success with errno
         * EAGAIN; on_message keeps errno as it found it), up to a bound so
         * that timers still run under a flood. */
        for (int i = 0; i < READS_PER_WAKEUP; i++) {
            errno = 0;
            rc = mosquitto_loop_read(m->mosq, 1);
            if (rc != MOSQ_ERR_SUCCESS || m->state == ST_STOPPED || m->paused || errno == EAGAIN ||
                errno == EWOULDBLOCK)
                break;
        }
        if (rc == MOSQ_ERR_SUCCESS && m->state != ST_STOPPED) {
            /* reads queued PUBACKs: send them now rather than on the next wakeup */
            if (mosquitto_want_write(m->mosq))
                rc = mosquitto_loop_write(m->mosq, 1);
        }
        if (rc != MOSQ_ERR_SUCCESS || m->state == ST_STOPPED) {
            after_io(m, rc, "read");
            return;
        }
    }
    if ((events & UV_WRITABLE) && mosquitto_want_write(m->mosq))
        rc = mosquitto_loop_write(m->mosq, 1);
    after_io(m, rc, "write");
}

static void on_misc_timer(uv_timer_t *t)
{
    struct ntm_mqtt *m = t->data;
    if (m->state < ST_CONNECTING || m->state == ST_STOPPED)
        return;
    int rc = mosquitto_loop_misc(m->mosq);
    after_io(m, rc, "keepalive");
}

/* ---- connecting ------------------------------------------------------------- */

/* The TCP connection is up (or still being made) but no CONNACK came. */
static void on_connack_timer(uv_timer_t *t)
{
    struct ntm_mqtt *m = t->data;
    if (m->state != ST_CONNECTING || m->paused)
        return;
    char hp[128];
    m->failures++;
    set_live(m, NTM_BROKER_DOWN, "no MQTT answer (CONNACK) within 5 s: not a broker?");
    if (m->was_up || m->failures == 1)
        ntm_log_emit(m->log, LOG_WARNING, NTM_MSGID_BROKER_DOWN, NULL, 0,
                     "broker %s: no MQTT answer within %d s of connecting (is mqtt.port the "
                     "broker's port?); dropping the connection and retrying with backoff",
                     host_port(m, hp, sizeof hp), CONNACK_TIMEOUT_MS / 1000);
    m->was_up = false;
    /* closes the socket; on_disconnect (or the next read) schedules the retry */
    unwatch(m);
    mosquitto_disconnect(m->mosq);
    mosquitto_loop_write(m->mosq, 1);
    m->state = ST_IDLE;
    schedule_retry(m);
}

static void connect_to(struct ntm_mqtt *m)
{
    m->state = ST_CONNECTING;
    int rc = mosquitto_connect_async(m->mosq, m->addr, m->cfg->mqtt.port, m->cfg->mqtt.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
        char hp[128];
        m->failures++;
        set_live(m, NTM_BROKER_DOWN,
                 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        if (m->was_up || m->failures == 1)
            ntm_log_emit(m->log, LOG_WARNING, NTM_MSGID_BROKER_DOWN, NULL, 0,
                         "broker %s: cannot connect: %s; retrying with backoff (logged again "
                         "only when the state changes)",
                         host_port(m, hp, sizeof hp),
                         rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        m->was_up = false;
        m->state = ST_IDLE;
        schedule_retry(m);
        return;
    }
    uv_timer_start(&m->connack_timer, on_connack_timer, CONNACK_TIMEOUT_MS, 0);
    update_watch(m);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct ntm_mqtt *m = req->data;
    m->resolving = false;
    if (m->state == ST_STOPPED) {
        uv_freeaddrinfo(res);
        if (--m->open_handles == 0)
            free_mqtt(m);
        return;
    }
    m->open_handles--;
    if (m->paused) {
        uv_freeaddrinfo(res);
        m->state = ST_IDLE;
        return;
    }
    if (status != 0 || !res) {
        m->failures++;
        set_live(m, NTM_BROKER_DOWN, uv_strerror(status));
        if (m->was_up || m->failures == 1)
            ntm_log_emit(m->log, LOG_WARNING, NTM_MSGID_BROKER_DOWN, NULL, 0,
                         "broker host %s cannot be resolved: %s; retrying with backoff",
                         m->cfg->mqtt.host, uv_strerror(status));
        m->was_up = false;
        uv_freeaddrinfo(res);
        m->state = ST_IDLE;
        schedule_retry(m);
        return;
    }
    if (res->ai_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, m->addr, sizeof m->addr);
    else
        uv_ip4_name((struct sockaddr_in *)res->ai_addr, m->addr, sizeof m->addr);
    uv_freeaddrinfo(res);
    connect_to(m);
}

static void attempt(struct ntm_mqtt *m)
{
    if (m->state == ST_STOPPED || m->paused)
        return;
    m->state = ST_RESOLVING;
    if (m->cfg->mqtt.ca_file) {
        /* With TLS the certificate is checked against the host name, so
         * libmosquitto must connect by name (and resolves it itself). */
        snprintf(m->addr, sizeof m->addr, "%s", m->cfg->mqtt.host);
        connect_to(m);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    m->resolver.data = m;
    m->resolving = true;
    int rc = uv_getaddrinfo(m->loop, &m->resolver, on_resolved, m->cfg->mqtt.host, NULL, &hints);
    if (rc == 0)
        m->open_handles++;
    if (rc != 0) {
        m->resolving = false;
        ntm_logf(m->log, LOG_ERR, "broker: cannot resolve %s: %s", m->cfg->mqtt.host,
                 uv_strerror(rc));
        m->state = ST_IDLE;
        schedule_retry(m);
    }
}

static void on_retry_timer(uv_timer_t *t)
{
    attempt(t->data);
}

/* Full jitter over a doubling delay, capped: many gateways restarting after a
 * power cut do not reconnect in step. */
static void schedule_retry(struct ntm_mqtt *m)
{
    if (m->state == ST_STOPPED || m->paused || uv_is_active((uv_handle_t *)&m->retry_timer))
        return;
    uint64_t delay = (uint64_t)ntm_backoff_ms(BACKOFF_MIN_MS, BACKOFF_MAX_MS, m->attempts);
    if (m->attempts < 32)
        m->attempts++;
    uv_timer_start(&m->retry_timer, on_retry_timer, delay, 0);
}

/* ---- libmosquitto callbacks --------------------------------------------------- */

static void on_connect(struct mosquitto *mosq, void *arg, int rc, int flags)
{
    struct ntm_mqtt *m = arg;
    char hp[128];
    uv_timer_stop(&m->connack_timer);
    if (rc != 0) {
        m->failures++;
        set_live(m, NTM_BROKER_DOWN, mosquitto_connack_string(rc));
        if (m->was_up || m->failures == 1)
            ntm_log_emit(m->log, LOG_ERR, NTM_MSGID_BROKER_DOWN, NULL, 0,
                         "broker %s refused the connection: %s; retrying with backoff",
                         host_port(m, hp, sizeof hp), mosquitto_connack_string(rc));
        m->was_up = false;
        return; /* libmosquitto disconnects; on_disconnect schedules the retry */
    }
    m->state = ST_CONNECTED;
    if (m->cb.session)
        m->cb.session(m->cb.arg, (flags & 1) != 0); /* CONNACK: session present */
    int mid = 0;
    int src = mosquitto_subscribe(mosq, &mid, NTM_MQTT_TOPIC, 1);
    if (src != MOSQ_ERR_SUCCESS)
        ntm_logf(m->log, LOG_ERR, "broker %s: subscribing to %s failed: %s",
                 host_port(m, hp, sizeof hp), NTM_MQTT_TOPIC, mosquitto_strerror(src));
    m->main_mid = mid;
    for (size_t i = 0; i < m->n_filters; i++) {
        src = mosquitto_subscribe(mosq, NULL, m->filters[i], 1);
        if (src != MOSQ_ERR_SUCCESS)
            ntm_logf(m->log, LOG_ERR, "broker %s: subscribing to %s (a mapping's) failed: %s",
                     host_port(m, hp, sizeof hp), m->filters[i], mosquitto_strerror(src));
    }
}

static bool has_filter(char **f, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i], s) == 0)
            return true;
    return false;
}

int ntm_mqtt_set_filters(struct ntm_mqtt *m, const char *const *filters, size_t n)
{
    char **nf = calloc(n ? n : 1, sizeof *nf);
    size_t k = 0;
    if (!nf)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (has_filter(nf, k, filters[i]))
            continue;
        if (!(nf[k] = strdup(filters[i]))) {
            for (size_t j = 0; j < k; j++)
                free(nf[j]);
            free(nf);
            return -1;
        }
        k++;
    }
    bool live = m->state == ST_CONNECTED || m->state == ST_SUBSCRIBED;
    for (size_t i = 0; live && i < k; i++)
        if (!has_filter(m->filters, m->n_filters, nf[i]))
            mosquitto_subscribe(m->mosq, NULL, nf[i], 1);
    for (size_t i = 0; i < m->n_filters; i++) {
        if (live && !has_filter(nf, k, m->filters[i]))
            mosquitto_unsubscribe(m->mosq, NULL, m->filters[i]);
        free(m->filters[i]);
    }
    free(m->filters);
    m->filters = nf;
    m->n_filters = k;
    return 0;
}

static void on_subscribe(struct mosquitto *mosq, void *arg, int mid, int n, const int *granted)
{
    struct ntm_mqtt *m = arg;
    char hp[128];
    (void)mosq;
    if (mid != m->main_mid) { /* a mapping's filter */
        if (n < 1 || granted[0] > 2)
            ntm_logf(m->log, LOG_ERR,
                     "broker %s refused the subscription to a mapping's topic filter; its "
                     "messages will not come",
                     host_port(m, hp, sizeof hp));
        return;
    }
    if (n < 1 || granted[0] > 2) {
        ntm_logf(m->log, LOG_ERR, "broker %s refused the subscription to %s; reconnecting",
                 host_port(m, hp, sizeof hp), NTM_MQTT_TOPIC);
        mosquitto_disconnect(m->mosq);
        return;
    }
    m->state = ST_SUBSCRIBED;
    set_live(m, NTM_BROKER_CONNECTED, NULL);
    m->up_since_ms = ntm_clock_mono_ms();
    ntm_log_emit(m->log, LOG_NOTICE, NTM_MSGID_BROKER_UP, NULL, 0,
                 "broker %s: connected%s, subscribed to %s at QoS %d (persistent session "
                 "'%s')",
                 host_port(m, hp, sizeof hp), m->failures ? " after being unreachable" : "",
                 NTM_MQTT_TOPIC, granted[0], m->cfg->mqtt.client_id);
    m->failures = 0;
    m->was_up = true;
    if (m->cb.state)
        m->cb.state(m->cb.arg, true);
}

static void on_disconnect(struct mosquitto *mosq, void *arg, int rc)
{
    struct ntm_mqtt *m = arg;
    char hp[128];
    (void)mosq;
    /* The socket is closed by now: stop watching it before anything reuses the fd. */
    unwatch(m);
    if (m->state == ST_STOPPED)
        return;
    bool was_subscribed = m->state == ST_SUBSCRIBED;
    uv_timer_stop(&m->connack_timer);
    if (m->live != NTM_BROKER_DOWN || was_subscribed)
        set_live(m, NTM_BROKER_DOWN,
                 m->paused              ? "ingest paused: the buffer cannot write"
                 : rc == MOSQ_ERR_ERRNO ? strerror(errno)
                 : rc == 0              ? "disconnected"
                                        : mosquitto_strerror(rc));
    bool was_connected = m->state == ST_CONNECTED;
    /* the back-off starts over only after a connection that lasted: one that
     * the broker keeps closing is retried ever more slowly, and said */
    bool lasted = was_subscribed && ntm_clock_mono_ms() - m->up_since_ms >= STABLE_MS;
    if (lasted)
        m->attempts = 0;
    m->state = ST_IDLE;
    if (m->paused) {
        if (was_subscribed && m->cb.state)
            m->cb.state(m->cb.arg, false);
        return;
    }
    if (was_subscribed) {
        ntm_log_emit(m->log, LOG_WARNING, NTM_MSGID_BROKER_DOWN, NULL, 0,
                     "broker %s: connection lost (%s); reconnecting with backoff, the broker "
                     "keeps our messages meanwhile",
                     host_port(m, hp, sizeof hp),
                     rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        m->failures = 1;
        m->was_up = false;
        if (m->cb.state)
            m->cb.state(m->cb.arg, false);
    }
    uint64_t held = 0;
    if ((was_connected || (was_subscribed && !lasted)) &&
        ntm_complain(&m->loop_complaint, 60000, &held))
        ntm_log_emit(m->log, LOG_WARNING, NTM_MSGID_BROKER_DOWN, NULL, 0,
                     "broker %s closed the connection %s (%s); reconnecting with a growing "
                     "backoff (%" PRIu64 " more such closings since the last line; a message "
                     "too large for this gateway, a broker limit or another client using the "
                     "client id '%s' does this)",
                     host_port(m, hp, sizeof hp),
                     was_connected ? "before our subscription was confirmed"
                                   : "soon after our subscription",
                     rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc), held,
                     m->cfg->mqtt.client_id);
    schedule_retry(m);
}

static void on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *msg)
{
    struct ntm_mqtt *m = arg;
    (void)mosq;
    if (m->state == ST_STOPPED)
        return;
    int saved_errno = errno; /* the read loop in on_poll relies on it */
    if (msg->retain) {
        /* The retain flag reaches a subscriber only on a message the broker
         * replays because a subscription was made (MQTT 3.1.1, 3.3.1.3): we
         * subscribe at every connection, so it is the same old message again
         * each time. Each was taken in when it was published (the persistent
         * session queues it for us then): a replay is never taken in. */
        m->retained_ignored++;
        uint64_t held = 0;
        if (ntm_complain(&m->retained_complaint, 60000, &held))
            ntm_logf(m->log, LOG_INFO,
                     "ignored a retained message on %s, replayed by the broker at our subscription "
                     "(each message is taken in once, when it is published; %" PRIu64
                     " retained ignored in all)",
                     msg->topic, m->retained_ignored);
        errno = saved_errno;
        return;
    }
    m->cb.message(m->cb.arg, msg->topic, msg->payload,
                  (size_t)(msg->payloadlen < 0 ? 0 : msg->payloadlen), msg->qos > 0 ? msg->mid : 0);
    errno = saved_errno;
}

/* ---- set up and stop --------------------------------------------------------- */

static int read_secret(struct ntm_log *log, const char *path, char *buf, size_t len, char *err,
                       size_t errlen)
{
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
        ntm_logf(log, LOG_WARNING,
                 "mqtt.password_file %s is a symbolic link: whoever can change the link chooses "
                 "the password sent; name the file itself",
                 path);
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "mqtt.password_file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 077) != 0)
        ntm_logf(log, LOG_WARNING,
                 "mqtt.password_file %s can be read by other users (mode %03o): make it 0600 or "
                 "0400",
                 path, (unsigned)(sb.st_mode & 0777));
    size_t n = fread(buf, 1, len - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return 0;
}

int ntm_mqtt_start(struct ntm_mqtt **out, uv_loop_t *loop, const struct ntm_config *cfg,
                   struct ntm_log *log, const struct ntm_mqtt_callbacks *cb, char *err,
                   size_t errlen)
{
    struct ntm_mqtt *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    m->loop = loop;
    m->cfg = cfg;
    m->log = log;
    m->cb = *cb;
    m->attempts = 0;
    uv_timer_init(loop, &m->misc_timer);
    uv_timer_init(loop, &m->retry_timer);
    uv_timer_init(loop, &m->connack_timer);
    m->misc_timer.data = m;
    m->retry_timer.data = m;
    m->connack_timer.data = m;
    m->open_handles = 3;
    m->live = NTM_BROKER_CONNECTING;
    m->live_since = ntm_clock_mono_ms();
    *out = m;

    /* clean session off + fixed id: the broker queues our messages while we are away */
    m->mosq = mosquitto_new(cfg->mqtt.client_id, false, m);
    if (!m->mosq) {
        snprintf(err, errlen, "mqtt: cannot create the client: %s", strerror(errno));
        return -1;
    }
    mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_with_flags_callback_set(m->mosq, on_connect);
    mosquitto_subscribe_callback_set(m->mosq, on_subscribe);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_message_callback_set(m->mosq, on_message);
    if (cfg->mqtt.username) {
        char pw[512] = "";
        if (cfg->mqtt.password_file &&
            read_secret(log, cfg->mqtt.password_file, pw, sizeof pw, err, errlen) != 0)
            return -1;
        int rc = mosquitto_username_pw_set(m->mosq, cfg->mqtt.username,
                                           cfg->mqtt.password_file ? pw : NULL);
        explicit_bzero(pw, sizeof pw);
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, errlen, "mqtt.username: %s", mosquitto_strerror(rc));
            return -1;
        }
    }
    if (cfg->mqtt.ca_file) {
        int rc = mosquitto_tls_set(m->mosq, cfg->mqtt.ca_file, NULL, cfg->mqtt.cert_file,
                                   cfg->mqtt.key_file, NULL);
        if (rc == MOSQ_ERR_SUCCESS)
            /* verify the broker; prefer ChaCha20 (a Pi 4 has no AES instructions) */
            rc =
                mosquitto_tls_opts_set(m->mosq, 1, NULL,
                                       "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                                       "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256");
        if (rc != MOSQ_ERR_SUCCESS) {
            snprintf(err, errlen, "mqtt.tls: %s (ca_file %s)",
                     rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc),
                     cfg->mqtt.ca_file);
            return -1;
        }
    }
    uv_timer_start(&m->misc_timer, on_misc_timer, 1000, 1000);
    attempt(m);
    return 0;
}

bool ntm_mqtt_subscribed(const struct ntm_mqtt *m)
{
    return m && m->state == ST_SUBSCRIBED;
}

static void on_pause_timer(uv_timer_t *t)
{
    struct ntm_mqtt *m = t->data;
    if (!m->paused || m->state == ST_STOPPED)
        return;
    if (m->state >= ST_CONNECTING) {
        /* on_disconnect follows on a later read and schedules nothing */
        mosquitto_disconnect(m->mosq);
        mosquitto_loop_write(m->mosq, 1);
        update_watch(m);
    }
}

/* Called from inside a message callback too: the disconnect itself waits for
 * the loop (a zero timer), outside libmosquitto's read. */
void ntm_mqtt_pause(struct ntm_mqtt *m)
{
    if (!m || m->paused || m->state == ST_STOPPED)
        return;
    m->paused = true;
    set_live(m, NTM_BROKER_DOWN, "ingest paused: the buffer cannot write");
    uv_timer_start(&m->retry_timer, on_pause_timer, 0, 0);
    ntm_logf(m->log, LOG_WARNING,
             "broker: ingest paused (disconnecting); the broker keeps our messages in the "
             "persistent session until it resumes");
}

void ntm_mqtt_resume(struct ntm_mqtt *m)
{
    if (!m || !m->paused || m->state == ST_STOPPED)
        return;
    m->paused = false;
    set_live(m, NTM_BROKER_CONNECTING, NULL);
    uv_timer_stop(&m->retry_timer);
    m->attempts = 0;
    ntm_logf(m->log, LOG_NOTICE, "broker: ingest resumes, reconnecting");
    if (m->state == ST_IDLE)
        attempt(m);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct ntm_mqtt *m = h->data;
    if (--m->open_handles == 0)
        free_mqtt(m);
}

void ntm_mqtt_stop(struct ntm_mqtt *m)
{
    if (!m)
        return;
    bool connected = m->state >= ST_CONNECTED && m->state != ST_STOPPED;
    m->state = ST_STOPPED;
    unwatch(m);
    if (m->resolving)
        uv_cancel((uv_req_t *)&m->resolver);
    if (m->mosq) {
        if (connected) {
            /* a clean DISCONNECT; what the broker has not delivered stays queued for us */
            mosquitto_disconnect(m->mosq);
            mosquitto_loop_write(m->mosq, 1);
        }
        mosquitto_destroy(m->mosq);
        m->mosq = NULL;
    }
    uv_close((uv_handle_t *)&m->misc_timer, on_timer_closed);
    uv_close((uv_handle_t *)&m->retry_timer, on_timer_closed);
    uv_close((uv_handle_t *)&m->connack_timer, on_timer_closed);
}
