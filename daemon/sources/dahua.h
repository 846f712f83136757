/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dahua.h: one part of a Dahua event stream
 * (GET /cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat=N): text
 * "Code=VideoMotion;action=Start;index=0" (possibly with ";data={...}" after,
 * possibly several such lines) or "Heartbeat", mapped onto the device
 * contract's camera events. */
#ifndef NTM_DAHUA_H
#define NTM_DAHUA_H

#include "camera_msg.h"

/* The attach request's path and query, without the heartbeat value. */
#define NTM_DAHUA_PATH "/cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat="

/* An ntm_cam_parse_fn: one message per "Code=" line (at most max), or one
 * keep-alive for "Heartbeat"; 0 with `why` when nothing could be read. */
size_t ntm_dahua_parse(const char *body, size_t len, struct ntm_cam_msg *out, size_t max, char *why,
                       size_t whylen);

#endif
