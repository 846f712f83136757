/* SPDX-License-Identifier: GPL-3.0-or-later */
/* check.h: what start-up checks beyond the configuration's syntax, shared by
 * `ntm-gatewayd --check-config`, `ntmctl check-config` (which runs it) and the
 * start itself, so that a green check means the daemon starts: the shipped
 * placeholders are refused, files named by the configuration must be readable
 * by the daemon's user (secrets: owner root, group ntm-gateway, mode 0640),
 * and the uplink plugins are loaded and their options validated. */
#ifndef NTM_CHECK_H
#define NTM_CHECK_H

#include <stddef.h>

#include "config.h"
#include "log.h"

/* The daemon's user as the package makes it. */
#define NTM_DAEMON_USER "ntm-gateway"
/* The word the shipped configuration uses for what each commune must set. */
#define NTM_PLACEHOLDER "CHANGE-ME"

/* Placeholders and files; 0, or -1 with one line per problem in err
 * ("FILE: ..."). Warnings (a secret others can read) go to `log`. */
int ntm_check_static(const struct ntm_config *cfg, struct ntm_log *log, char *err, size_t errlen);
/* Loads every uplink plugin on a loop of its own, validates its options and
 * runs its init, then unloads it: what start-up does, without sending. */
int ntm_check_uplinks(const struct ntm_config *cfg, struct ntm_log *log, char *err, size_t errlen);

#endif
