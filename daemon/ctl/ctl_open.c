/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ctl_open.c: opening the buffer for ntmctl (see ctl_open.h). Owns the file:
 * URI and the read-only fallbacks; must not read tables or print. */
#include "ctl_open.h"

#include <string.h>
#include <unistd.h>

char *ntm_ctl_db_uri(const char *path, const char *query)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(path);
    char *enc = sqlite3_malloc64(n * 3 + 1);
    if (enc == NULL)
        return NULL;
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
            enc[o++] = (char)c;
        } else {
            enc[o++] = '%';
            enc[o++] = hex[c >> 4];
            enc[o++] = hex[c & 15];
        }
    }
    enc[o] = '\0';
    /* "file:" then the path; an absolute path keeps an empty authority so that
     * a path starting with "//" is never read as a host name */
    char *uri = sqlite3_mprintf("file:%s%s?%s", enc[0] == '/' ? "//" : "", enc, query);
    sqlite3_free(enc);
    return uri;
}

static int try_open(const char *path, const char *query, int flags, sqlite3 **db)
{
    char *uri = ntm_ctl_db_uri(path, query);
    if (uri == NULL)
        return -1;
    if (*db != NULL) {
        sqlite3_close(*db);
        *db = NULL;
    }
    int rc = sqlite3_open_v2(uri, db, flags | SQLITE_OPEN_URI, NULL);
    sqlite3_free(uri);
    if (rc != SQLITE_OK ||
        sqlite3_exec(*db, "SELECT 1 FROM meta LIMIT 1", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    return 0;
}

int ntm_ctl_open_db(const char *path, bool writes, sqlite3 **db)
{
    *db = NULL;
    if (writes)
        return try_open(path, "mode=rw", SQLITE_OPEN_READWRITE, db);
    if (try_open(path, "mode=ro", SQLITE_OPEN_READONLY, db) == 0)
        return 0;
    char wal[4096];
    size_t n = strlen(path);
    if (n + 5 > sizeof wal)
        return -1;
    memcpy(wal, path, n);
    memcpy(wal + n, "-wal", 5);
    if (access(path, R_OK) != 0 || access(wal, F_OK) == 0)
        return -1; /* a daemon may be writing: never read around it */
    return try_open(path, "mode=ro&immutable=1", SQLITE_OPEN_READONLY, db);
}
