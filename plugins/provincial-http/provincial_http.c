/* SPDX-License-Identifier: GPL-3.0-or-later */
/* provincial_http.c: the `provincial-http` uplink: POSTs each batch to the
 * provincial sync API (version 1) and maps the answer onto an outcome; owns
 * the bearer token (from a file, or from an LGSP token URL). The daemon's HTTP
 * client reads Retry-After; JSON is cJSON's. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zlib.h>

#include "ntm/plugin.h"
#include "text_safe.h"

#define TOKEN_MAX 4096  /* bytes of a bearer token */
#define SECRET_MAX 4096 /* bytes of an LGSP secret */
#define SNIPPET_MAX 200 /* bytes of a server's answer quoted in a reason */

/* OP_FLUSHING: was waiting when a token answer came; being posted or failed */
enum op_state { OP_WAIT_TOKEN, OP_FLUSHING, OP_SENDING };

/* One send(), from the call until its complete(). */
struct op {
    struct ph *ph;
    uint64_t seq;
    char *batch_id;
    unsigned char *body; /* what goes on the wire: gzip or a copy */
    size_t len;
    unsigned token_gen; /* the token it was sent with */
    enum op_state state;
    struct op *prev, *next;
};

struct ph {
    struct ntm_host *host;
    const struct ntm_host_api *api;
    char *batches_url;
    const char *token_file, *token_url, *access_key, *secret_file;
    const char *ca_file, *cert_file, *key_file;
    bool gzip;
    long timeout_ms;

    char *token;        /* the bearer token in use, or NULL */
    unsigned token_gen; /* bumped whenever `token` changes */
    bool token_stale;   /* refused (401/403): get another before the next send */
    /* token_file: what the file looked like when read */
    struct stat token_st;
    /* token_url */
    int64_t refresh_at_ms, expires_at_ms; /* monotonic; 0: no expiry given */
    bool fetching;                        /* a token request is in flight (arg: this ph) */
    char *fetch_secret;                   /* kept to scrub it from the answer, then wiped */

    /* unexpected answers (3xx, other 4xx): logged at most once a minute */
    int64_t unexpected_logged_ms;  /* monotonic; 0: never */
    unsigned long unexpected_held; /* not logged since */

    struct op *ops;
};

