/* SPDX-License-Identifier: GPL-3.0-or-later */
/* daemon_cameras.h: the daemon's side of the camera source: the inventory's
 * `events:` made into the source's device list, at start and on SIGHUP, with
 * the one gate (gate.c) as the only way in for what the cameras say. */
#ifndef NTM_DAEMON_CAMERAS_H
#define NTM_DAEMON_CAMERAS_H

#include <stddef.h>

struct ntm_daemon;

/* Opens a stream for every camera with `events:` (none: nothing is made).
 * Returns 0, or -1 with a reason in err. */
int ntm_daemon_cameras_start(struct ntm_daemon *d, char *err, size_t errlen);
/* After a reload applied the live keys: the streams follow the inventory's
 * `ip` and `events` (a camera added or removed, a new password file...); those
 * whose settings did not change stay open. Logs what it could not apply. */
void ntm_daemon_cameras_apply(struct ntm_daemon *d);
/* The live state's "cameras" section (a section function of live_state.h,
 * `daemon` being the struct ntm_daemon): the streams as they are now. */
struct cJSON;
void ntm_daemon_cameras_live(void *daemon, struct cJSON *sources_obj);
/* Closes every stream (nothing is emitted after this). Safe to call twice. */
void ntm_daemon_cameras_stop(struct ntm_daemon *d);

#endif
