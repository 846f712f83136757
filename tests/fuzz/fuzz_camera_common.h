/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_camera_common.h: what every camera part parser promises (see
 * daemon/sources/camera_msg.h), checked by fuzz_hikvision and fuzz_dahua. */
#ifndef NTM_FUZZ_CAMERA_COMMON_H
#define NTM_FUZZ_CAMERA_COMMON_H

#include <ctype.h>

#include "fuzz_common.h"
#include "sources/camera_msg.h"

static inline void check_parse(ntm_cam_parse_fn parse, const uint8_t *data, size_t size, size_t max)
{
    char *body = fuzz_dup(data, size);
    struct ntm_cam_msg out[8];
    char why[160];
    memset(why, 'X', sizeof why);
    memset(out, 0xA5, sizeof out);
    size_t n = parse(body, size, out, max, why, sizeof why);
    FUZZ_ASSERT(n <= max);
    FUZZ_ASSERT(fuzz_terminated(why, sizeof why));
    FUZZ_ASSERT(n == 0 ? why[0] != '\0' : why[0] == '\0');
    for (size_t i = 0; i < n; i++) {
        const struct ntm_cam_msg *m = &out[i];
        FUZZ_ASSERT(m->channel >= 1 && m->channel <= 4096);
        FUZZ_ASSERT(fuzz_terminated(m->code, sizeof m->code));
        for (const char *c = m->code; *c; c++)
            FUZZ_ASSERT(isprint((unsigned char)*c));
        switch (m->kind) {
        case NTM_CAM_START:
            FUZZ_ASSERT(m->event == NTM_EV_MOTION || m->event == NTM_EV_TAMPER ||
                        m->event == NTM_EV_VIDEO_LOSS || m->event == NTM_EV_STORAGE_ERROR);
            break;
        case NTM_CAM_END:
            FUZZ_ASSERT(m->event == NTM_EV_NONE || m->event == NTM_EV_MOTION ||
                        m->event == NTM_EV_TAMPER || m->event == NTM_EV_STORAGE_ERROR);
            break;
        case NTM_CAM_KEEPALIVE:
        case NTM_CAM_IGNORED:
            FUZZ_ASSERT(m->event == NTM_EV_NONE);
            break;
        default:
            FUZZ_ASSERT(!"a message kind out of range");
        }
    }
    /* a NULL or zero-sized `why` is allowed */
    (void)parse(body, size, out, max, NULL, 0);
    free(body);
}

#endif
