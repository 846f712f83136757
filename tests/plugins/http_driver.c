/* SPDX-License-Identifier: GPL-3.0-or-later */
/* http_driver.c: for test_http_uplink.py: loads a config's one uplink through
 * plugin_host, sends the given batches (max_in_flight at once, or --serial) and
 * prints one line per outcome, "seq result retry_after_ms reason". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "clock.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "plugin_host.h"

struct batch {
    struct ntm_batch b;
    char id[96];
    char *body;
};

struct driver {
    uv_loop_t loop;
    uv_timer_t gap, deadline;
    struct ntm_log log;
    struct ntm_clock clock;
    struct ntm_http *http;
    struct ntm_uplink **up;
    size_t n_up;
    struct batch *batches;
    size_t n, next, done;
    unsigned outstanding;
    int serial;
    long gap_ms;
    int status;
};

static const char *result_word(enum ntm_send_result r)
{
    switch (r) {
    case NTM_SEND_DELIVERED:
        return "delivered";
    case NTM_SEND_RETRY:
        return "retry";
    case NTM_SEND_RETRY_SLOW:
        return "retry_slow";
    case NTM_SEND_REJECT:
        return "reject";
    }
    return "unknown";
}

static void finish(struct driver *d)
{
    ntm_uplinks_free(d->up, d->n_up);
    d->up = NULL;
    d->n_up = 0;
    ntm_http_free(d->http);
    d->http = NULL;
    uv_timer_stop(&d->gap);
    uv_timer_stop(&d->deadline);
}

static void on_end(uv_timer_t *t)
{
    finish(t->data);
}

/* Ends from the loop: never unload an uplink from inside its own callback. */
static void end_soon(struct driver *d)
{
    uv_timer_start(&d->gap, on_end, 0, 0);
}

static void pump(struct driver *d)
{
    while (d->up != NULL && d->next < d->n && !uv_is_active((uv_handle_t *)&d->gap)) {
        if (d->serial && d->outstanding > 0)
            return;
        struct batch *b = &d->batches[d->next];
        if (ntm_uplink_send(d->up[0], &b->b) != 0) {
            if (d->outstanding > 0)
                return; /* full: the next outcome makes room */
            printf("%llu notstarted 0 -\n", (unsigned long long)b->b.seq);
            fflush(stdout);
            d->done++;
            d->next++;
            continue;
        }
        d->outstanding++;
        d->next++;
    }
    if (d->up != NULL && d->done == d->n)
        end_soon(d);
}

static void on_gap(uv_timer_t *t)
{
    pump(t->data);
}

static void on_deadline(uv_timer_t *t)
{
    struct driver *d = t->data;
    fprintf(stderr, "http_driver: timed out with %zu of %zu outcomes\n", d->done, d->n);
    d->status = 3;
    finish(d);
}

static void on_complete(void *arg, struct ntm_uplink *u, uint64_t seq, enum ntm_send_result r,
                        int64_t retry_after_ms, const char *reason)
{
    (void)u;
    struct driver *d = arg;
    char text[2048];
    snprintf(text, sizeof text, "%s", reason && reason[0] ? reason : "-");
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    printf("%llu %s %lld %s\n", (unsigned long long)seq, result_word(r), (long long)retry_after_ms,
           text);
    fflush(stdout);
    d->outstanding--;
    d->done++;
    if (d->done == d->n) {
        end_soon(d);
        return;
    }
    if (d->serial && d->gap_ms > 0)
        uv_timer_start(&d->gap, on_gap, (uint64_t)d->gap_ms, 0);
    else
        pump(d);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap)
            break;
        char *nb = realloc(buf, cap *= 2);
        if (nb == NULL) {
            free(buf);
            buf = NULL;
        }
        buf = nb;
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    struct driver d = {0};
    int a = 2;
    if (argc < 3) {
        fprintf(stderr, "usage: %s CONFIG [--serial] [--gap-ms N] SEQ:FILE...\n", argv[0]);
        return 2;
    }
    for (; a < argc && strncmp(argv[a], "--", 2) == 0; a++) {
        if (strcmp(argv[a], "--serial") == 0)
            d.serial = 1;
        else if (strcmp(argv[a], "--gap-ms") == 0 && a + 1 < argc)
            d.gap_ms = atol(argv[++a]);
        else
            return 2;
    }
    char err[4096];
    struct ntm_config *cfg = ntm_config_load(argv[1], err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "http_driver: %s\n", err);
        return 2;
    }
    d.n = (size_t)(argc - a);
    d.batches = calloc(d.n ? d.n : 1, sizeof d.batches[0]);
    for (size_t i = 0; i < d.n; i++) {
        struct batch *b = &d.batches[i];
        const char *arg = argv[a + (int)i], *colon = strchr(arg, ':');
        size_t len = 0;
        b->body = colon ? slurp(colon + 1, &len) : NULL;
        if (b->body == NULL) {
            fprintf(stderr, "http_driver: bad batch %s\n", arg);
            return 2;
        }
        b->b.seq = strtoull(arg, NULL, 10);
        snprintf(b->id, sizeof b->id, "%s:%llu", cfg->gateway_id, (unsigned long long)b->b.seq);
        b->b.batch_id = b->id;
        b->b.body = b->body;
        b->b.len = len;
    }

    ntm_log_init(&d.log, "http_driver", cfg->log.level);
    ntm_clock_init(&d.clock);
    uv_loop_init(&d.loop);
    uv_timer_init(&d.loop, &d.gap);
    uv_timer_init(&d.loop, &d.deadline);
    d.gap.data = d.deadline.data = &d;
    if (ntm_http_new(&d.http, &d.loop, &d.log, &d.clock) != 0)
        return 2;
    struct ntm_uplink_events ev = {&d, on_complete};
    if (ntm_uplinks_load(&d.up, &d.n_up, cfg, &d.log, d.http, &ev, err, sizeof err) != 0) {
        printf("load-error %s\n", err);
        d.status = 4;
    }
    ntm_config_free(cfg);
    if (d.status == 0 && d.n_up != 1) {
        fprintf(stderr, "http_driver: the configuration must have exactly one uplink\n");
        d.status = 2;
    }
    if (d.status == 0) {
        uv_timer_start(&d.deadline, on_deadline, 60000, 0);
        pump(&d);
        uv_run(&d.loop, UV_RUN_DEFAULT);
    }
    if (d.up != NULL || d.http != NULL)
        finish(&d);
    uv_close((uv_handle_t *)&d.gap, NULL);
    uv_close((uv_handle_t *)&d.deadline, NULL);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d.loop) != 0) {
        fprintf(stderr, "http_driver: handles left open\n");
        d.status = 5;
    }
    for (size_t i = 0; i < d.n; i++)
        free(d.batches[i].body);
    free(d.batches);
    return d.status;
}
