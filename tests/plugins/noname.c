/* SPDX-License-Identifier: GPL-3.0-or-later */
/* noname.c: a test plugin whose descriptor names another plugin than its file
 * (noname.so exports "somebody-else"); the host must refuse it. Owns nothing. */
#include <stddef.h>

#include "ntm/plugin.h"

static int nn_init(struct ntm_host *host, const struct ntm_host_api *api, void **ctx, char *err,
                   size_t errlen)
{
    (void)host;
    (void)api;
    (void)err;
    (void)errlen;
    *ctx = NULL;
    return 0;
}

static int nn_send(void *ctx, const struct ntm_batch *b)
{
    (void)ctx;
    (void)b;
    return -1;
}

static void nn_destroy(void *ctx)
{
    (void)ctx;
}

const struct ntm_plugin ntm_plugin = {
    .abi_version = NTM_PLUGIN_ABI_VERSION,
    .name = "somebody-else",
    .kind = "uplink",
    .init = nn_init,
    .send = nn_send,
    .destroy = nn_destroy,
};
