/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_retry_after.c: ntm_retry_after_ms (retry_after.c): delta-seconds, the
 * three HTTP-date forms of RFC 9110 section 5.6.7, the cap of a day, dates in
 * the past, and what is not Retry-After at all. The HTTP-date arithmetic is
 * checked against glibc's own (gmtime_r/strftime) over two centuries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "retry_after.h"

#define DAY_MS NTM_RETRY_AFTER_MAX_MS
/* Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example */
#define RFC_EXAMPLE_MS 784111777000LL
/* 2026-11-22T08:00:00Z */
#define NOW_2026_MS 1795334400000LL

static void test_delta_seconds(void)
{
    CHECK_INT(ntm_retry_after_ms(NULL, NOW_2026_MS), 0);
    CHECK_INT(ntm_retry_after_ms("", NOW_2026_MS), 0);
    CHECK_INT(ntm_retry_after_ms(" \t ", NOW_2026_MS), 0);
    CHECK_INT(ntm_retry_after_ms("0", NOW_2026_MS), 0);
    CHECK_INT(ntm_retry_after_ms("7", NOW_2026_MS), 7000);
    CHECK_INT(ntm_retry_after_ms("120", NOW_2026_MS), 120000);
    CHECK_INT(ntm_retry_after_ms(" 7 ", NOW_2026_MS), 7000);
    CHECK_INT(ntm_retry_after_ms("\t30\t", NOW_2026_MS), 30000);
    CHECK_INT(ntm_retry_after_ms("007", NOW_2026_MS), 7000);
    /* the clock plays no part in a delta */
    CHECK_INT(ntm_retry_after_ms("7", 0), 7000);
    CHECK_INT(ntm_retry_after_ms("7", -5), 7000);

    /* a day at most: the limit itself, one second more, huge, longer than any buffer */
    CHECK_INT(ntm_retry_after_ms("86400", NOW_2026_MS), DAY_MS);
    CHECK_INT(ntm_retry_after_ms("86399", NOW_2026_MS), DAY_MS - 1000);
    CHECK_INT(ntm_retry_after_ms("86401", NOW_2026_MS), DAY_MS);
    CHECK_INT(ntm_retry_after_ms("2147483648", NOW_2026_MS), DAY_MS);
    CHECK_INT(ntm_retry_after_ms("18446744073709551616", NOW_2026_MS), DAY_MS);
    char digits[301];
    memset(digits, '9', 300);
    digits[300] = '\0';
    CHECK_INT(ntm_retry_after_ms(digits, NOW_2026_MS), DAY_MS);
    digits[0] = '0'; /* 0999...: still huge */
    CHECK_INT(ntm_retry_after_ms(digits, NOW_2026_MS), DAY_MS);

    /* not delta-seconds, and not a date either */
    static const char *const garbage[] = {
        "-5",   "+5",  "1.5",   "5s",       "5 6", "0x10", "1e3",
        "soon", "7,8", "\"7\"", "Infinity", "5\n", "٣", /* an Arabic-Indic digit */
    };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
        CHECK_INT(ntm_retry_after_ms(garbage[i], NOW_2026_MS), 0);
}

