/* SPDX-License-Identifier: GPL-3.0-or-later */
/* probe.c: a test plugin that misbehaves on request (option `mode`), so that the
 * host's bookkeeping can be checked: double completion, completing and failing,
 * failing to start, and an HTTP request through the host. Owns one small ctx. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ntm/plugin.h"

struct probe {
    struct ntm_host *host;
    const struct ntm_host_api *api;
    const char *mode, *url;
};

/* One HTTP request in flight: freed by its answer, or by destroy when abandoned. */
struct probe_req {
    struct probe *p;
    uint64_t seq;
    struct probe_req *next;
};

struct probe_ctx {
    struct probe p;
    struct probe_req *reqs;
};

static void on_done(void *arg, const struct ntm_http_response *resp)
{
    struct probe_req *r = arg;
    struct probe_ctx *c = (struct probe_ctx *)r->p;
    for (struct probe_req **pp = &c->reqs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    char reason[512];
    snprintf(reason, sizeof reason, "status %ld: %s", resp->status,
             resp->error ? resp->error : "-");
    uint64_t seq = r->seq;
    struct probe *p = r->p;
    free(r);
    p->api->complete(p->host, seq, resp->status == 0 ? NTM_SEND_RETRY : NTM_SEND_DELIVERED, 0,
                     reason);
}

static int probe_init(struct ntm_host *host, const struct ntm_host_api *api, void **ctx, char *err,
                      size_t errlen)
{
    if (strcmp(api->option(host, "fail_init"), "true") == 0) {
        snprintf(err, errlen, "probe was told to fail (count %s)", api->option(host, "count"));
        return -1;
    }
    struct probe_ctx *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->p.host = host;
    c->p.api = api;
    c->p.mode = api->option(host, "mode");
    c->p.url = api->option(host, "url");
    *ctx = c;
    return 0;
}

static int probe_send(void *ctx, const struct ntm_batch *b)
{
    struct probe_ctx *c = ctx;
    struct probe *p = &c->p;
    if (strcmp(p->mode, "twice") == 0) {
        p->api->complete(p->host, b->seq, NTM_SEND_DELIVERED, 0, "first");
        p->api->complete(p->host, b->seq, NTM_SEND_REJECT, 0, "second");
        return 0;
    }
    if (strcmp(p->mode, "complete-then-fail") == 0) {
        p->api->complete(p->host, b->seq, NTM_SEND_RETRY, 1500, "done, then failed");
        return -1;
    }
    if (strcmp(p->mode, "fail") == 0)
        return -1;
    if (strcmp(p->mode, "http") == 0) {
        struct probe_req *r = calloc(1, sizeof *r);
        if (r == NULL)
            return -1;
        r->p = p;
        r->seq = b->seq;
        struct ntm_http_request req = {.method = "GET", .url = p->url, .timeout_ms = 5000};
        if (p->api->http(p->host, &req, on_done, r) != 0) {
            free(r);
            return -1;
        }
        r->next = c->reqs;
        c->reqs = r;
        return 0;
    }
    p->api->log(p->host, NTM_PLUGIN_LOG_INFO, b->batch_id, "probe delivers %s", b->batch_id);
    p->api->complete(p->host, b->seq, NTM_SEND_DELIVERED, 0, NULL);
    return 0;
}

static void probe_destroy(void *ctx)
{
    struct probe_ctx *c = ctx;
    while (c->reqs != NULL) {
        struct probe_req *r = c->reqs;
        c->reqs = r->next;
        free(r);
    }
    free(c);
}

const struct ntm_plugin ntm_plugin = {
    .abi_version = NTM_PLUGIN_ABI_VERSION,
    .name = "probe",
    .kind = "uplink",
    .description = "test plugin",
    .options =
        (const struct ntm_plugin_option[]){
            {"mode", NTM_OPT_STRING, "ok", 0, "ok, twice, complete-then-fail, fail, http"},
            {"url", NTM_OPT_URL, "http://127.0.0.1:9/", 0, "for mode http"},
            {"fail_init", NTM_OPT_BOOL, "no", 0, "init() fails"},
            {"count", NTM_OPT_INT, "7", 0, "an integer"},
            {NULL, 0, NULL, 0, NULL},
        },
    .max_in_flight = 2,
    .init = probe_init,
    .send = probe_send,
    .destroy = probe_destroy,
};
