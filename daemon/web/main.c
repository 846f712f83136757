/* SPDX-License-Identifier: GPL-3.0-or-later */
/* main.c: ntm-gateway-web, the status page and Prometheus metrics of a
 * gateway, a program apart from the daemon so that nothing it does can stop
 * or slow ingest. Reads the configuration, takes its listening socket from
 * systemd (socket activation) or binds web.listen, checks the password rule,
 * and hands over to server.c. Never writes the buffer or the configuration. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "log.h"
#include "request.h"
#include "server.h"
#include "view.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: ntm-gateway-web [--config PATH] [--listen ADDRESS:PORT] [--db PATH]\n"
               "                       [--state PATH] [--refresh S] [--idle-exit S]\n"
               "Serves the gateway's status page (GET /) and Prometheus metrics (GET /metrics)\n"
               "from the buffer (read-only) and the daemon's live state.\n"
               "  --config PATH     the gateway's configuration (default "
               "/etc/ntm-gateway/gateway.yaml)\n"
               "  --listen A:P      serve here instead of web.listen (ignored under socket "
               "activation)\n"
               "  --db PATH         the buffer instead of storage.path\n"
               "  --state PATH      the live state file instead of /run/ntm-gateway/state.json\n"
               "  --refresh S       the page reloads itself every S seconds (default 30)\n"
               "  --idle-exit S     exit after S seconds without a connection (default: 300 under\n"
               "                    socket activation, never otherwise)\n"
               "  --version, --help\n");
}

/* A socket bound to `text` and listening, or -1 with err. */
static int bind_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len, char *err,
                       size_t errlen)
{
    if (web_parse_listen(text, ss, len, err, errlen) != 0)
        return -1;
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1, zero = 0;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ss->ss_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)ss, *len) != 0 || listen(fd, 64) != 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", text, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Under systemd the socket unit's address is served: say so when web.listen
 * names another, so that whoever edited gateway.yaml is not misled. */
static void warn_other_address(struct ntm_log *log, const char *listen,
                               const struct sockaddr_storage *got, socklen_t got_len)
{
    struct sockaddr_storage want;
    socklen_t len;
    char err[200];
    if (web_parse_listen(listen, &want, &len, err, sizeof err) != 0)
        return;
    if (len == got_len && memcmp(&want, got, len) == 0)
        return;
    ntm_logf(log, LOG_WARNING,
             "web: web.listen is %s but systemd passed a socket on another address; that "
             "socket is served (to change it: systemctl edit ntm-gateway-web.socket)",
             listen);
}

int main(int argc, char **argv)
{
    const char *config_path = "/etc/ntm-gateway/gateway.yaml", *listen_arg = NULL;
    const char *db_arg = NULL, *state_arg = NULL;
    int refresh_s = 30, idle_exit_s = -1;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"db", required_argument, NULL, 'd'},
                                         {"state", required_argument, NULL, 's'},
                                         {"refresh", required_argument, NULL, 'r'},
                                         {"idle-exit", required_argument, NULL, 'i'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    for (int ch; (ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1;) {
        switch (ch) {
        case 'c':
            config_path = optarg;
            break;
        case 'l':
            listen_arg = optarg;
            break;
        case 'd':
            db_arg = optarg;
            break;
        case 's':
            state_arg = optarg;
            break;
        case 'r':
            refresh_s = atoi(optarg) > 0 ? atoi(optarg) : 30;
            break;
        case 'i':
            idle_exit_s = atoi(optarg) >= 0 ? atoi(optarg) : 0;
            break;
        case 'V':
            printf("ntm-gateway-web %s\n", NTM_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    web_lang_init();
    struct ntm_log log;
    ntm_log_init(&log, "ntm-gateway-web", LOG_INFO);
    char err[4096];
    struct ntm_config *cfg = ntm_config_load(config_path, err, sizeof err);
    if (!cfg) {
        ntm_logf(&log, LOG_ERR, "web: the configuration is not valid: %s; not starting", err);
        return 1;
    }
    log.level = cfg->log.level;

    /* the listening socket: systemd's, else web.listen (or --listen) */
    int fd = -1;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    const char *where = listen_arg ? listen_arg : cfg->web.listen;
    int n = sd_listen_fds(1);
    bool activated = n >= 1;
    if (n > 1) {
        ntm_logf(&log, LOG_ERR, "web: systemd passed %d sockets, expected one; not starting", n);
        ntm_config_free(cfg);
        return 1;
    }
    if (activated) {
        fd = SD_LISTEN_FDS_START;
        where = "the socket systemd passed";
        if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
            ntm_logf(&log, LOG_ERR, "web: the socket systemd passed is not usable: %s",
                     strerror(errno));
            ntm_config_free(cfg);
            return 1;
        }
        warn_other_address(&log, cfg->web.listen, &ss, len);
    } else {
        fd = bind_listen(where, &ss, &len, err, sizeof err);
        if (fd < 0) {
            ntm_logf(&log, LOG_ERR, "web: web.listen: %s; not starting", err);
            ntm_config_free(cfg);
            return 1;
        }
    }
    bool loopback = web_is_loopback((struct sockaddr *)&ss);
    struct web_auth auth;
    if (web_auth_init(&auth, !loopback, cfg->web.password_file, err, sizeof err) != 0) {
        ntm_logf(&log, LOG_ERR,
                 "web: %s listens on %s, which is not a loopback address, and %s; the page "
                 "would be open to the network without a password: not starting",
                 config_path, where, err);
        close(fd);
        ntm_config_free(cfg);
        return 1;
    }
    if (idle_exit_s < 0)
        idle_exit_s = activated ? 300 : 0;
    struct web_server_opts o = {.cfg = cfg,
                                .log = &log,
                                .auth = &auth,
                                .db_path = db_arg ? db_arg : cfg->storage.path,
                                .state_path = state_arg,
                                .listen_fd = fd,
                                .refresh_s = refresh_s,
                                .idle_exit_s = idle_exit_s,
                                .auth_delay_ms = 1000};
    ntm_logf(&log, LOG_INFO, "web: serving the status page and /metrics on %s%s%s", where,
             listen_arg || activated ? "" : " (web.listen)",
             auth.required ? ", with a password (user ntm)" : ", loopback only: no password");
    sd_notify(0, "READY=1");
    int rc = web_serve(&o);
    web_auth_free(&auth);
    close(fd);
    ntm_config_free(cfg);
    return rc == 0 ? 0 : 1;
}