static void test_http_dates(void)
{
    int64_t now = RFC_EXAMPLE_MS - 30000;
    /* the three forms of the same instant */
    CHECK_INT(ntm_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now), 30000);
    CHECK_INT(ntm_retry_after_ms("Sunday, 06-Nov-94 08:49:37 GMT", now), 30000);
    CHECK_INT(ntm_retry_after_ms("Sun Nov  6 08:49:37 1994", now), 30000);
    CHECK_INT(ntm_retry_after_ms("  Sun, 06 Nov 1994 08:49:37 GMT\t", now), 30000);
    /* milliseconds count: "now" 250 ms later leaves 29.75 s */
    CHECK_INT(ntm_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", now + 250), 29750);
    /* a two-digit day in asctime's form; more than a day ahead: a day */
    CHECK_INT(ntm_retry_after_ms("Wed Nov 16 08:49:37 1994", RFC_EXAMPLE_MS + 10 * DAY_MS - 5000),
              5000);
    CHECK_INT(ntm_retry_after_ms("Wed Nov 16 08:49:37 1994", now), DAY_MS);
    CHECK_INT(ntm_retry_after_ms("Sun Nov  6 08:50:07 1994", now), 60000);
    /* a leap second is a second */
    CHECK_INT(ntm_retry_after_ms("Sun, 06 Nov 1994 08:49:60 GMT", now), 53000);
    /* the day name is not checked against the date (RFC 9110 does not ask it) */
    CHECK_INT(ntm_retry_after_ms("Mon, 06 Nov 1994 08:49:37 GMT", now), 30000);
    /* 29 February in a leap year, and 2000 was one */
    CHECK_INT(ntm_retry_after_ms("Tue, 29 Feb 2028 00:00:10 GMT", 1835395200000LL), 10000);
    CHECK_INT(ntm_retry_after_ms("Tue, 29 Feb 2000 00:00:10 GMT", 951782400000LL), 10000);

    /* in the past, or now: no delay */
    CHECK_INT(ntm_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS), 0);
    CHECK_INT(ntm_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", RFC_EXAMPLE_MS + 1), 0);
    CHECK_INT(ntm_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", NOW_2026_MS), 0);
    CHECK_INT(ntm_retry_after_ms("Thu, 01 Jan 1970 00:00:00 GMT", NOW_2026_MS), 0);
    CHECK_INT(ntm_retry_after_ms("Sat, 01 Jan 0000 00:00:00 GMT", NOW_2026_MS), 0);
    /* far ahead: a day at most */
    CHECK_INT(ntm_retry_after_ms("Fri, 31 Dec 9999 23:59:59 GMT", NOW_2026_MS), DAY_MS);
    CHECK_INT(ntm_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 0), DAY_MS);
    /* a clock before 1970 (never the daemon's) reads as 1970 */
    CHECK_INT(ntm_retry_after_ms("Thu, 01 Jan 1970 00:00:10 GMT", -1000000), 10000);
    CHECK_INT(ntm_retry_after_ms("Thu, 01 Jan 1970 00:00:10 GMT", INT64_MIN), 10000);
    CHECK_INT(ntm_retry_after_ms("Fri, 31 Dec 9999 23:59:59 GMT", INT64_MAX), 0);

    /* RFC 850's two-digit year: never more than 50 years ahead of now (2026) */
    CHECK_INT(ntm_retry_after_ms("Sunday, 22-Nov-26 08:00:30 GMT", NOW_2026_MS), 30000);
    CHECK_INT(ntm_retry_after_ms("Sunday, 22-Nov-76 08:00:30 GMT", NOW_2026_MS), DAY_MS);
    CHECK_INT(ntm_retry_after_ms("Sunday, 22-Nov-77 08:00:30 GMT", NOW_2026_MS), 0); /* 1977 */
    CHECK_INT(ntm_retry_after_ms("Sunday, 22-Nov-25 08:00:30 GMT", NOW_2026_MS), 0); /* 2025 */
    /* ... and in 2090, "05" is 2105, not 2005 */
    CHECK_INT(ntm_retry_after_ms("Monday, 01-Jan-05 00:00:00 GMT", 3786912000000LL), DAY_MS);

    /* what is not an HTTP-date */
    static const char *const bad[] = {
        "Sun, 06 Nov 1994 08:49:37 UTC",   "Sun, 06 Nov 1994 08:49:37 gmt",
        "Sun, 06 Nov 1994 08:49:37",       "Sun, 06 Nov 1994 08:49:37 GMT x",
        "Sun, 6 Nov 1994 08:49:37 GMT",    "Sun,06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT",     "Sun, 06 nov 1994 08:49:37 GMT",
        "sun, 06 Nov 1994 08:49:37 GMT",   "Sunday, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",     "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",         "Sun Nov 06 08:49:37 1994 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT",   "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 2027 08:49:37 GMT",   "Sun, 29 Feb 2100 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",   "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",   "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",   "Xyz, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT\n", "2026-11-22T08:00:30Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t got = ntm_retry_after_ms(bad[i], now);
        if (got != 0)
            fprintf(stderr, "read \"%s\" as %lld ms\n", bad[i], (long long)got);
        CHECK_INT(got, 0);
    }
    /* a Unix time is digits: a delta of that many seconds, so a day */
    CHECK_INT(ntm_retry_after_ms("1795334430", NOW_2026_MS), DAY_MS);
}

/* Every 3rd day from 1900 to 2100, at a time of day that moves, formatted by
 * glibc in the C locale in the three forms: the delay must be exact. */
static void test_against_libc(void)
{
    int bad = 0, n = 0;
    for (int64_t t = -2208988800LL; t < 4102444800LL && bad < 5; t += 3 * 86400 + 3607) {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        char imf[64], asc[64], rfc850[64];
        strftime(imf, sizeof imf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        strftime(asc, sizeof asc, "%a %b %e %H:%M:%S %Y", &tm);
        strftime(rfc850, sizeof rfc850, "%A, %d-%b-%y %H:%M:%S GMT", &tm);
        int64_t now = t * 1000 - 12345; /* 12.345 s before it */
        int64_t a = ntm_retry_after_ms(imf, now), b = ntm_retry_after_ms(asc, now);
        /* RFC 850 reads within 50 years of now, which it is */
        int64_t c = ntm_retry_after_ms(rfc850, now);
        if (now < 0) { /* before 1970 "now" reads as 1970: all in the past */
            if (a != 0 || b != 0) {
                fprintf(stderr, "%s / %s: %lld %lld, want 0\n", imf, asc, (long long)a,
                        (long long)b);
                bad++;
            }
        } else if (a != 12345 || b != 12345 || c != 12345) {
            fprintf(stderr, "%s / %s / %s: %lld %lld %lld, want 12345\n", imf, asc, rfc850,
                    (long long)a, (long long)b, (long long)c);
            bad++;
        }
        n++;
    }
    CHECK_INT(bad, 0);
    CHECK(n > 20000);
}

int main(void)
{
    test_delta_seconds();
    test_http_dates();
    test_against_libc();
    printf("retry_after: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
