/* SPDX-License-Identifier: GPL-3.0-or-later */
/* check.c: the checks start-up and --check-config share (placeholders, files
 * readable by the daemon's user, plugins loaded). Must not open the buffer,
 * connect anywhere or send anything. */
#include "check.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "http.h"
#include "plugin_host.h"

struct out {
    char *buf;
    size_t len, used;
    int problems;
};

static void __attribute__((format(printf, 2, 3))) add(struct out *o, const char *fmt, ...)
{
    o->problems++;
    if (o->used + 2 >= o->len)
        return;
    if (o->used > 0)
        o->buf[o->used++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->used += (size_t)n < o->len - o->used ? (size_t)n : o->len - o->used - 1;
}

static bool placeholder(const char *v)
{
    return v && strcasestr(v, NTM_PLACEHOLDER) != NULL;
}

/* ---- placeholders ---- */

static void check_placeholders(const struct ntm_config *cfg, struct out *o)
{
    char keys[1024] = "";
    size_t n = 0;
#define KEY(k)                                                                                     \
    do {                                                                                           \
        size_t l = strlen(keys);                                                                   \
        snprintf(keys + l, sizeof keys - l, "%s%s", n++ ? ", " : "", (k));                         \
    } while (0)
    if (placeholder(cfg->gateway_id))
        KEY("gateway.id");
    if (strcmp(cfg->commune_code, "00000") == 0)
        KEY("commune.code");
    if (strcmp(cfg->province_code, "00") == 0)
        KEY("commune.province_code");
    if (placeholder(cfg->commune_name))
        KEY("commune.name");
    for (size_t i = 0; i < cfg->n_villages; i++)
        if (placeholder(cfg->villages[i].id) || placeholder(cfg->villages[i].name)) {
            KEY("villages");
            break;
        }
    for (size_t i = 0; i < cfg->n_devices; i++)
        if (placeholder(cfg->devices[i].id)) {
            KEY("devices");
            break;
        }
    for (size_t i = 0; i < cfg->n_uplinks; i++)
        for (size_t j = 0; j < cfg->uplinks[i].n_options; j++)
            if (placeholder(cfg->uplinks[i].options[j].value)) {
                char k[160];
                snprintf(k, sizeof k, "uplinks[%zu].%s", i + 1, cfg->uplinks[i].options[j].key);
                KEY(k);
            }
#undef KEY
    if (n > 0)
        add(o,
            "%s: this is the configuration as shipped, not yet edited for this commune; set %s "
            "(still %s or 00), then run `ntm-gatewayd --check-config` again. The daemon does "
            "not start with placeholders: two communes must never send under one gateway id",
            cfg->path, keys, NTM_PLACEHOLDER);
}

/* ---- files ---- */

/* Can the service's user (ntm-gateway) read `path`, judged from the file's
 * owner, group and mode? For a check run as root: root reads anything, the
 * service does not. */
static bool service_can_read(const struct stat *st, const struct passwd *pw)
{
    if (st->st_uid == pw->pw_uid)
        return st->st_mode & S_IRUSR;
    gid_t groups[64];
    int ng = 64;
    if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &ng) < 0)
        ng = 0;
    for (int i = 0; i < ng; i++)
        if (st->st_gid == groups[i])
            return st->st_mode & S_IRGRP;
    return st->st_mode & S_IROTH;
}

