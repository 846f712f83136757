/* SPDX-License-Identifier: GPL-3.0-or-later */
/* password_file.c: finds one account's password in a small file. Holds
 * nothing: the bytes read are wiped before it returns. */
#include "password_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FILE_MAX 16384

int ntm_password_file_read(const char *path, const char *user, char *buf, size_t buflen, char *err,
                           size_t errlen)
{
    char data[FILE_MAX + 1];
    int rc = -1;
    if (buflen > 0)
        buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "password file %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = 0;
    ssize_t r;
    while (n < sizeof data - 1 && (r = read(fd, data + n, sizeof data - 1 - n)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "password file %s: %s", path, strerror(errno));
            close(fd);
            goto out;
        }
        n += (size_t)r;
    }
    char probe;
    bool too_big = n == sizeof data - 1 && read(fd, &probe, 1) > 0;
    close(fd);
    if (too_big) {
        snprintf(err, errlen, "password file %s is larger than %d bytes", path, FILE_MAX);
        goto out;
    }
    data[n] = '\0';
    if (memchr(data, '\0', n) != NULL) {
        snprintf(err, errlen, "password file %s holds a NUL byte", path);
        goto out;
    }
    /* lines, without their CR/LF; blank lines do not count */
    size_t lines = 0;
    bool any_colon = false;
    const char *only = NULL;
    size_t only_len = 0;
    size_t ul = strlen(user);
    for (char *p = data; *p != '\0';) {
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        size_t l = len;
        while (l > 0 && p[l - 1] == '\r')
            l--;
        if (l > 0) {
            lines++;
            only = p;
            only_len = l;
            const char *colon = memchr(p, ':', l);
            if (colon) {
                any_colon = true;
                if ((size_t)(colon - p) == ul && memcmp(p, user, ul) == 0) {
                    size_t pl = l - ul - 1;
                    if (pl >= buflen) {
                        snprintf(err, errlen, "password file %s: the password of %s is too long",
                                 path, user);
                        goto out;
                    }
                    memcpy(buf, colon + 1, pl);
                    buf[pl] = '\0';
                    rc = 0;
                    goto out;
                }
            }
        }
        p = nl ? nl + 1 : p + len;
    }
    if (lines == 1 && !any_colon) {
        if (only_len >= buflen) {
            snprintf(err, errlen, "password file %s: the password is too long", path);
            goto out;
        }
        memcpy(buf, only, only_len);
        buf[only_len] = '\0';
        rc = 0;
    } else if (lines == 0) {
        snprintf(err, errlen, "password file %s is empty", path);
    } else {
        snprintf(err, errlen, "password file %s has no line \"%s:...\"", path, user);
    }
out:
    explicit_bzero(data, sizeof data);
    return rc;
}
