/* record.c: the stable names of the record enums (as the device contract
 * spells them), the id rules, and the local (UTC+07:00) day number of a Unix
 * time. Pure functions; no allocation. */
#include <stdint.h>
#include <string.h>

#include "record.h"

static const char *const kind_names[NTM_KIND_COUNT] = {"speaker", "camera", "wifi"};
static const char *const channel_names[NTM_CH_COUNT] = {"state", "heartbeat", "event", "stats"};
static const char *const event_names[NTM_EV_COUNT] = {
    "", "broadcast", "fault", "motion", "tamper", "video_loss", "storage_error"};
static const char *const result_names[NTM_RESULT_COUNT] = {"played", "interrupted", "failed"};
static const char *const priority_names[NTM_PRIO_COUNT] = {"normal", "priority", "emergency"};
static const char *const source_names[NTM_SRC_COUNT] = {"commune", "province", "national", "other"};
static const char *const fault_names[NTM_FAULT_COUNT] = {"amplifier", "power", "fan", "network",
                                                         "other"};

#define NAME_OF(table, v)                                                                          \
    ((unsigned)(v) < sizeof(table) / sizeof((table)[0]) ? (table)[(unsigned)(v)] : "unknown")

const char *ntm_kind_name(enum ntm_kind k)
{
    return NAME_OF(kind_names, k);
}

int ntm_kind_parse(const char *s)
{
    if (s == NULL)
        return -1;
    for (int i = 0; i < NTM_KIND_COUNT; i++)
        if (strcmp(s, kind_names[i]) == 0)
            return i;
    return -1;
}

const char *ntm_channel_name(enum ntm_channel c)
{
    return NAME_OF(channel_names, c);
}

const char *ntm_event_name(enum ntm_event e)
{
    return NAME_OF(event_names, e);
}

const char *ntm_result_name(enum ntm_result r)
{
    return NAME_OF(result_names, r);
}

const char *ntm_priority_name(enum ntm_priority p)
{
    return NAME_OF(priority_names, p);
}

const char *ntm_source_name(enum ntm_source s)
{
    return NAME_OF(source_names, s);
}

const char *ntm_fault_name(enum ntm_fault f)
{
    return NAME_OF(fault_names, f);
}

int64_t ntm_local_day(int64_t unix_s)
{
    /* floor((unix_s + offset) / 86400) without overflowing near INT64_MAX and
     * rounding towards minus infinity for times before 1970. */
    int64_t day = unix_s / 86400, rem = unix_s % 86400;
    if (rem < 0) {
        rem += 86400;
        day--;
    }
    if (rem + NTM_TZ_OFFSET_S >= 86400)
        day++;
    return day;
}

/* Character classes of ids as 256-bit sets: bit c & 63 of word c >> 6. */
#define BIT(c) (UINT64_C(1) << ((c)&63))
#define RANGE(lo, hi) (((UINT64_C(2) << ((hi)&63)) - 1) & ~(BIT(lo) - 1)) /* same word */
static const uint64_t village_chars[4] = {RANGE('0', '9') | BIT('-'), RANGE('a', 'z'), 0, 0};
static const uint64_t device_chars[4] = {RANGE('0', '9') | BIT('-') | BIT('.'),
                                         RANGE('a', 'z') | RANGE('A', 'Z') | BIT('_'), 0, 0};

static size_t span(const uint64_t set[4], const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && (set[(unsigned char)s[i] >> 6] >> ((unsigned char)s[i] & 63) & 1) != 0)
        i++;
    return i;
}

size_t ntm_village_id_span(const char *s, size_t len)
{
    return s ? span(village_chars, s, len) : 0;
}

size_t ntm_device_id_span(const char *s, size_t len)
{
    return s ? span(device_chars, s, len) : 0;
}

bool ntm_valid_village_id(const char *s, size_t len)
{
    return len >= 1 && len <= NTM_VILLAGE_ID_MAX && ntm_village_id_span(s, len) == len;
}

bool ntm_valid_device_id(const char *s, size_t len)
{
    return len >= 1 && len <= NTM_DEVICE_ID_MAX && ntm_device_id_span(s, len) == len;
}

bool ntm_valid_gateway_id(const char *s, size_t len)
{
    return len >= 1 && len <= NTM_GATEWAY_ID_MAX && ntm_device_id_span(s, len) == len;
}

size_t ntm_id_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}
