/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ctl_cameras.c: `ntmctl devices`' part on cameras' event streams, from the
 * live state the daemon writes (live_state.h): printed as a table, or added
 * to the JSON. It opens no database and changes nothing. */
#include "ctl_cameras.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "i18n.h"
#include "live_state.h"
#include "record.h"

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

cJSON *ntm_ctl_live(const char *storage_path, bool *stale, char *path, size_t pathlen)
{
    return ntm_live_read(NULL, storage_path, wall_ms(), stale, path, pathlen);
}

static const cJSON *cameras_of(const cJSON *live)
{
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(live, "sources");
    return cJSON_GetObjectItemCaseSensitive(src, "cameras");
}

void ntm_ctl_cameras_json(const cJSON *live, bool stale, cJSON *list)
{
    const cJSON *cams = cameras_of(live), *d;
    cJSON_ArrayForEach(d, list)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(d, "device");
        const cJSON *st =
            cJSON_IsString(name) ? cJSON_GetObjectItemCaseSensitive(cams, name->valuestring) : NULL;
        if (st == NULL)
            continue;
        cJSON *copy = cJSON_Duplicate(st, 1);
        if (copy && stale)
            cJSON_ReplaceItemInObjectCaseSensitive(copy, "state", cJSON_CreateString("unknown"));
        if (copy)
            cJSON_AddItemToObject((cJSON *)d, "stream", copy);
    }
}

/* "2026-11-22 15:00:07" in Vietnam time, or "-". */
static const char *local_ms(const cJSON *o, const char *key, char *buf, size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || v->valuedouble <= 0)
        return "-";
    time_t t = (time_t)(v->valuedouble / 1000) + NTM_TZ_OFFSET_S;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

static const char *text_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

void ntm_ctl_cameras_print(const cJSON *live, bool stale, const char *path)
{
    const cJSON *cams = cameras_of(live);
    if (cJSON_GetArraySize(cams) == 0)
        return;
    printf(stale ? _("\nCamera event streams (from %s; the daemon is not running: as it "
                     "last wrote them):\n")
                 : _("\nCamera event streams (from %s):\n"),
           path);
    printf("%-24s %-28s %-10s %-19s  %-19s  %s\n", _("DEVICE"), _("STREAM"), _("STATE"),
           _("SINCE (+07:00)"), _("LAST HEARD (+07:00)"), _("LAST ERROR"));
    const cJSON *d;
    cJSON_ArrayForEach(d, cams)
    {
        char since[32], last[32];
        printf("%-24s %-28s %-10s %-19s  %-19s  %s\n", d->string, text_of(d, "stream"),
               stale ? "unknown" : text_of(d, "state"),
               local_ms(d, "since_ms", since, sizeof since),
               local_ms(d, "last_ms", last, sizeof last), text_of(d, "last_error"));
    }
}
