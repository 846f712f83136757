/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bad_abi.c: a test plugin built for plugin ABI 1, the version before this
 * daemon's (as a plugin not rebuilt after an upgrade would be), which the host
 * must refuse before it reads anything but abi_version. Owns nothing. */
#include <stddef.h>

#include "ntm/plugin.h"

#if NTM_PLUGIN_ABI_VERSION == 1u
#error "bad_abi.c must declare an ABI version other than the header's"
#endif

/* Only the first field is meant to be read; the rest is deliberately empty. */
const struct ntm_plugin ntm_plugin = {
    .abi_version = 1,
    .name = "bad-abi",
    .kind = "uplink",
};
