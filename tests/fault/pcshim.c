/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pcshim.c: an LD_PRELOAD shim for the power-cut simulator (powercut.py). For
 * files directly in the directory NTM_PCSHIM_DIR it appends to NTM_PCSHIM_LOG,
 * after each call succeeds, what reached the page cache (write, pwrite, writev,
 * pwritev, ftruncate, fallocate, rename, unlink, opens that create or
 * truncate) and what
 * was made durable (fsync, fdatasync, msync with MS_SYNC, on a file or on the
 * directory), so that powercut_support.py can rebuild what a disk would hold
 * at any moment. It must not change any call's result. Writes through a
 * shared mapping are not seen one by one: the mapping is recorded (PC_MMAP)
 * and msync(MS_SYNC) logs the mapped bytes as a write and a sync. */
/* the wrappers define both the plain and the 64-bit names themselves */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pcshim.h"

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

static uint64_t ino_of_fd(int fd)
{
    struct stat sb;
    return fstat(fd, &sb) == 0 ? (uint64_t)sb.st_ino : 0;
}

static int after_open(int dirfd, const char *path, int flags, int fd, bool existed)
{
    char nb[256];
    int e = errno;
    if (fd >= 0) {
        pc_fd_set(fd, 0);
        const char *n = pc_name_in_dir(dirfd, path, nb, sizeof nb);
        if (n) {
            uint64_t ino = ino_of_fd(fd);
            pc_fd_set(fd, ino);
            if (n[0] != '.' || n[1] != 0)
                pc_log(PC_OPEN, n, ino, !existed, (flags & O_TRUNC) ? 1 : 0, NULL, 0);
        }
    }
    errno = e;
    return fd;
}

static bool exists_at(int dirfd, const char *path, int flags)
{
    if (!(flags & O_CREAT))
        return true;
    struct stat sb;
    return fstatat(dirfd, path, &sb, 0) == 0;
}

#define OPEN_MODE(flags, mode)                                                                     \
    mode_t mode = 0;                                                                               \
    if ((flags) & (O_CREAT | O_TMPFILE)) {                                                         \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode = va_arg(ap, mode_t);                                                                 \
        va_end(ap);                                                                                \
    }

int open(const char *path, int flags, ...)
{
    OPEN_MODE(flags, mode);
    bool ex = exists_at(AT_FDCWD, path, flags);
    return after_open(AT_FDCWD, path, flags, REAL(open)(path, flags, mode), ex);
}

int open64(const char *path, int flags, ...)
{
    OPEN_MODE(flags, mode);
    bool ex = exists_at(AT_FDCWD, path, flags);
    return after_open(AT_FDCWD, path, flags, REAL(open64)(path, flags, mode), ex);
}

int openat(int dirfd, const char *path, int flags, ...)
{
    OPEN_MODE(flags, mode);
    bool ex = exists_at(dirfd, path, flags);
    return after_open(dirfd, path, flags, REAL(openat)(dirfd, path, flags, mode), ex);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
    OPEN_MODE(flags, mode);
    bool ex = exists_at(dirfd, path, flags);
    return after_open(dirfd, path, flags, REAL(openat64)(dirfd, path, flags, mode), ex);
}

int close(int fd)
{
    pc_fd_set(fd, 0);
    return REAL(close)(fd);
}

static void logged_write(int fd, const void *buf, ssize_t n, off64_t off)
{
    uint64_t ino = pc_fd_ino(fd);
    if (n > 0 && ino && !pc_is_dir_fd(fd))
        pc_log(PC_WRITE, NULL, ino, (uint64_t)off, 0, buf, (uint64_t)n);
}

ssize_t write(int fd, const void *buf, size_t len)
{
    off64_t at = pc_fd_ino(fd) ? lseek64(fd, 0, SEEK_CUR) : 0;
    if (pc_fd_ino(fd) && (fcntl(fd, F_GETFL) & O_APPEND))
        at = lseek64(fd, 0, SEEK_END);
    ssize_t n = REAL(write)(fd, buf, len);
    int e = errno;
    logged_write(fd, buf, n, at);
    errno = e;
    return n;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    ssize_t n = REAL(pwrite)(fd, buf, len, off);
    int e = errno;
    logged_write(fd, buf, n, off);
    errno = e;
    return n;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    ssize_t n = REAL(pwrite64)(fd, buf, len, off);
    int e = errno;
    logged_write(fd, buf, n, off);
    errno = e;
    return n;
}

/* A vectored write, logged as one write of the bytes it wrote. */
static void logged_writev(int fd, const struct iovec *iov, int cnt, ssize_t n, off64_t off)
{
    uint64_t ino = pc_fd_ino(fd);
    if (n <= 0 || !ino || pc_is_dir_fd(fd))
        return;
    for (int i = 0; i < cnt && n > 0; i++) {
        size_t len = iov[i].iov_len < (size_t)n ? iov[i].iov_len : (size_t)n;
        if (len)
            pc_log(PC_WRITE, NULL, ino, (uint64_t)off, 0, iov[i].iov_base, len);
        off += (off64_t)len;
        n -= (ssize_t)len;
    }
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    off64_t at = pc_fd_ino(fd) ? lseek64(fd, 0, SEEK_CUR) : 0;
    if (pc_fd_ino(fd) && (fcntl(fd, F_GETFL) & O_APPEND))
        at = lseek64(fd, 0, SEEK_END);
    ssize_t n = REAL(writev)(fd, iov, cnt);
    int e = errno;
    logged_writev(fd, iov, cnt, n, at);
    errno = e;
    return n;
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    ssize_t n = REAL(pwritev)(fd, iov, cnt, off);
    int e = errno;
    logged_writev(fd, iov, cnt, n, off);
    errno = e;
    return n;
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    ssize_t n = REAL(pwritev64)(fd, iov, cnt, off);
    int e = errno;
    logged_writev(fd, iov, cnt, n, off);
    errno = e;
    return n;
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    ssize_t n = REAL(pwritev2)(fd, iov, cnt, off, flags);
    int e = errno;
    logged_writev(fd, iov, cnt, n, off == -1 ? lseek64(fd, 0, SEEK_CUR) - n : off);
    errno = e;
    return n;
}

