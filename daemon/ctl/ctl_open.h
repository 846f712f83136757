/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ctl_open.h: how ntmctl (and other readers of the buffer) open the daemon's
 * database: through a properly escaped file: URI, read-only unless asked to
 * write, and still readable by an operator who may not write its directory. */
#ifndef NTM_CTL_OPEN_H
#define NTM_CTL_OPEN_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

/* "file:" + path with every byte but unreserved ones and '/' percent-encoded,
 * then "?" + query: a new string for sqlite3_free, or NULL. */
char *ntm_ctl_db_uri(const char *path, const char *query);

/* Opens path read-only (mode=ro), or read-write when `writes`. A read-only open
 * that SQLite cannot make (a stopped daemon left no -shm to share and the
 * directory is not writable by this user) is tried again as immutable when no
 * -wal file exists, i.e. when no daemon has uncommitted pages. 0, or -1 with
 * *db possibly set for its error message (close it either way). */
int ntm_ctl_open_db(const char *path, bool writes, sqlite3 **db);

#endif
