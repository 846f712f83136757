/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_password_file.c: libFuzzer target for ntm_password_file_read
 * (daemon/sources/password_file.c), which reads the status page's password
 * (web.password_file, user "ntm") and the cameras' ones. Input: byte 0 picks
 * the buffer's size (1 to 64) and the user ("ntm" or "admin"), the rest is the
 * file (written to a memfd, read through /proc/self/fd). Checked: an accepted
 * password fits the buffer, has no line break, and is in the file; a refusal
 * gives a reason and an empty buffer; the same file, the same answer. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "sources/password_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t buflen = (size_t)(data[0] & 63) + 1;
    const char *user = (data[0] & 64) ? "admin" : "ntm";
    int fd = memfd_create("pw", MFD_CLOEXEC);
    FUZZ_ASSERT(fd >= 0);
    FUZZ_ASSERT(write(fd, data + 1, size - 1) == (ssize_t)(size - 1));
    char path[64], buf[65], buf2[65], err[512], err2[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    memset(buf, 'x', sizeof buf);
    err[0] = '\0';
    int rc = ntm_password_file_read(path, user, buf, buflen, err, sizeof err);
    if (rc == 0) {
        size_t n = strnlen(buf, buflen);
        FUZZ_ASSERT(n < buflen);
        FUZZ_ASSERT(memchr(buf, '\n', n) == NULL);
        FUZZ_ASSERT(n == 0 || memmem(data + 1, size - 1, buf, n) != NULL);
    } else {
        FUZZ_ASSERT(rc == -1 && err[0] != '\0' && buf[0] == '\0');
    }
    int rc2 = ntm_password_file_read(path, user, buf2, buflen, err2, sizeof err2);
    FUZZ_ASSERT(rc2 == rc && (rc != 0 || strcmp(buf, buf2) == 0));
    close(fd);
    return 0;
}