static int synced(int fd, int rc)
{
    int e = errno;
    if (rc == 0 && pc_fd_ino(fd))
        pc_log(PC_SYNC, NULL, pc_fd_ino(fd), pc_is_dir_fd(fd) ? 1 : 0, 0, NULL, 0);
    errno = e;
    return rc;
}

int fsync(int fd)
{
    return synced(fd, REAL(fsync)(fd));
}

int fdatasync(int fd)
{
    return synced(fd, REAL(fdatasync)(fd));
}

static int sized(int fd, int rc, uint64_t size)
{
    int e = errno;
    if (rc == 0 && pc_fd_ino(fd) && !pc_is_dir_fd(fd))
        pc_log(PC_TRUNC, NULL, pc_fd_ino(fd), size, 0, NULL, 0);
    errno = e;
    return rc;
}

static uint64_t size_of_fd(int fd)
{
    struct stat sb;
    return fstat(fd, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

int ftruncate(int fd, off_t len)
{
    return sized(fd, REAL(ftruncate)(fd, len), (uint64_t)len);
}

int ftruncate64(int fd, off64_t len)
{
    return sized(fd, REAL(ftruncate64)(fd, len), (uint64_t)len);
}

int posix_fallocate(int fd, off_t off, off_t len)
{
    int rc = REAL(posix_fallocate)(fd, off, len);
    if (rc == 0)
        sized(fd, 0, size_of_fd(fd));
    return rc;
}

int posix_fallocate64(int fd, off64_t off, off64_t len)
{
    int rc = REAL(posix_fallocate64)(fd, off, len);
    if (rc == 0)
        sized(fd, 0, size_of_fd(fd));
    return rc;
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    int rc = REAL(fallocate)(fd, mode, off, len);
    return rc == 0 ? sized(fd, 0, size_of_fd(fd)) : rc;
}

int truncate(const char *path, off_t len)
{
    int rc = REAL(truncate)(path, len);
    char nb[256];
    int e = errno;
    const char *n = rc == 0 ? pc_name_in_dir(AT_FDCWD, path, nb, sizeof nb) : NULL;
    struct stat sb;
    if (n && stat(path, &sb) == 0)
        pc_log(PC_TRUNC, NULL, (uint64_t)sb.st_ino, (uint64_t)len, 0, NULL, 0);
    errno = e;
    return rc;
}

static int renamed(int rc, int ofd, const char *o, int nfd, const char *n)
{
    char ob[256], nb[256];
    int e = errno;
    const char *on = rc == 0 ? pc_name_in_dir(ofd, o, ob, sizeof ob) : NULL;
    const char *nn = rc == 0 ? pc_name_in_dir(nfd, n, nb, sizeof nb) : NULL;
    if (on && nn)
        pc_log(PC_RENAME, on, 0, 0, 0, nn, strlen(nn));
    else if (on) /* moved out of the directory: gone from it */
        pc_log(PC_UNLINK, on, 0, 0, 0, NULL, 0);
    errno = e;
    return rc;
}

int rename(const char *o, const char *n)
{
    return renamed(REAL(rename)(o, n), AT_FDCWD, o, AT_FDCWD, n);
}

int renameat(int ofd, const char *o, int nfd, const char *n)
{
    return renamed(REAL(renameat)(ofd, o, nfd, n), ofd, o, nfd, n);
}

int renameat2(int ofd, const char *o, int nfd, const char *n, unsigned flags)
{
    return renamed(REAL(renameat2)(ofd, o, nfd, n, flags), ofd, o, nfd, n);
}

static int unlinked(int rc, int dfd, const char *p)
{
    char nb[256];
    int e = errno;
    const char *n = rc == 0 ? pc_name_in_dir(dfd, p, nb, sizeof nb) : NULL;
    if (n)
        pc_log(PC_UNLINK, n, 0, 0, 0, NULL, 0);
    errno = e;
    return rc;
}

int unlink(const char *p)
{
    return unlinked(REAL(unlink)(p), AT_FDCWD, p);
}

int unlinkat(int dfd, const char *p, int flags)
{
    return unlinked(REAL(unlinkat)(dfd, p, flags), dfd, p);
}

static void *mapped(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    int e = errno;
    uint64_t ino = pc_fd_ino(fd);
    if (addr != MAP_FAILED && ino && (prot & PROT_WRITE) && (flags & MAP_SHARED)) {
        pc_map_add(addr, len, ino, (uint64_t)off);
        pc_log(PC_MMAP, NULL, ino, (uint64_t)off, len, NULL, 0);
    }
    errno = e;
    return addr;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return mapped(REAL(mmap)(addr, len, prot, flags, fd, off), len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    return mapped(REAL(mmap64)(addr, len, prot, flags, fd, off), len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len)
{
    pc_map_del(addr);
    return REAL(munmap)(addr, len);
}

int msync(void *addr, size_t len, int flags)
{
    int rc = REAL(msync)(addr, len, flags);
    int e = errno;
    uint64_t ino, off;
    if (rc == 0 && (flags & MS_SYNC) && pc_map_find(addr, &ino, &off)) {
        pc_log(PC_WRITE, NULL, ino, off, 0, addr, len);
        pc_log(PC_SYNC, NULL, ino, 0, 0, NULL, 0);
    }
    errno = e;
    return rc;
}