/* `key` names `path`; a secret must not be readable by everyone. */
static void check_file(struct out *o, struct ntm_log *log, const char *file, const char *key,
                       const char *path, bool secret)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        add(o, "%s: %s: %s: %s%s", file, key, path, strerror(errno),
            secret ? " (create it: owner root, group " NTM_DAEMON_USER ", mode 0640)" : "");
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        add(o, "%s: %s: %s is not a regular file", file, key, path);
        return;
    }
    /* the user running this (the daemon itself at a start, and under systemd
     * the unit's ExecCondition= as the service's user) */
    if (access(path, R_OK) != 0) {
        int e = errno;
        add(o, "%s: %s: %s cannot be read (%s, mode %03o)%s", file, key, path, strerror(e),
            (unsigned)(st.st_mode & 0777),
            secret ? ": make it owner root, group " NTM_DAEMON_USER ", mode 0640 "
                     "(chown root:" NTM_DAEMON_USER " FILE; chmod 0640 FILE)"
                   : "");
        return;
    }
    /* checked as root: would the service's user read it? */
    const struct passwd *pw = geteuid() == 0 ? getpwnam(NTM_DAEMON_USER) : NULL;
    if (pw && !service_can_read(&st, pw)) {
        ntm_logf(log, LOG_WARNING,
                 "%s: %s: %s cannot be read by the service's user " NTM_DAEMON_USER
                 " (owner %u, group %u, mode %03o): under systemd the daemon will not start; "
                 "make it owner root, group " NTM_DAEMON_USER ", mode 0640",
                 file, key, path, (unsigned)st.st_uid, (unsigned)st.st_gid,
                 (unsigned)(st.st_mode & 0777));
        return;
    }
    if (secret && (st.st_mode & S_IROTH))
        ntm_logf(log, LOG_WARNING,
                 "%s: %s: %s can be read by every user (mode %03o): make it owner root, "
                 "group " NTM_DAEMON_USER ", mode 0640; the daemon starts anyway",
                 file, key, path, (unsigned)(st.st_mode & 0777));
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int ntm_check_static(const struct ntm_config *cfg, struct ntm_log *log, char *err, size_t errlen)
{
    struct out o = {err, errlen, 0, 0};
    if (errlen > 0)
        err[0] = '\0';
    check_placeholders(cfg, &o);
    const char *f = cfg->path ? cfg->path : "configuration";
    if (cfg->mqtt.password_file)
        check_file(&o, log, f, "mqtt.password_file", cfg->mqtt.password_file, true);
    if (cfg->mqtt.ca_file)
        check_file(&o, log, f, "mqtt.tls.ca_file", cfg->mqtt.ca_file, false);
    if (cfg->mqtt.cert_file)
        check_file(&o, log, f, "mqtt.tls.cert_file", cfg->mqtt.cert_file, false);
    if (cfg->mqtt.key_file)
        check_file(&o, log, f, "mqtt.tls.key_file", cfg->mqtt.key_file, true);
    /* every uplink option naming a file (token_file, secret_file, ca_file ...) */
    for (size_t i = 0; i < cfg->n_uplinks; i++)
        for (size_t j = 0; j < cfg->uplinks[i].n_options; j++) {
            const struct ntm_conf_option *opt = &cfg->uplinks[i].options[j];
            if (!ends_with(opt->key, "_file") || !opt->value || !opt->value[0] ||
                placeholder(opt->value))
                continue;
            char k[160];
            snprintf(k, sizeof k, "uplinks[%zu].%s (line %d)", i + 1, opt->key, opt->line);
            bool secret = strstr(opt->key, "token") || strstr(opt->key, "secret") ||
                          strstr(opt->key, "key") || strstr(opt->key, "password");
            check_file(&o, log, f, k, opt->value, secret);
        }
    return o.problems ? -1 : 0;
}

/* ---- plugins ---- */

static void no_complete(void *arg, struct ntm_uplink *u, uint64_t seq, enum ntm_send_result r,
                        int64_t retry_after_ms, const char *reason)
{
    (void)arg, (void)u, (void)seq, (void)r, (void)retry_after_ms, (void)reason;
}

int ntm_check_uplinks(const struct ntm_config *cfg, struct ntm_log *log, char *err, size_t errlen)
{
    if (cfg->n_uplinks == 0)
        return 0;
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) {
        snprintf(err, errlen, "cannot make an event loop to load the plugins");
        return -1;
    }
    struct ntm_clock clock;
    ntm_clock_init(&clock);
    struct ntm_http *http = NULL;
    int rc = -1;
    if (ntm_http_new(&http, &loop, log, &clock) != 0) {
        snprintf(err, errlen, "cannot start the HTTP client");
    } else {
        struct ntm_uplink **u = NULL;
        size_t n = 0;
        struct ntm_uplink_events ev = {.arg = NULL, .complete = no_complete};
        rc = ntm_uplinks_load(&u, &n, cfg, log, http, &ev, err, errlen);
        if (rc == 0)
            ntm_uplinks_free(u, n);
    }
    ntm_http_free(http);
    uv_run(&loop, UV_RUN_DEFAULT); /* the handles' close callbacks */
    uv_loop_close(&loop);
    return rc;
}
