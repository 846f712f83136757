/* SPDX-License-Identifier: GPL-3.0-or-later */
/* store_keys.c: the secret key of each local day that MACs are hashed with:
 * made on first use, committed at once, cached, destroyed once the day is
 * closed. It must not hash (siphash.c) nor keep a key anywhere else. */
#include "store_impl.h"

#include <string.h>
#include <sys/random.h>

int ntm_st_keys_prepare(struct ntm_store *st, char *err, size_t errlen)
{
    static const struct ntm_st_sql sql[] = {
        {ST_KEY_GET, "SELECT key FROM mac_keys WHERE day = ?"},
        {ST_KEY_PUT, "INSERT OR IGNORE INTO mac_keys(day, key) VALUES(?,?)"},
    };
    return ntm_st_prepare(st, sql, sizeof sql / sizeof sql[0], err, errlen);
}

static int put_key(struct ntm_store *st, const struct ntm_st_key *k)
{
    sqlite3_bind_int64(st->stmt[ST_KEY_PUT], 1, k->day);
    sqlite3_bind_blob(st->stmt[ST_KEY_PUT], 2, k->key, sizeof k->key, SQLITE_STATIC);
    return ntm_st_step_done(st->stmt[ST_KEY_PUT]);
}

void ntm_st_keys_rewrite(struct ntm_store *st)
{
    if (!st->keys_dirty)
        return;
    /* a rolled-back transaction may have held a new day key still in use */
    for (int i = 0; i < NTM_ST_KEYS; i++)
        if (st->keys[i].day != INT64_MIN)
            put_key(st, &st->keys[i]);
    st->keys_dirty = false;
}

int ntm_store_mac_key(void *arg, int64_t day, uint8_t key[16])
{
    struct ntm_store *st = arg;
    struct ntm_st_key *slot = &st->keys[(uint64_t)day % NTM_ST_KEYS];
    if (slot->day == day) {
        memcpy(key, slot->key, 16);
        return 0;
    }
    int found = 0;
    sqlite3_stmt *s = st->stmt[ST_KEY_GET];
    sqlite3_bind_int64(s, 1, day);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_bytes(s, 0) == 16) {
        memcpy(slot->key, sqlite3_column_blob(s, 0), 16);
        found = 1;
    }
    sqlite3_reset(s);
    if (!found) {
        struct ntm_st_key k = {.day = day};
        if (getrandom(k.key, sizeof k.key, 0) != sizeof k.key || ntm_st_begin(st) != SQLITE_OK ||
            put_key(st, &k) != SQLITE_OK) {
            explicit_bzero(&k, sizeof k);
            return -1;
        }
        memcpy(slot->key, k.key, sizeof k.key);
        explicit_bzero(&k, sizeof k);
        st->pending++;
        /* committed at once: records in the tail journal hashed with this key
         * would be worthless after a crash without it */
        ntm_store_commit(st);
    }
    slot->day = day;
    memcpy(key, slot->key, 16);
    return 0;
}

int ntm_store_forget_mac_keys(struct ntm_store *st, int64_t day)
{
    if (ntm_st_begin(st) != SQLITE_OK)
        return -1;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, "DELETE FROM mac_keys WHERE day < ?", -1, &s, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, day);
        rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : -1;
    }
    sqlite3_finalize(s);
    for (int i = 0; i < NTM_ST_KEYS; i++)
        if (st->keys[i].day != INT64_MIN && st->keys[i].day < day) {
            explicit_bzero(st->keys[i].key, sizeof st->keys[i].key);
            st->keys[i].day = INT64_MIN;
        }
    st->pending++;
    return rc == SQLITE_OK ? 0 : -1;
}
