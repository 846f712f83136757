/* SPDX-License-Identifier: GPL-3.0-or-later */
/* password_file.h: reads a camera account's password from its password_file:
 * lines "user:password", or a file holding only the password. The secret is
 * never logged and never kept: callers wipe it once curl has its copy. */
#ifndef NTM_PASSWORD_FILE_H
#define NTM_PASSWORD_FILE_H

#include <stddef.h>

#define NTM_PASSWORD_MAX 256

/* Returns 0 with the password for `user` in buf (NUL-terminated), or -1 with
 * a reason for a person in err (naming the file and the user, never quoting
 * the file). A file of one line without ':' is the password itself; otherwise
 * the first line "user:password" whose user matches is used. */
int ntm_password_file_read(const char *path, const char *user, char *buf, size_t buflen, char *err,
                           size_t errlen);

#endif
