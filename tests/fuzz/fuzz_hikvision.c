/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_hikvision.c: libFuzzer target for ntm_hik_parse (daemon/sources/hikvision.c,
 * expat). The input is one part's body. Checked: fuzz_camera_common.h's
 * promises, at most one message, and that no input (entity bombs included)
 * takes more than libFuzzer's time and memory limits. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_camera_common.h"
#include "sources/hikvision.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_parse(ntm_hik_parse, data, size, 1);
    check_parse(ntm_hik_parse, data, size, 0);
    return 0;
}
