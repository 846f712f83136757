/* SPDX-License-Identifier: GPL-3.0-or-later */
/* file_uplink.c: the `file` uplink, for communes without a link: writes each
 * batch atomically as {dir}/{batch id}.json (for a USB stick carried to the
 * district). Owns only those files; completes each send before it returns. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ntm/plugin.h"

struct fu {
    struct ntm_host *host;
    const struct ntm_host_api *api;
    const char *dir;
};

/* A file name for the batch id: FAT (USB sticks) allows no ':', so anything but
 * [A-Za-z0-9._-] becomes '_', as does a leading '.'. */
static void safe_name(char *out, size_t outlen, const char *id)
{
    size_t o = 0;
    for (; *id && o + 1 < outlen; id++) {
        char c = *id;
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || (c == '.' && o > 0);
        out[o++] = ok ? c : '_';
    }
    out[o] = '\0';
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* 1: `path` holds exactly body; 0: it holds something else; -1: cannot tell (errno). */
static int same_content(const char *path, const char *body, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size != len) {
        close(fd);
        return 0;
    }
    char buf[16384];
    size_t off = 0;
    int same = 1;
    while (off < len && same == 1) {
        size_t want = len - off < sizeof buf ? len - off : sizeof buf;
        ssize_t n = read(fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (n == 0 || memcmp(buf, body + off, (size_t)n) != 0)
            same = 0;
        off += (size_t)n;
    }
    close(fd);
    return same;
}

/* Makes the directory's entries (a rename) durable. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && (e == EINVAL || e == ENOTSUP))
        rc = 0; /* file systems that cannot sync a directory */
    errno = e;
    return rc;
}

/* Writes `path` through `tmp`: write, fsync, rename, fsync the directory. 0, or -1
 * with a reason. */
static int write_atomically(const struct fu *fu, const char *tmp, const char *path,
                            const struct ntm_batch *b, char *why, size_t whylen)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        snprintf(why, whylen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    const char *step = "write";
    int rc = write_all(fd, b->body, b->len);
    if (rc == 0) {
        step = "fsync";
        rc = fsync(fd);
    }
    int e = errno;
    if (close(fd) != 0 && rc == 0) {
        step = "close";
        rc = -1;
        e = errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        e = errno;
        snprintf(why, whylen, "cannot rename %s to %s: %s", tmp, path, strerror(e));
        unlink(tmp);
        return -1;
    }
    if (rc != 0) {
        snprintf(why, whylen, "cannot %s %s: %s", step, tmp, strerror(e));
        unlink(tmp);
        return -1;
    }
    if (sync_dir(fu->dir) != 0) {
        snprintf(why, whylen, "cannot fsync %s: %s", fu->dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int fu_send(void *ctx, const struct ntm_batch *b)
{
    struct fu *fu = ctx;
    char name[256], path[4096], tmp[4096], why[2 * 4096 + 256];
    safe_name(name, sizeof name, b->batch_id);
    if ((size_t)snprintf(path, sizeof path, "%s/%s.json", fu->dir, name) >= sizeof path ||
        (size_t)snprintf(tmp, sizeof tmp, "%s/.%s.json.tmp", fu->dir, name) >= sizeof tmp) {
        fu->api->complete(fu->host, b->seq, NTM_SEND_REJECT, 0, "the file name is too long");
        return 0;
    }

    int same = same_content(path, b->body, b->len);
    if (same == 1) { /* written before (a retry after a crash, say): make sure it stays */
        if (sync_dir(fu->dir) != 0) {
            snprintf(why, sizeof why, "cannot fsync %s: %s", fu->dir, strerror(errno));
            fu->api->complete(fu->host, b->seq, NTM_SEND_RETRY, 0, why);
            return 0;
        }
        fu->api->log(fu->host, NTM_PLUGIN_LOG_DEBUG, b->batch_id, "%s was already written", path);
        fu->api->complete(fu->host, b->seq, NTM_SEND_DELIVERED, 0, NULL);
        return 0;
    }
    if (same == 0) { /* batches never change: this is another gateway's, or damage */
        snprintf(why, sizeof why, "%s already exists with different content; not overwritten",
                 path);
        fu->api->log(fu->host, NTM_PLUGIN_LOG_ERR, b->batch_id, "%s", why);
        fu->api->complete(fu->host, b->seq, NTM_SEND_REJECT, 0, why);
        return 0;
    }
    if (errno != ENOENT) {
        snprintf(why, sizeof why, "cannot read %s: %s", path, strerror(errno));
        fu->api->log(fu->host, NTM_PLUGIN_LOG_WARNING, b->batch_id, "%s", why);
        fu->api->complete(fu->host, b->seq, NTM_SEND_RETRY, 0, why);
        return 0;
    }
    if (write_atomically(fu, tmp, path, b, why, sizeof why) != 0) {
        fu->api->log(fu->host, NTM_PLUGIN_LOG_WARNING, b->batch_id, "%s", why);
        fu->api->complete(fu->host, b->seq, NTM_SEND_RETRY, 0, why);
        return 0;
    }
    fu->api->log(fu->host, NTM_PLUGIN_LOG_DEBUG, b->batch_id, "wrote %s", path);
    fu->api->complete(fu->host, b->seq, NTM_SEND_DELIVERED, 0, NULL);
    return 0;
}

/* Removes ".*.json.tmp" files a crash left behind. */
static void remove_leftovers(const struct fu *fu)
{
    DIR *d = opendir(fu->dir);
    if (d == NULL)
        return;
    unsigned n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' && len > 10 && strcmp(de->d_name + len - 9, ".json.tmp") == 0 &&
            unlinkat(dirfd(d), de->d_name, 0) == 0)
            n++;
    }
    closedir(d);
    if (n > 0)
        fu->api->log(fu->host, NTM_PLUGIN_LOG_INFO, NULL, "removed %u unfinished file(s) from %s",
                     n, fu->dir);
}

static int fu_init(struct ntm_host *host, const struct ntm_host_api *api, void **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    const char *dir = api->option(host, "dir");
    struct stat st;
    if (dir == NULL) {
        snprintf(err, errlen, "needs option 'dir'");
        return -1;
    }
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            snprintf(err, errlen,
                     "dir %s does not exist (create it, or mount the export medium there)", dir);
        else
            snprintf(err, errlen, "dir %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "dir %s is not a directory", dir);
        return -1;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "dir %s is not writable by this user (uid %u): %s", dir,
                 (unsigned)geteuid(), strerror(errno));
        return -1;
    }
    struct fu *fu = calloc(1, sizeof *fu);
    if (fu == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fu->host = host;
    fu->api = api;
    fu->dir = dir;
    remove_leftovers(fu);
    *out = fu;
    return 0;
}

static void fu_destroy(void *ctx)
{
    free(ctx);
}

const struct ntm_plugin ntm_plugin = {
    .abi_version = NTM_PLUGIN_ABI_VERSION,
    .name = "file",
    .kind = "uplink",
    .description = "writes each batch atomically as {dir}/{batch id}.json (USB export)",
    .options =
        (const struct ntm_plugin_option[]){
            {"dir", NTM_OPT_PATH, NULL, 1,
             "an existing, writable directory the batches are written into"},
            {NULL, 0, NULL, 0, NULL},
        },
    .max_in_flight = 1,
    .init = fu_init,
    .send = fu_send,
    .destroy = fu_destroy,
};