/* ---- small helpers ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void wipe_free(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* A bearer token or secret: visible ASCII, no spaces (RFC 6750's b64token and more). */
static bool token_chars_ok(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* The first line of a small file, trimmed, into a new string; NULL with errno. */
static char *read_first_line(const char *path, size_t max, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (st != NULL && fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    char *buf = malloc(max + 1);
    if (buf == NULL) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    size_t len = 0;
    while (len < max) {
        ssize_t n = read(fd, buf + len, max - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            explicit_bzero(buf, len);
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    char *nl = strpbrk(buf, "\r\n");
    size_t end = nl ? (size_t)(nl - buf) : len;
    while (end > 0 && (buf[end - 1] == ' ' || buf[end - 1] == '\t'))
        end--;
    size_t start = 0;
    while (start < end && (buf[start] == ' ' || buf[start] == '\t'))
        start++;
    char *line = strndup(buf + start, end - start);
    explicit_bzero(buf, len);
    free(buf);
    if (line == NULL)
        errno = ENOMEM;
    return line;
}

/* The first SNIPPET_MAX bytes of an answer for a person: valid UTF-8, control
 * and bidi characters escaped (text_safe.h), and the secrets (the bearer token,
 * the LGSP secret; NULL when none) masked wherever they were echoed, a copy cut
 * short at the end included. The whole answer is scrubbed before it is cut, so
 * that no prefix of a secret survives the cut either. */
static void snippet(char *out, size_t outlen, const char *body, size_t len, const char *scrub,
                    const char *scrub2)
{
    out[0] = '\0';
    if (len == 0 || body == NULL)
        return;
    size_t biglen = len * 6 + 1; /* the longest escape is 6 bytes */
    char *big = malloc(biglen);
    if (big == NULL)
        return;
    ntm_text_safe(big, biglen, body, len);
    ntm_text_scrub(big, scrub);
    ntm_text_scrub(big, scrub2);
    size_t bl = strlen(big);
    size_t cut = ntm_text_utf8_cut(big, bl, SNIPPET_MAX < outlen - 1 ? SNIPPET_MAX : outlen - 1);
    /* do not leave an escape ("\xNN", "\uXXXX") cut in two */
    for (size_t k = cut > 6 ? cut - 6 : 0; k < cut; k++) {
        if (big[k] == '\\' && k + 1 < bl && (big[k + 1] == 'x' || big[k + 1] == 'u') &&
            k + (big[k + 1] == 'x' ? 4 : 6) > cut) {
            cut = k;
            break;
        }
    }
    memcpy(out, big, cut);
    out[cut] = '\0';
    explicit_bzero(big, biglen);
    free(big);
    ntm_text_scrub(out, scrub); /* a secret cut short by the snippet's end */
    ntm_text_scrub(out, scrub2);
    size_t o = strlen(out);
    while (o > 0 && out[o - 1] == ' ')
        out[--o] = '\0';
}

/* {"access_token": "...", "expires_in": N, ...}: false when it is not that, or
 * the token does not fit in toklen. expires_in may be a number or a numeric
 * string (some gateways quote it); 0 when absent or not a positive number. */
static bool parse_token_answer(const char *body, size_t len, char *token, size_t toklen,
                               long long *expires_in)
{
    *expires_in = 0;
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "access_token");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expires_in");
    bool ok = cJSON_IsObject(root) && cJSON_IsString(tok) && strlen(tok->valuestring) < toklen;
    if (ok) {
        memcpy(token, tok->valuestring, strlen(tok->valuestring) + 1);
        double d = 0;
        char *e = NULL;
        if (cJSON_IsNumber(exp))
            d = exp->valuedouble;
        else if (cJSON_IsString(exp) && (d = strtod(exp->valuestring, &e), *e != '\0'))
            d = 0;
        if (d > 0 && d < 1e9)
            *expires_in = (long long)d;
    }
    if (cJSON_IsString(tok)) /* the token leaves no copy behind */
        explicit_bzero(tok->valuestring, strlen(tok->valuestring));
    cJSON_Delete(root);
    return ok;
}

/* ---- sending ---- */

static void op_free(struct op *op)
{
    struct ph *ph = op->ph;
    if (op->prev)
        op->prev->next = op->next;
    else
        ph->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    free(op->batch_id);
    free(op->body);
    free(op);
}

/* Reports the outcome of op and frees it. */
static void op_complete(struct op *op, enum ntm_send_result r, int64_t retry_after_ms,
                        const char *reason)
{
    struct ph *ph = op->ph;
    uint64_t seq = op->seq;
    op_free(op);
    ph->api->complete(ph->host, seq, r, retry_after_ms, reason);
}

static void on_post_done(void *arg, const struct ntm_http_response *resp)
{
    struct op *op = arg;
    struct ph *ph = op->ph;
    const struct ntm_host_api *api = ph->api;
    char body[SNIPPET_MAX + 8], reason[SNIPPET_MAX + 128];
    long st = resp->status;
    char *secret = ph->secret_file ? read_first_line(ph->secret_file, SECRET_MAX, NULL) : NULL;
    snippet(body, sizeof body, resp->body, resp->body_len, ph->token, secret);
    wipe_free(secret);
    if (st == 0)
        ntm_text_safe(reason, sizeof reason, resp->error ? resp->error : "no answer",
                      strlen(resp->error ? resp->error : "no answer"));
    else
        snprintf(reason, sizeof reason, "HTTP %ld%s%s", st, body[0] ? ": " : "", body);

    if (st == 200 || st == 201 || st == 202 || st == 409) {
        api->log(ph->host, NTM_PLUGIN_LOG_DEBUG, op->batch_id, "%s (HTTP %ld)",
                 st == 409 ? "already accepted" : "delivered", st);
        op_complete(op, NTM_SEND_DELIVERED, 0, NULL);
    } else if (st == 400 || st == 413 || st == 422) {
        api->log(ph->host, NTM_PLUGIN_LOG_ERR, op->batch_id,
                 "the server rejected batch %s for good: %s", op->batch_id, reason);
        op_complete(op, NTM_SEND_REJECT, 0, reason);
    } else if (st == 401 || st == 403) {
        if (op->token_gen == ph->token_gen)
            ph->token_stale = true;
        api->log(ph->host, NTM_PLUGIN_LOG_ERR, op->batch_id,
                 "credentials refused (%s); the token will be %s before the next send", reason,
                 ph->token_url ? "renewed" : "read again");
        op_complete(op, NTM_SEND_RETRY_SLOW, 0, reason);
    } else if (st == 0 || st == 429 || (st >= 500 && st <= 599)) {
        api->log(ph->host, NTM_PLUGIN_LOG_DEBUG, op->batch_id, "will retry: %s", reason);
        op_complete(op, NTM_SEND_RETRY, resp->retry_after_ms, reason);
    } else {
        int64_t now = now_ms();
        if (ph->unexpected_logged_ms == 0 || now - ph->unexpected_logged_ms >= 60000) {
            api->log(ph->host, NTM_PLUGIN_LOG_WARNING, op->batch_id,
                     "unexpected answer from %s: %s; will retry (logged at most once a "
                     "minute; %lu more since the last line)",
                     ph->batches_url, reason, ph->unexpected_held);
            ph->unexpected_logged_ms = now;
            ph->unexpected_held = 0;
        } else {
            ph->unexpected_held++;
            api->log(ph->host, NTM_PLUGIN_LOG_DEBUG, op->batch_id, "will retry: %s", reason);
        }
        op_complete(op, NTM_SEND_RETRY, resp->retry_after_ms, reason);
    }
}

/* POSTs op with the current token; completes it when that cannot start. */
static void op_post(struct op *op)
{
    struct ph *ph = op->ph;
    char *auth = NULL;
    if (asprintf(&auth, "Bearer %s", ph->token) < 0) {
        op_complete(op, NTM_SEND_RETRY, 0, "out of memory");
        return;
    }
    struct ntm_http_header h[4];
    size_t n = 0;
    h[n++] = (struct ntm_http_header){"Content-Type", "application/json"};
    if (ph->gzip)
        h[n++] = (struct ntm_http_header){"Content-Encoding", "gzip"};
    h[n++] = (struct ntm_http_header){"Authorization", auth};
    h[n++] = (struct ntm_http_header){"Idempotency-Key", op->batch_id};
    struct ntm_http_request req = {
        .method = "POST",
        .url = ph->batches_url,
        .headers = h,
        .n_headers = n,
        .body = op->body,
        .body_len = op->len,
        .timeout_ms = ph->timeout_ms,
        .ca_file = ph->ca_file,
        .cert_file = ph->cert_file,
        .key_file = ph->key_file,
    };
    op->state = OP_SENDING;
    op->token_gen = ph->token_gen;
    int rc = ph->api->http(ph->host, &req, on_post_done, op);
    wipe_free(auth);
    if (rc != 0)
        op_complete(op, NTM_SEND_RETRY, 0, "could not start the HTTP request");
}

/* Every op waiting for a token now: posted, or completed with this outcome. A
 * complete() can make the host send again from inside this loop, which may add
 * and fail waiting ops of its own: hence the mark, and a fresh scan each time. */
static void flush_waiting(struct ph *ph, bool post, enum ntm_send_result r, int64_t after,
                          const char *reason)
{
    for (struct op *op = ph->ops; op != NULL; op = op->next)
        if (op->state == OP_WAIT_TOKEN)
            op->state = OP_FLUSHING;
    for (;;) {
        struct op *op = ph->ops;
        /* ops freed by op_complete are unlinked from ph->ops first */
        // NOLINTNEXTLINE(clang-analyzer-unix.Malloc)
        while (op != NULL && op->state != OP_FLUSHING)
            op = op->next;
        if (op == NULL)
            return;
        if (post)
            op_post(op); /* leaves it OP_SENDING, or completes and frees it */
        else
            op_complete(op, r, after, reason);
    }
}

/* ---- tokens ---- */

/* token_file: (re)reads it when it changed or was refused. 0, or -1 with a reason. */
static int file_token(struct ph *ph, char *why, size_t whylen)
{
    struct stat st;
    if (stat(ph->token_file, &st) != 0) {
        snprintf(why, whylen, "cannot read token_file %s: %s", ph->token_file, strerror(errno));
        return -1;
    }
    bool changed = st.st_dev != ph->token_st.st_dev || st.st_ino != ph->token_st.st_ino ||
                   st.st_size != ph->token_st.st_size ||
                   st.st_mtim.tv_sec != ph->token_st.st_mtim.tv_sec ||
                   st.st_mtim.tv_nsec != ph->token_st.st_mtim.tv_nsec;
    if (ph->token != NULL && !ph->token_stale && !changed)
        return 0;
    char *t = read_first_line(ph->token_file, TOKEN_MAX, &ph->token_st);
    if (t == NULL) {
        snprintf(why, whylen, "cannot read token_file %s: %s", ph->token_file, strerror(errno));
        return -1;
    }
    if (!token_chars_ok(t)) {
        snprintf(why, whylen, "token_file %s: %s", ph->token_file,
                 t[0] ? "its first line is not a bearer token (spaces or other characters)"
                      : "its first line is empty");
        wipe_free(t);
        return -1;
    }
    if (ph->token == NULL || strcmp(ph->token, t) != 0) {
        ph->token_gen++;
        if (ph->token != NULL)
            ph->api->log(ph->host, NTM_PLUGIN_LOG_INFO, NULL, "read a new token from %s",
                         ph->token_file);
    }
    wipe_free(ph->token);
    ph->token = t;
    ph->token_stale = false;
    return 0;
}

static void on_token_done(void *arg, const struct ntm_http_response *resp)
{
    struct ph *ph = arg;
    const struct ntm_host_api *api = ph->api;
    long st = resp->status;
    char body[SNIPPET_MAX + 8], reason[SNIPPET_MAX + 512];
    ph->fetching = false;
    snippet(body, sizeof body, resp->body, resp->body_len, ph->fetch_secret, ph->token);
    wipe_free(ph->fetch_secret);
    ph->fetch_secret = NULL;

    if (st == 200 || st == 201) {
        char *tok = malloc(TOKEN_MAX + 1);
        long long expires_in = 0;
        bool ok = tok != NULL &&
                  parse_token_answer(resp->body, resp->body_len, tok, TOKEN_MAX + 1, &expires_in) &&
                  token_chars_ok(tok);
        if (ok) {
            wipe_free(ph->token);
            ph->token = tok;
            ph->token_gen++;
            ph->token_stale = false;
            int64_t now = now_ms(), life = expires_in * 1000;
            if (expires_in > 0) {
                int64_t early = life / 5 < 60000 ? life / 5 : 60000;
                int64_t safety = life / 10 < 5000 ? life / 10 : 5000;
                ph->refresh_at_ms = now + life - early;
                ph->expires_at_ms = now + life - safety;
            } else {
                ph->refresh_at_ms = ph->expires_at_ms = 0;
            }
            api->log(ph->host, NTM_PLUGIN_LOG_INFO, NULL, "got a token from %s (%s%lld s)",
                     ph->token_url, expires_in > 0 ? "expires in " : "no expiry given, ",
                     expires_in);
            flush_waiting(ph, true, NTM_SEND_RETRY, 0, NULL);
            return;
        }
        if (tok != NULL) {
            explicit_bzero(tok, TOKEN_MAX + 1);
            free(tok);
        }
        /* the answer may hold a token after all: not quoted */
        snprintf(reason, sizeof reason,
                 "token request to %s: HTTP %ld but no usable access_token in the answer",
                 ph->token_url, st);
        api->log(ph->host, NTM_PLUGIN_LOG_ERR, NULL, "%s", reason);
        flush_waiting(ph, false, NTM_SEND_RETRY_SLOW, 0, reason);
        return;
    }
    enum ntm_send_result r;
    int64_t after = 0;
    if (st == 0) {
        snprintf(reason, sizeof reason, "token request to %s failed: %s", ph->token_url,
                 resp->error ? resp->error : "no answer");
        r = NTM_SEND_RETRY;
    } else {
        snprintf(reason, sizeof reason, "token request to %s: HTTP %ld%s%s", ph->token_url, st,
                 body[0] ? ": " : "", body);
        if (st == 400 || st == 401 || st == 403) {
            r = NTM_SEND_RETRY_SLOW; /* the key or secret is refused */
        } else {
            r = NTM_SEND_RETRY;
            after = resp->retry_after_ms;
        }
    }
    api->log(ph->host, r == NTM_SEND_RETRY_SLOW ? NTM_PLUGIN_LOG_ERR : NTM_PLUGIN_LOG_WARNING, NULL,
             "%s", reason);
    flush_waiting(ph, false, r, after, reason);
}

/* Starts a token request (LGSP style). 0, or -1 with a reason. */
static int fetch_token(struct ph *ph, char *why, size_t whylen)
{
    if (ph->fetching)
        return 0;
    char *secret = read_first_line(ph->secret_file, SECRET_MAX, NULL);
    if (secret == NULL) {
        snprintf(why, whylen, "cannot read secret_file %s: %s", ph->secret_file, strerror(errno));
        return -1;
    }
    /* {"access_key":"...","secret_key":"..."} */
    cJSON *o = cJSON_CreateObject(), *s = NULL;
    char *body = NULL;
    if (cJSON_AddStringToObject(o, "access_key", ph->access_key) != NULL &&
        (s = cJSON_AddStringToObject(o, "secret_key", secret)) != NULL)
        body = cJSON_PrintUnformatted(o);
    if (s != NULL) /* the secret leaves no copy behind */
        explicit_bzero(s->valuestring, strlen(s->valuestring));
    cJSON_Delete(o);
    if (body == NULL) {
        wipe_free(secret);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    struct ntm_http_header h[2] = {{"Content-Type", "application/json"},
                                   {"Accept", "application/json"}};
    struct ntm_http_request req = {
        .method = "POST",
        .url = ph->token_url,
        .headers = h,
        .n_headers = 2,
        .body = body,
        .body_len = strlen(body),
        .timeout_ms = ph->timeout_ms,
        .ca_file = ph->ca_file,
        .cert_file = ph->cert_file,
        .key_file = ph->key_file,
    };
    int rc = ph->api->http(ph->host, &req, on_token_done, ph);
    explicit_bzero(body, req.body_len);
    cJSON_free(body);
    if (rc != 0) {
        wipe_free(secret);
        snprintf(why, whylen, "could not start the token request to %s", ph->token_url);
        return -1;
    }
    ph->fetching = true;
    ph->fetch_secret = secret;
    return 0;
}

/* ---- the plugin's entry points ---- */

static int compress_gzip(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong bound = deflateBound(&z, (uLong)len);
    unsigned char *buf = malloc(bound ? bound : 1);
    if (buf == NULL) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    *outlen = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

static int ph_send(void *ctx, const struct ntm_batch *b)
{
    struct ph *ph = ctx;
    if (b->len > UINT_MAX || strpbrk(b->batch_id, "\r\n") != NULL)
        return -1;
    struct op *op = calloc(1, sizeof *op);
    if (op == NULL)
        return -1;
    op->ph = ph;
    op->seq = b->seq;
    op->batch_id = strdup(b->batch_id);
    int rc = op->batch_id ? 0 : -1;
    if (rc == 0 && ph->gzip) {
        rc = compress_gzip(b->body, b->len, &op->body, &op->len);
    } else if (rc == 0) {
        op->body = malloc(b->len ? b->len : 1);
        rc = op->body ? 0 : -1;
        if (rc == 0 && b->len > 0)
            memcpy(op->body, b->body, b->len);
        op->len = b->len;
    }
    if (rc != 0) {
        ph->api->log(ph->host, NTM_PLUGIN_LOG_ERR, b->batch_id,
                     "cannot prepare batch %s (out of memory)", b->batch_id);
        free(op->batch_id);
        free(op->body);
        free(op);
        return -1;
    }
    op->state = OP_WAIT_TOKEN;
    op->next = ph->ops;
    if (ph->ops)
        ph->ops->prev = op;
    ph->ops = op;

    char why[512];
    if (ph->token_file != NULL) {
        if (file_token(ph, why, sizeof why) != 0) {
            ph->api->log(ph->host, NTM_PLUGIN_LOG_ERR, b->batch_id, "%s", why);
            op_complete(op, NTM_SEND_RETRY_SLOW, 0, why);
            return 0;
        }
        op_post(op);
        return 0;
    }
    int64_t now = now_ms();
    bool usable = ph->token != NULL && !ph->token_stale &&
                  (ph->expires_at_ms == 0 || now < ph->expires_at_ms);
    bool renew = !usable || (ph->refresh_at_ms != 0 && now >= ph->refresh_at_ms);
    if (renew && fetch_token(ph, why, sizeof why) != 0) {
        ph->api->log(ph->host, NTM_PLUGIN_LOG_ERR, b->batch_id, "%s", why);
        if (!usable) { /* this op and any other waiting one */
            flush_waiting(ph, false, NTM_SEND_RETRY_SLOW, 0, why);
            return 0;
        }
    }
    if (usable)
        op_post(op); /* with the current token, while a new one is on its way */
    return 0;
}

static void ph_destroy(void *ctx)
{
    struct ph *ph = ctx;
    if (ph == NULL)
        return;
    while (ph->ops != NULL) /* abandoned: the host drops their answers */
        op_free(ph->ops);   // NOLINT(clang-analyzer-unix.Malloc): op_free unlinks the head
    wipe_free(ph->token);
    wipe_free(ph->fetch_secret);
    free(ph->batches_url);
    free(ph);
}

static int ph_init(struct ntm_host *host, const struct ntm_host_api *api, void **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    if (api->abi_version != NTM_PLUGIN_ABI_VERSION) {
        snprintf(err, errlen, "the daemon speaks plugin ABI %u, this plugin %u",
                 (unsigned)api->abi_version, (unsigned)NTM_PLUGIN_ABI_VERSION);
        return -1;
    }
    struct ph *ph = calloc(1, sizeof *ph);
    if (ph == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    ph->host = host;
    ph->api = api;
    const char *base = api->option(host, "base_url");
    ph->token_file = api->option(host, "token_file");
    ph->token_url = api->option(host, "token_url");
    ph->access_key = api->option(host, "access_key");
    ph->secret_file = api->option(host, "secret_file");
    ph->ca_file = api->option(host, "ca_file");
    ph->cert_file = api->option(host, "cert_file");
    ph->key_file = api->option(host, "key_file");
    const char *gzip = api->option(host, "gzip"), *timeout = api->option(host, "timeout_s");
    ph->gzip = gzip == NULL || strcmp(gzip, "true") == 0;
    long timeout_s = timeout ? strtol(timeout, NULL, 10) : 30;
    ph->timeout_ms = timeout_s * 1000;

    const char *problem = NULL;
    char buf[512];
    if (base == NULL)
        problem = "needs option 'base_url'";
    else if (ph->token_file == NULL && ph->token_url == NULL)
        problem = "needs option 'token_file' (a file holding the bearer token) or 'token_url' "
                  "(with access_key and secret_file, to obtain one)";
    else if (ph->token_file != NULL && ph->token_url != NULL)
        problem = "set token_file or token_url, not both";
    else if (ph->token_url != NULL && (ph->access_key == NULL || ph->secret_file == NULL))
        problem = "token_url needs access_key and secret_file too";
    else if (ph->token_url == NULL && (ph->access_key != NULL || ph->secret_file != NULL))
        problem = "access_key and secret_file are only used with token_url";
    else if (ph->key_file != NULL && ph->cert_file == NULL)
        problem = "key_file needs cert_file";
    else if (timeout_s < 1 || timeout_s > 600)
        problem = "timeout_s must be between 1 and 600";
    const char *files[3] = {ph->ca_file, ph->cert_file, ph->key_file};
    const char *names[3] = {"ca_file", "cert_file", "key_file"};
    for (int i = 0; problem == NULL && i < 3; i++) {
        if (files[i] != NULL && access(files[i], R_OK) != 0) {
            snprintf(buf, sizeof buf, "%s %s: %s", names[i], files[i], strerror(errno));
            problem = buf;
        }
    }
    if (problem == NULL) {
        size_t bl = strlen(base);
        while (bl > 0 && base[bl - 1] == '/')
            bl--;
        if (asprintf(&ph->batches_url, "%.*s/v1/batches", (int)bl, base) < 0) {
            ph->batches_url = NULL;
            problem = "out of memory";
        }
    }
    if (problem != NULL) {
        snprintf(err, errlen, "%s", problem);
        ph_destroy(ph);
        return -1;
    }

    /* what can be fixed while the daemon runs (batches wait meanwhile): warnings */
    const char *secret = ph->token_file ? ph->token_file : ph->secret_file;
    struct stat st;
    if (stat(secret, &st) != 0 || access(secret, R_OK) != 0)
        api->log(host, NTM_PLUGIN_LOG_WARNING, NULL,
                 "cannot read %s (%s): batches wait until it can be read", secret, strerror(errno));
    else if (st.st_mode & 07)
        api->log(host, NTM_PLUGIN_LOG_WARNING, NULL,
                 "%s can be read by every user (mode %03o): make it owner root, group "
                 "ntm-gateway, mode 0640",
                 secret, (unsigned)(st.st_mode & 0777));
    if (strncasecmp(base, "http://", 7) == 0 ||
        (ph->token_url && strncasecmp(ph->token_url, "http://", 7) == 0))
        api->log(host, NTM_PLUGIN_LOG_WARNING, NULL,
                 "plain http:// URL: the token travels unencrypted (use https:// in production)");
    *out = ph;
    return 0;
}

const struct ntm_plugin ntm_plugin = {
    .abi_version = NTM_PLUGIN_ABI_VERSION,
    .name = "provincial-http",
    .kind = "uplink",
    .description = "POSTs each batch to the provincial sync API (version 1)",
    .options =
        (const struct ntm_plugin_option[]){
            {"base_url", NTM_OPT_URL, NULL, 1,
             "the API's base URL; batches go to {base_url}/v1/batches"},
            {"token_file", NTM_OPT_PATH, NULL, 0,
             "a file whose first line is the bearer token; read again when it changes or is "
             "refused"},
            {"token_url", NTM_OPT_URL, NULL, 0,
             "LGSP token endpoint: POST {\"access_key\",\"secret_key\"} as JSON, answer "
             "{\"access_token\",\"expires_in\"}"},
            {"access_key", NTM_OPT_STRING, NULL, 0, "the access key sent to token_url"},
            {"secret_file", NTM_OPT_PATH, NULL, 0,
             "a file whose first line is the secret sent to token_url"},
            {"ca_file", NTM_OPT_PATH, NULL, 0, "CA bundle (PEM); default: the system's"},
            {"cert_file", NTM_OPT_PATH, NULL, 0, "client certificate (PEM) for mutual TLS"},
            {"key_file", NTM_OPT_PATH, NULL, 0, "the client certificate's private key (PEM)"},
            {"gzip", NTM_OPT_BOOL, "true", 0, "compress the body (Content-Encoding: gzip)"},
            {"timeout_s", NTM_OPT_INT, "30", 0, "the whole request's time limit, 1 to 600 s"},
            {NULL, 0, NULL, 0, NULL},
        },
    .max_in_flight = 4,
    .init = ph_init,
    .send = ph_send,
    .destroy = ph_destroy,
};
