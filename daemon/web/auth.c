/* SPDX-License-Identifier: GPL-3.0-or-later */
/* auth.c: the password check of auth.h. The password file is read once at
 * start (daemon/sources/password_file.c reads it); the delay and the log of
 * wrong passwords are the server's (http.c). */
#include "auth.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int web_auth_init(struct web_auth *a, bool required, const char *path, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    a->required = required;
    if (!required)
        return 0;
    if (path == NULL) {
        snprintf(err, errlen, "web.password_file is not set");
        return -1;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "web.password_file %s cannot be read: %m", path);
        return -1;
    }
    if ((st.st_mode & 0077) != 0) {
        snprintf(err, errlen,
                 "web.password_file %s can be read by other users (mode %04o): make it readable "
                 "only by its owner (chmod 600)",
                 path, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    char why[300];
    if (ntm_password_file_read(path, WEB_AUTH_USER, a->password, sizeof a->password, why,
                               sizeof why) != 0) {
        snprintf(err, errlen, "web.password_file: %s", why);
        return -1;
    }
    if (a->password[0] == '\0') {
        snprintf(err, errlen, "web.password_file %s holds an empty password", path);
        return -1;
    }
    return 0;
}

bool web_auth_ok(const struct web_auth *a, const char *user, const char *password)
{
    if (!a->required)
        return true;
    if (user == NULL || password == NULL || strcmp(user, WEB_AUTH_USER) != 0)
        return false;
    size_t n = strlen(a->password), m = strlen(password);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a->password[i] ^ (i < m ? password[i] : 0));
    return diff == 0;
}

void web_auth_free(struct web_auth *a)
{
    explicit_bzero(a->password, sizeof a->password);
}
