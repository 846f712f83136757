/* bad_abi.c: a test plugin built for plugin ABI 99, which the host must refuse
 * before it reads anything but abi_version. Owns nothing. */
#include <stddef.h>

#include "ntm/plugin.h"

/* Only the first field is meant to be read; the rest is deliberately empty. */
const struct ntm_plugin ntm_plugin = {
    .abi_version = 99,
    .name = "bad-abi",
    .kind = "uplink",
};
