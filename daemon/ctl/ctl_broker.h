/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ctl_broker.h: `ntmctl broker-files DIR`: mosquitto's password and ACL files
 * made from the device inventory, so that each device may publish only under
 * its own topics and only the gateway subscribes; the users of `ntmctl device`. */
#ifndef NTM_CTL_BROKER_H
#define NTM_CTL_BROKER_H

#include <stdio.h>

#include "config.h"

/* Writes DIR/ntm-acl (replaced whole, atomically) and adds to DIR/ntm-passwd,
 * through mosquitto_passwd, every device of the inventory and the gateway's
 * user that it lacks, with a new random password printed to `out` ("USER
 * PASSWORD" lines: what to enter on each device). Users already there keep
 * their passwords. 0, or 1 with a message on stderr. */
int ntm_ctl_broker_files(const struct ntm_config *cfg, const char *dir, FILE *out);

/* DIR/ntm-acl alone (replaced whole): the gateway reads ntm/v1/# and the
 * mappings' topics; each device writes under its own ntm/v1 topics and its
 * mappings' topics that name it ({device}); DIR/ntm-acl.local is copied at
 * the end. 0, or -1 with a message on stderr. */
int ntm_ctl_broker_acl(const struct ntm_config *cfg, const char *dir);
/* A new random password (len - 1 characters) for `user` in DIR/ntm-passwd,
 * made if missing; the password is left in pw. 0, or -1 with a message. */
int ntm_ctl_broker_set_password(const char *dir, const char *user, char *pw, size_t len);
/* `user` out of DIR/ntm-passwd (mosquitto_passwd -D); 0 when it was not there. */
int ntm_ctl_broker_remove_user(const char *dir, const char *user);

#endif
