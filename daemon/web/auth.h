/* SPDX-License-Identifier: GPL-3.0-or-later */
/* auth.h: HTTP basic authentication of the page off the loopback address:
 * user "ntm", the password of web.password_file (a file only its owner may
 * read). Owns the password (wiped on free); never logs it. */
#ifndef NTM_WEB_AUTH_H
#define NTM_WEB_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "password_file.h"

#define WEB_AUTH_USER "ntm"

struct web_auth {
    bool required;
    char password[NTM_PASSWORD_MAX];
};

/* When `required`, reads the password from `path` and checks that nobody but
 * its owner can read it. Returns 0, or -1 with a reason for a person in err. */
int web_auth_init(struct web_auth *a, bool required, const char *path, char *err, size_t errlen);
/* Whether user/password (NULL when the request had none) may see the pages.
 * Constant time in the password's length. */
bool web_auth_ok(const struct web_auth *a, const char *user, const char *password);
void web_auth_free(struct web_auth *a);

#endif
