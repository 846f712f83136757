/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pcshim.h: the power-cut shim's record log (pcshim_io.c) and the record
 * types its wrappers (pcshim.c) write; powercut_support.py reads the log. It
 * must not change what the wrapped calls do, only write down what they did. */
#ifndef NTM_PCSHIM_H
#define NTM_PCSHIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* One record: struct pc_rec, then `name_len` bytes of name, then `data_len`
 * bytes of data. Little endian (the shim runs on the machine that reads it). */
enum pc_op {
    PC_OPEN = 1,   /* name opened as ino; a = 1 when the open created it, b = 1 when O_TRUNC */
    PC_WRITE = 2,  /* ino: data_len bytes at offset a */
    PC_SYNC = 3,   /* ino: fsync/fdatasync/msync(MS_SYNC) returned 0; a = 1 for a directory */
    PC_TRUNC = 4,  /* ino: the size set to a (ftruncate, truncate, fallocate growing it) */
    PC_RENAME = 5, /* name (old) then data (new name) */
    PC_UNLINK = 6, /* name */
    PC_MMAP = 7,   /* ino: mapped shared and writable at offset a, b bytes */
};

struct pc_rec {
    uint32_t op;
    uint32_t name_len;
    uint64_t ino;
    uint64_t a, b;
    uint64_t data_len;
};

/* pcshim_io.c */
bool pc_enabled(void);
/* The name of `path` relative to the watched directory, or NULL when it is
 * not directly in it (dirfd AT_FDCWD or a directory fd). */
const char *pc_name_in_dir(int dirfd, const char *path, char *buf, size_t len);
bool pc_is_dir_fd(int fd);
void pc_log(uint32_t op, const char *name, uint64_t ino, uint64_t a, uint64_t b, const void *data,
            uint64_t data_len);
/* fd table: the inode of a watched file's fd, 0 when not watched */
uint64_t pc_fd_ino(int fd);
void pc_fd_set(int fd, uint64_t ino);
/* mappings of watched files: addr -> (ino, file offset) */
void pc_map_add(void *addr, size_t len, uint64_t ino, uint64_t off);
bool pc_map_find(const void *addr, uint64_t *ino, uint64_t *off);
void pc_map_del(void *addr);

#endif
