/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ctl_broker.h: `ntmctl broker-files DIR`: mosquitto's password and ACL files
 * made from the device inventory, so that each device may publish only under
 * its own topics and only the gateway subscribes. */
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

#endif
