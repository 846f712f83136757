/* mqtt.c: libmosquitto on the daemon's libuv loop. Owns the mosquitto client,
 * its uv_poll_t (re-made for each new socket), the housekeeping and reconnect
 * timers, and the name resolution (uv_getaddrinfo, since libmosquitto's own
 * blocks). Must not parse or store messages: they go to the callback. */
#include "mqtt.h"

#include <errno.h>
#include <mosquitto.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 60000
#define READS_PER_WAKEUP 512 /* packets handled before the loop runs timers again */

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
    uv_getaddrinfo_t resolver;
    bool resolving;
    char addr[64]; /* resolved address of the last attempt */

    uint64_t backoff_ms;
    uint64_t failures; /* consecutive failed attempts */
    bool was_up;       /* for logging each state change once */
    bool paused;       /* stay disconnected until ntm_mqtt_resume */
    int open_handles;  /* timers not yet closed, for stop */
    int main_mid;      /* the subscription to the device contract's topics */
    char **filters;    /* the mappings' topic filters, subscribed too */
    size_t n_filters;
};

static void free_mqtt(struct ntm_mqtt *m)
{
    for (size_t i = 0; i < m->n_filters; i++)
        free(m->filters[i]);
    free(m->filters);
    free(m);
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
            ntm_log(m->log, LOG_ERR, "broker: cannot watch socket %d", fd);
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
        if (m->was_up)
            ntm_log(m->log, LOG_DEBUG, "broker: %s: %s", what, mosquitto_strerror(rc));
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

static void connect_to(struct ntm_mqtt *m)
{
    m->state = ST_CONNECTING;
    int rc = mosquitto_connect_async(m->mosq, m->addr, m->cfg->mqtt.port, m->cfg->mqtt.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
        char hp[128];
        m->failures++;
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
        ntm_log(m->log, LOG_ERR, "broker: cannot resolve %s: %s", m->cfg->mqtt.host,
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
    uint64_t delay = m->backoff_ms / 2 + (uint64_t)rand() % (m->backoff_ms / 2 + 1);
    m->backoff_ms = m->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : m->backoff_ms * 2;
    uv_timer_start(&m->retry_timer, on_retry_timer, delay, 0);
}

/* ---- libmosquitto callbacks --------------------------------------------------- */

static void on_connect(struct mosquitto *mosq, void *arg, int rc)
{
    struct ntm_mqtt *m = arg;
    char hp[128];
    if (rc != 0) {
        m->failures++;
        if (m->was_up || m->failures == 1)
            ntm_log_emit(m->log, LOG_ERR, NTM_MSGID_BROKER_DOWN, NULL, 0,
                         "broker %s refused the connection: %s; retrying with backoff",
                         host_port(m, hp, sizeof hp), mosquitto_connack_string(rc));
        m->was_up = false;
        return; /* libmosquitto disconnects; on_disconnect schedules the retry */
    }
    m->state = ST_CONNECTED;
    int mid = 0;
    int src = mosquitto_subscribe(mosq, &mid, NTM_MQTT_TOPIC, 1);
    if (src != MOSQ_ERR_SUCCESS)
        ntm_log(m->log, LOG_ERR, "broker %s: subscribing to %s failed: %s",
                host_port(m, hp, sizeof hp), NTM_MQTT_TOPIC, mosquitto_strerror(src));
    m->main_mid = mid;
    for (size_t i = 0; i < m->n_filters; i++) {
        src = mosquitto_subscribe(mosq, NULL, m->filters[i], 1);
        if (src != MOSQ_ERR_SUCCESS)
            ntm_log(m->log, LOG_ERR, "broker %s: subscribing to %s (a mapping's) failed: %s",
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
            ntm_log(m->log, LOG_ERR,
                    "broker %s refused the subscription to a mapping's topic filter; its "
                    "messages will not come",
                    host_port(m, hp, sizeof hp));
        return;
    }
    if (n < 1 || granted[0] > 2) {
        ntm_log(m->log, LOG_ERR, "broker %s refused the subscription to %s; reconnecting",
                host_port(m, hp, sizeof hp), NTM_MQTT_TOPIC);
        mosquitto_disconnect(m->mosq);
        return;
    }
    m->state = ST_SUBSCRIBED;
    m->backoff_ms = BACKOFF_MIN_MS;
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
    schedule_retry(m);
}

static void on_message(struct mosquitto *mosq, void *arg, const struct mosquitto_message *msg)
{
    struct ntm_mqtt *m = arg;
    (void)mosq;
    if (m->state == ST_STOPPED)
        return;
    int saved_errno = errno; /* the read loop in on_poll relies on it */
    m->cb.message(m->cb.arg, msg->topic, msg->payload,
                  (size_t)(msg->payloadlen < 0 ? 0 : msg->payloadlen));
    errno = saved_errno;
}

/* ---- set up and stop --------------------------------------------------------- */

static int read_secret(const char *path, char *buf, size_t len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "mqtt.password_file %s: %s", path, strerror(errno));
        return -1;
    }
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
    m->backoff_ms = BACKOFF_MIN_MS;
    uv_timer_init(loop, &m->misc_timer);
    uv_timer_init(loop, &m->retry_timer);
    m->misc_timer.data = m;
    m->retry_timer.data = m;
    m->open_handles = 2;
    *out = m;

    /* clean session off + fixed id: the broker queues our messages while we are away */
    m->mosq = mosquitto_new(cfg->mqtt.client_id, false, m);
    if (!m->mosq) {
        snprintf(err, errlen, "mqtt: cannot create the client: %s", strerror(errno));
        return -1;
    }
    mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_subscribe_callback_set(m->mosq, on_subscribe);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_message_callback_set(m->mosq, on_message);
    if (cfg->mqtt.username) {
        char pw[512] = "";
        if (cfg->mqtt.password_file &&
            read_secret(cfg->mqtt.password_file, pw, sizeof pw, err, errlen) != 0)
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
    uv_timer_start(&m->retry_timer, on_pause_timer, 0, 0);
    ntm_log(m->log, LOG_WARNING,
            "broker: ingest paused (disconnecting); the broker keeps our messages in the "
            "persistent session until it resumes");
}

void ntm_mqtt_resume(struct ntm_mqtt *m)
{
    if (!m || !m->paused || m->state == ST_STOPPED)
        return;
    m->paused = false;
    uv_timer_stop(&m->retry_timer);
    m->backoff_ms = BACKOFF_MIN_MS;
    ntm_log(m->log, LOG_NOTICE, "broker: ingest resumes, reconnecting");
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
}
