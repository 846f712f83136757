/* SPDX-License-Identifier: GPL-3.0-or-later */
/* server.h: the HTTP side of ntm-gateway-web (libmicrohttpd, driven from one
 * loop in this process: no threads): routes, limits, the answer to a wrong
 * password (delayed, logged), idle exit under socket activation. */
#ifndef NTM_WEB_SERVER_H
#define NTM_WEB_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "config.h"
#include "log.h"

struct web_server_opts {
    const struct ntm_config *cfg;
    struct ntm_log *log;
    struct web_auth *auth;
    const char *db_path;    /* the buffer */
    const char *state_path; /* NULL: /run/ntm-gateway/state.json */
    int listen_fd;          /* bound and listening */
    int refresh_s;          /* the page's self-refresh */
    int idle_exit_s;        /* exit after this long without a connection; 0 = never */
    int auth_delay_ms;      /* how long a wrong password waits for its answer */
};

/* Serves until SIGTERM or SIGINT (or idle exit). Returns 0 on a clean stop,
 * -1 with a message logged. */
int web_serve(const struct web_server_opts *o);

#endif
