/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_dahua.c: libFuzzer target for ntm_dahua_parse (daemon/sources/dahua.c).
 * Byte 0 % 8 is the room for messages (0 to 7), the rest one part's body.
 * Checked: fuzz_camera_common.h's promises, never more messages than room. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_camera_common.h"
#include "sources/dahua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    check_parse(ntm_dahua_parse, data + 1, size - 1, data[0] % 8);
    return 0;
}
