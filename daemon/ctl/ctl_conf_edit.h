/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ctl_conf_edit.h: `ntmctl device` edits the configuration file as text, one
 * line of the top-level `devices:` sequence at a time, keeping every other
 * byte (comments included), and replaces the file atomically. It does not
 * judge the result: the caller re-parses it with the daemon's own parser. */
#ifndef NTM_CTL_CONF_EDIT_H
#define NTM_CTL_CONF_EDIT_H

#include <stddef.h>

/* text with `item` (a flow mapping "{id: ...}", no newline) appended to the
 * top-level devices: sequence (made when absent; `devices: []` becomes a
 * block). malloc'd, NUL-terminated, length in *out_len; NULL with a reason
 * in why (a sentence) when the sequence is written in a form not edited here. */
char *ntm_conf_add_device(const char *text, size_t len, const char *item, size_t *out_len,
                          char *why, size_t whylen);

/* text without the one-line item `- {id: ID, ...}` of devices:; NULL with a
 * reason when there is no such line (a device declared on several lines, or
 * in an included form, is not removed here). */
char *ntm_conf_remove_device(const char *text, size_t len, const char *id, size_t *out_len,
                             char *why, size_t whylen);

/* Reads the whole file (at most 1 MiB) into a malloc'd, NUL-terminated buffer. */
char *ntm_conf_read(const char *path, size_t *len, char *why, size_t whylen);

/* Replaces path (the file a symbolic link points to, if it is one) with
 * text: a temporary file in the same directory with the original's mode and
 * owner, fsync, rename, fsync of the directory. 0, or -1 with why. */
int ntm_conf_replace(const char *path, const char *text, size_t len, char *why, size_t whylen);

#endif
