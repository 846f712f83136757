/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ctl_cameras.h: what `ntmctl devices` adds about the cameras' own event
 * streams, read from the daemon's live state (state.json), never from the
 * buffer: per camera, connected or not, since when, its last error. */
#ifndef NTM_CTL_CAMERAS_H
#define NTM_CTL_CAMERAS_H

#include <cjson/cJSON.h>

/* The live state next to the buffer at storage_path (or the system one); NULL
 * when there is none. *stale says the daemon is not running. */
cJSON *ntm_ctl_live(const char *storage_path, _Bool *stale, char *path, size_t pathlen);
/* --json: adds "stream" {state, since_ms, last_ms, last_error, stream, ...} to
 * each device object of `list` that has a camera stream in `live`. */
void ntm_ctl_cameras_json(const cJSON *live, _Bool stale, cJSON *list);
/* The table of camera streams after `ntmctl devices`; nothing when no camera
 * has a stream. */
void ntm_ctl_cameras_print(const cJSON *live, _Bool stale, const char *path);

#endif
