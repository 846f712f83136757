/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ntm/plugin.h: the public ABI between ntm-gatewayd and its uplink plugins.
 *
 * A plugin is a shared object in the plugin directory, named <name>.so, that
 * exports one symbol, `ntm_plugin` (a const struct ntm_plugin). The host checks
 * `abi_version` first and refuses a plugin built for another version. The host
 * validates the plugin's options against its `options` table (unknown keys,
 * missing required ones and bad types are start-up errors naming file:line),
 * then calls init() with a table of services, so a plugin needs no event loop,
 * HTTP client or retry logic of its own: it sends a batch, and reports the
 * outcome through api->complete(). The host owns the retry schedule, the
 * quarantine and the delivery cursors.
 *
 * No libuv, libcurl or SQLite type appears here. Everything is called on the
 * daemon's one thread; a plugin must never block (no sleeping, no blocking
 * sockets; file I/O on small files is acceptable). */
#ifndef NTM_PLUGIN_H
#define NTM_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bump on any change to the structs, enums or callbacks below (the host loads
 * only plugins built for exactly this version). */
#define NTM_PLUGIN_ABI_VERSION 2u
#define NTM_PLUGIN_SYMBOL "ntm_plugin"

struct ntm_host; /* opaque: one per configured uplink */

/* Log levels, as syslog's. */
enum ntm_plugin_log_level {
    NTM_PLUGIN_LOG_ERR = 3,
    NTM_PLUGIN_LOG_WARNING = 4,
    NTM_PLUGIN_LOG_NOTICE = 5,
    NTM_PLUGIN_LOG_INFO = 6,
    NTM_PLUGIN_LOG_DEBUG = 7,
};

/* One batch, immutable: a retry gets the same content under the same id. The
 * struct is valid during send(); the strings it points to until complete(). */
struct ntm_batch {
    uint64_t seq;
    const char *batch_id; /* "{gateway id}:{seq}", the Idempotency-Key */
    const char *body;     /* JSON (schema ntm.sync.v1), not NUL-terminated */
    size_t len;
};

/* What became of a send. */
enum ntm_send_result {
    NTM_SEND_DELIVERED = 0,  /* accepted (or already accepted): never sent again */
    NTM_SEND_RETRY = 1,      /* try again later, with backoff (at least retry_after_ms) */
    NTM_SEND_RETRY_SLOW = 2, /* credentials refused: retry on the slow schedule */
    NTM_SEND_REJECT = 3,     /* will never be accepted: quarantine it, go on */
};

/* HTTP through the daemon's shared client (libcurl multi on the daemon's loop). */
struct ntm_http_header {
    const char *name, *value;
};
struct ntm_http_request {
    const char *method; /* "POST", "GET" */
    const char *url;
    const struct ntm_http_header *headers; /* n_headers entries */
    size_t n_headers;
    const void *body; /* copied by the host before http() returns */
    size_t body_len;
    long timeout_ms;       /* whole request; 0 = 30000 */
    const char *ca_file;   /* NULL = the system's CA bundle; verification is always on */
    const char *cert_file; /* client certificate (mTLS), or NULL */
    const char *key_file;
};
/* Valid only during the done callback: copy what you keep. */
struct ntm_http_response {
    long status;       /* HTTP status, or 0 when no answer came (see error) */
    const char *error; /* transport/TLS failure, for a person; NULL when status != 0 */
    const char *body;  /* NUL-terminated, at most 64 KiB kept */
    size_t body_len;
    /* Retry-After (seconds or an HTTP date) as a delay from now, at most a day;
     * 0 when there is none, it cannot be read or it names a time already past */
    int64_t retry_after_ms;
    const char *content_type; /* the Content-Type header's value, or NULL */
};
typedef void (*ntm_http_done_fn)(void *arg, const struct ntm_http_response *resp);

/* The host's services. Valid from init() until destroy() returns. */
struct ntm_host_api {
    uint32_t abi_version;
    /* A log line about this uplink (PLUGIN= is added); batch_id may be NULL. */
    void (*log)(struct ntm_host *h, int level, const char *batch_id, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
    /* The value of one of the plugin's options (its default when not set), or NULL.
     * Already checked against its type; BOOL values come as "true" or "false",
     * INT values as plain decimal. Valid until destroy() returns. */
    const char *(*option)(struct ntm_host *h, const char *name);
    /* Starts a request; `done` runs later on the loop, exactly once (also on
     * failure), never inside http(). Returns 0, or -1 when the request could not
     * even be started (`done` is then never called). Requests still in flight
     * when the plugin is destroyed are abandoned: their `done` is not called, so
     * destroy() frees whatever their `arg` points to. */
    int (*http)(struct ntm_host *h, const struct ntm_http_request *req, ntm_http_done_fn done,
                void *arg);
    /* Reports the outcome of send(seq), exactly once per send. `reason` is shown
     * to the operator (quarantine, logs; NULL when there is nothing to say) and
     * copied by the host; retry_after_ms is 0 or a minimum delay. It may be
     * called from inside send() (a plugin that finishes at once, such as a file
     * writer, needs no timer): the host then passes the outcome on from the loop
     * after send() has returned, so send() must then return 0. A second
     * complete() for the same send is logged as a plugin bug and ignored. */
    void (*complete)(struct ntm_host *h, uint64_t seq, enum ntm_send_result result,
                     int64_t retry_after_ms, const char *reason);
    const char *gateway_id;
    const char *user_agent; /* "ntm-gateway/VERSION" */
};

enum ntm_option_type {
    NTM_OPT_STRING,
    NTM_OPT_PATH, /* a file or directory path */
    NTM_OPT_URL,  /* http:// or https:// */
    NTM_OPT_BOOL, /* true/false/yes/no */
    NTM_OPT_INT,  /* a decimal integer >= 0 */
};

/* A declarative option table, terminated by an entry with name == NULL. */
struct ntm_plugin_option {
    const char *name;
    enum ntm_option_type type;
    const char *default_value; /* NULL = no default */
    int required;
    const char *description;
};

struct ntm_plugin {
    uint32_t abi_version; /* NTM_PLUGIN_ABI_VERSION it was built for: first, always */
    const char *name;     /* must match the file name and the `plugin:` key */
    const char *kind;     /* "uplink" */
    const char *description;
    const struct ntm_plugin_option *options;
    /* At most this many send()s outstanding at once (the host never exceeds it;
     * 0 counts as 1). A send stays outstanding until its complete(). */
    unsigned max_in_flight;
    /* Creates an instance; 0, or -1 with a message in err. */
    int (*init)(struct ntm_host *host, const struct ntm_host_api *api, void **ctx, char *err,
                size_t errlen);
    /* Starts sending one batch; completes through api->complete(seq, ...), at
     * once or later. Returns 0, or -1 when it could not be started and will not
     * complete (the host then retries later). */
    int (*send)(void *ctx, const struct ntm_batch *batch);
    /* Frees the instance. Sends still outstanding need no complete(); their
     * batches stay pending in the daemon. Calls to the api are ignored from now. */
    void (*destroy)(void *ctx);
};

#ifdef __cplusplus
}
#endif
#endif
