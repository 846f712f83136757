/* SPDX-License-Identifier: GPL-3.0-or-later */
/* retry_after.c: Retry-After (RFC 9110 section 10.2.3) to a delay in ms:
 * delta-seconds, or an HTTP-date (section 5.6.7) in its three forms. Reads no
 * clock and keeps no state: the caller passes "now". */
#include "retry_after.h"

#include <stdbool.h>
#include <string.h>

static const char *const day_names[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const day_names_long[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                              "Friday", "Saturday", "Sunday"};
static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
#define LAST_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

/* Each reader takes what it matches from *p and moves *p past it. */
static bool lit(const char **p, const char *s)
{
    size_t n = strlen(s);
    if (strncmp(*p, s, n) != 0)
        return false;
    *p += n;
    return true;
}

static bool num(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool day_name(const char **p, const char *const names[7])
{
    for (int i = 0; i < 7; i++)
        if (lit(p, names[i]))
            return true;
    return false;
}

static bool month(const char **p, int *out)
{
    for (int i = 0; i < 12; i++) {
        if (strncmp(*p, months + 3 * i, 3) == 0) {
            *p += 3;
            *out = i + 1;
            return true;
        }
    }
    return false;
}

/* time-of-day = hour ":" minute ":" second */
static bool time_of_day(const char **p, int *h, int *m, int *s)
{
    return num(p, 2, h) && lit(p, ":") && num(p, 2, m) && lit(p, ":") && num(p, 2, s);
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The Gregorian year of Unix time ms >= 0 (the inverse of days_from_civil). */
static int year_of(int64_t ms)
{
    int64_t z = ms / 86400000 + 719468;
    int64_t era = z / 146097, doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153; /* 0 = March ... 11 = February */
    return (int)(era * 400 + yoe + (mp >= 10));
}

/* An HTTP-date as Unix ms, or false. */
static bool http_date(const char *p, int64_t now_ms, int64_t *out)
{
    int d = 0, mo = 0, y = 0, h = 0, mi = 0, s = 0;
    const char *q = p;
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    bool ok = day_name(&q, day_names) && lit(&q, ", ") && num(&q, 2, &d) && lit(&q, " ") &&
              month(&q, &mo) && lit(&q, " ") && num(&q, 4, &y) && lit(&q, " ") &&
              time_of_day(&q, &h, &mi, &s) && lit(&q, " GMT") && *q == '\0';
    if (!ok) { /* rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT */
        q = p;
        ok = day_name(&q, day_names_long) && lit(&q, ", ") && num(&q, 2, &d) && lit(&q, "-") &&
             month(&q, &mo) && lit(&q, "-") && num(&q, 2, &y) && lit(&q, " ") &&
             time_of_day(&q, &h, &mi, &s) && lit(&q, " GMT") && *q == '\0';
        if (ok) { /* never more than 50 years ahead (RFC 9110 section 5.6.7) */
            int now_y = year_of(now_ms);
            y += now_y - now_y % 100;
            if (y > now_y + 50)
                y -= 100;
            else if (y <= now_y - 50)
                y += 100;
        }
    }
    if (!ok) { /* asctime-date: Sun Nov  6 08:49:37 1994 */
        q = p;
        ok = day_name(&q, day_names) && lit(&q, " ") && month(&q, &mo) && lit(&q, " ") &&
             (lit(&q, " ") ? num(&q, 1, &d) : num(&q, 2, &d)) && lit(&q, " ") &&
             time_of_day(&q, &h, &mi, &s) && lit(&q, " ") && num(&q, 4, &y) && *q == '\0';
    }
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!ok || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 || mi > 59 || s > 60)
        return false;
    *out = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL + s * 1000LL;
    return true;
}

int64_t ntm_retry_after_ms(const char *value, int64_t now_ms)
{
    if (value == NULL)
        return 0;
    if (now_ms < 0) /* a clock before 1970 (or after 9999) is read as the nearest end */
        now_ms = 0;
    else if (now_ms > LAST_MS)
        now_ms = LAST_MS;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t len = strlen(value);
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len == 0)
        return 0;

    size_t n_digits = 0;
    while (n_digits < len && value[n_digits] >= '0' && value[n_digits] <= '9')
        n_digits++;
    if (n_digits == len) { /* delta-seconds, of any length */
        int64_t sec = 0;
        for (size_t i = 0; i < len && sec <= NTM_RETRY_AFTER_MAX_MS / 1000; i++)
            sec = sec * 10 + (value[i] - '0');
        return sec * 1000 > NTM_RETRY_AFTER_MAX_MS ? NTM_RETRY_AFTER_MAX_MS : sec * 1000;
    }
    char buf[40]; /* the longest HTTP-date, "Wednesday, 09-Nov-94 08:49:37 GMT", has 33 */
    if (len >= sizeof buf)
        return 0;
    memcpy(buf, value, len);
    buf[len] = '\0';
    int64_t when;
    if (!http_date(buf, now_ms, &when) || when <= now_ms)
        return 0;
    return when - now_ms > NTM_RETRY_AFTER_MAX_MS ? NTM_RETRY_AFTER_MAX_MS : when - now_ms;
}
