/* SPDX-License-Identifier: GPL-3.0-or-later */
/* hikvision.h: one part of a Hikvision ISAPI alert stream
 * (GET /ISAPI/Event/notification/alertStream): an EventNotificationAlert XML
 * document, read with expat and mapped onto the device contract's camera events. */
#ifndef NTM_HIKVISION_H
#define NTM_HIKVISION_H

#include "camera_msg.h"

#define NTM_HIK_PATH "/ISAPI/Event/notification/alertStream"
#define NTM_HIK_PATH_OLD "/Event/notification/alertStream" /* firmware before ISAPI */

/* An ntm_cam_parse_fn: returns 1 (one alert per part) or 0 with `why`. */
size_t ntm_hik_parse(const char *body, size_t len, struct ntm_cam_msg *out, size_t max, char *why,
                     size_t whylen);

#endif
