/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pcshim_io.c: the power-cut shim's state: the watched directory
 * (NTM_PCSHIM_DIR), the record log (NTM_PCSHIM_LOG), the fd and mapping
 * tables. It must not call any function pcshim.c wraps (raw system calls only). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "pcshim.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_FD 4096
#define MAX_MAPS 64
#define DIR_FLAG (1ull << 63)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static char dir[4096];
static size_t dir_len;
static uint64_t dir_ino;
static uint64_t fds[MAX_FD];
static struct {
    void *addr;
    size_t len;
    uint64_t ino, off;
} maps[MAX_MAPS];

static void init(void)
{
    const char *d = getenv("NTM_PCSHIM_DIR"), *l = getenv("NTM_PCSHIM_LOG");
    if (!d || !l || strlen(d) >= sizeof dir - 1)
        return;
    strcpy(dir, d);
    dir_len = strlen(dir);
    while (dir_len > 1 && dir[dir_len - 1] == '/')
        dir[--dir_len] = 0;
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return;
    dir_ino = (uint64_t)sb.st_ino;
    log_fd = (int)syscall(SYS_openat, AT_FDCWD, l, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

bool pc_enabled(void)
{
    pthread_once(&once, init);
    return log_fd >= 0;
}

bool pc_is_dir_fd(int fd)
{
    return fd >= 0 && fd < MAX_FD && (fds[fd] & DIR_FLAG);
}

const char *pc_name_in_dir(int dirfd, const char *path, char *buf, size_t len)
{
    if (!pc_enabled() || !path)
        return NULL;
    const char *rel = NULL;
    if (path[0] == '/') {
        if (strncmp(path, dir, dir_len) != 0)
            return NULL;
        if (path[dir_len] == 0)
            return "."; /* the directory itself */
        if (path[dir_len] != '/')
            return NULL;
        rel = path + dir_len + 1;
    } else if (dirfd != AT_FDCWD && pc_is_dir_fd(dirfd)) {
        rel = path;
    } else {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd) || strcmp(cwd, dir) != 0)
            return NULL;
        rel = path;
    }
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    if (strchr(rel, '/') || strlen(rel) >= len)
        return NULL;
    strcpy(buf, rel);
    return buf;
}

void pc_log(uint32_t op, const char *name, uint64_t ino, uint64_t a, uint64_t b, const void *data,
            uint64_t data_len)
{
    if (!pc_enabled())
        return;
    struct pc_rec r = {.op = op,
                       .name_len = name ? (uint32_t)strlen(name) : 0,
                       .ino = ino,
                       .a = a,
                       .b = b,
                       .data_len = data_len};
    size_t total = sizeof r + r.name_len + data_len;
    char stackbuf[8192];
    char *buf = total <= sizeof stackbuf ? stackbuf : malloc(total);
    if (!buf)
        return;
    memcpy(buf, &r, sizeof r);
    if (r.name_len)
        memcpy(buf + sizeof r, name, r.name_len);
    if (data_len)
        memcpy(buf + sizeof r + r.name_len, data, data_len);
    pthread_mutex_lock(&mu);
    size_t off = 0;
    while (off < total) {
        long n = syscall(SYS_write, log_fd, buf + off, total - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    pthread_mutex_unlock(&mu);
    if (buf != stackbuf)
        free(buf);
}

uint64_t pc_fd_ino(int fd)
{
    return fd >= 0 && fd < MAX_FD ? fds[fd] & ~DIR_FLAG : 0;
}

void pc_fd_set(int fd, uint64_t ino)
{
    if (fd < 0 || fd >= MAX_FD)
        return;
    fds[fd] = ino == dir_ino && ino ? (ino | DIR_FLAG) : ino;
}

void pc_map_add(void *addr, size_t len, uint64_t ino, uint64_t off)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < MAX_MAPS; i++)
        if (!maps[i].addr) {
            maps[i].addr = addr;
            maps[i].len = len;
            maps[i].ino = ino;
            maps[i].off = off;
            break;
        }
    pthread_mutex_unlock(&mu);
}

bool pc_map_find(const void *addr, uint64_t *ino, uint64_t *off)
{
    bool found = false;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < MAX_MAPS && !found; i++)
        if (maps[i].addr && (const char *)addr >= (const char *)maps[i].addr &&
            (const char *)addr < (const char *)maps[i].addr + maps[i].len) {
            *ino = maps[i].ino;
            *off = maps[i].off + (uint64_t)((const char *)addr - (const char *)maps[i].addr);
            found = true;
        }
    pthread_mutex_unlock(&mu);
    return found;
}

void pc_map_del(void *addr)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < MAX_MAPS; i++)
        if (maps[i].addr == addr)
            maps[i].addr = NULL;
    pthread_mutex_unlock(&mu);
}
