/* SPDX-License-Identifier: GPL-3.0-or-later */
/* clockshim.c: an LD_PRELOAD shim for the clock fault test (test_clock.py).
 *
 * It moves the process's wall clock and says whether the kernel clock is
 * synchronized, as a board without a battery sees it before and after NTP:
 *
 *   - CLOCK_REALTIME and CLOCK_REALTIME_COARSE (clock_gettime, clock_gettime64
 *     where it exists), gettimeofday(), time() and timespec_get(TIME_UTC) are
 *     shifted by an offset; CLOCK_MONOTONIC and every other clock are not;
 *   - adjtimex(), clock_adjtime(CLOCK_REALTIME), ntp_gettime() and
 *     ntp_gettimex() that only read (modes == 0) report the clock
 *     unsynchronized (STA_UNSYNC set, TIME_ERROR returned) or synchronized
 *     (STA_UNSYNC clear, TIME_OK), with the shifted time (ntp_gettime is
 *     ntp_gettimex, the symbol <sys/timex.h> redirects it to). Calls that set
 *     something go to the kernel unchanged.
 *
 * Both come from a control file named by the environment variable
 * NTM_CLOCKSHIM, one line "OFFSET_S SYNCED" (e.g. "-259200 0": three days
 * behind, unsynchronized; OFFSET_S may have a fraction), or "UNIX_S SYNCED frozen":
 * the wall clock stands still at UNIX_S until the file changes (test_ping steps it). The file is
 * read again at most every 50 ms (by CLOCK_MONOTONIC, which is never shifted), so a test changes
 * the clock of a running process by rewriting it (write a new file and rename it over the old one).
 * Without NTM_CLOCKSHIM, or before the file exists, nothing is changed; a file that does not parse
 * keeps the last values. Each change is logged once to stderr ("ntm-clockshim: ...").
 *
 * Thread-safe (atomics; one thread at a time re-reads the file), async-signal
 * tolerant (no locks, no malloc after start), and it never calls the
 * functions it wraps through their public names. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#define REREAD_NS (50 * 1000000LL)
#define NS 1000000000LL

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);
typedef int (*gettimeofday_fn)(struct timeval *, void *);
typedef int (*adjtimex_fn)(struct timex *);
typedef int (*clock_adjtime_fn)(clockid_t, struct timex *);

static clock_gettime_fn real_clock_gettime;
static gettimeofday_fn real_gettimeofday;
static adjtimex_fn real_adjtimex;
static clock_adjtime_fn real_clock_adjtime;

static char ctl_path[4096];
static atomic_bool active;                     /* a control file was read */
static atomic_llong offset_ns;                 /* added to the wall clock */
static atomic_int synced = 1;                  /* what adjtimex reports while active */
static atomic_bool frozen;                     /* "frozen": the wall clock stands at OFFSET_S */
static atomic_llong next_read_ns;              /* CLOCK_MONOTONIC ns of the next look */
static atomic_bool reading;                    /* one reader at a time */
static atomic_llong logged_offset = LLONG_MIN; /* the last state logged */
static atomic_int logged_synced = -1;

/* dlsym's object pointer as a function pointer, without a cast ISO C frowns on */
typedef void (*any_fn)(void);
static any_fn next_sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    any_fn f;
    memcpy(&f, &p, sizeof f);
    return f;
}

static int raw_clock_gettime(clockid_t id, struct timespec *ts)
{
    if (real_clock_gettime == NULL)
        real_clock_gettime = (clock_gettime_fn)next_sym("clock_gettime");
    if (real_clock_gettime != NULL)
        return real_clock_gettime(id, ts);
    return (int)syscall(SYS_clock_gettime, id, ts);
}

__attribute__((constructor)) static void shim_init(void)
{
    real_clock_gettime = (clock_gettime_fn)next_sym("clock_gettime");
    real_gettimeofday = (gettimeofday_fn)next_sym("gettimeofday");
    real_adjtimex = (adjtimex_fn)next_sym("adjtimex");
    real_clock_adjtime = (clock_adjtime_fn)next_sym("clock_adjtime");
    const char *p = getenv("NTM_CLOCKSHIM");
    if (p != NULL && *p != '\0' && strlen(p) < sizeof ctl_path)
        memcpy(ctl_path, p, strlen(p) + 1);
}

static void note(long long off, int sync)
{
    /* only the thread that holds `reading` gets here: plain loads and stores will do */
    if (atomic_load(&logged_offset) == off && atomic_load(&logged_synced) == sync)
        return;
    atomic_store(&logged_offset, off);
    atomic_store(&logged_synced, sync);
    char line[160];
    int n =
        snprintf(line, sizeof line, "ntm-clockshim: wall clock %+.3f s, %s (pid %d)\n",
                 (double)off / (double)NS, sync ? "synchronized" : "unsynchronized", (int)getpid());
    if (n > 0) {
        ssize_t w = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
}

/* Parses "OFFSET_S SYNCED" without strtod (locale, malloc-free): [-+]digits[.digits] int */
static bool parse(const char *s, long long *off, int *sync, bool *still)
{
    *still = false;
    while (*s == ' ' || *s == '\t')
        s++;
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (*s < '0' || *s > '9')
        return false;
    long long sec = 0, frac = 0, scale = NS;
    while (*s >= '0' && *s <= '9') {
        if (sec > 1000000000000LL)
            return false;
        sec = sec * 10 + (*s++ - '0');
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            if (scale > 1) {
                scale /= 10;
                frac += (*s - '0') * scale;
            }
            s++;
        }
    }
    if (*s != ' ' && *s != '\t')
        return false;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '0' && *s != '1')
        return false;
    *sync = *s - '0';
    s++;
    if (*s == ' ' && strncmp(s + 1, "frozen", 6) == 0) {
        *still = true;
        s += 7;
    }
    if (*s != '\0' && *s != '\n' && *s != ' ' && *s != '\r')
        return false;
    long long v = sec * NS + frac;
    *off = neg ? -v : v;
    return true;
}

static void refresh(void)
{
    if (ctl_path[0] == '\0')
        return;
    struct timespec m;
    if (raw_clock_gettime(CLOCK_MONOTONIC, &m) != 0)
        return;
    long long now = (long long)m.tv_sec * NS + m.tv_nsec;
    if (now < atomic_load(&next_read_ns))
        return;
    bool expected = false;
    if (!atomic_compare_exchange_strong(&reading, &expected, true))
        return; /* another thread reads it now; use the values we have */
    atomic_store(&next_read_ns, now + REREAD_NS);
    int saved = errno;
    int fd = open(ctl_path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char buf[128];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        long long off;
        int sync;
        bool still;
        if (n > 0) {
            buf[n] = '\0';
            if (parse(buf, &off, &sync, &still)) {
                atomic_store(&frozen, still);
                atomic_store(&offset_ns, off);
                atomic_store(&synced, sync);
                atomic_store(&active, true);
                note(off, sync);
            }
        }
    }
    errno = saved;
    atomic_store(&reading, false);
}

static bool shifted_clock(clockid_t id)
{
    return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE;
}

static void shift_ts(struct timespec *ts)
{
    long long off = atomic_load(&offset_ns);
    long long t = atomic_load(&frozen) ? off : (long long)ts->tv_sec * NS + ts->tv_nsec + off;
    long long sec = t / NS, ns = t % NS;
    if (ns < 0) {
        ns += NS;
        sec--;
    }
    ts->tv_sec = (time_t)sec;
    ts->tv_nsec = (long)ns;
}

static void shift_tv(struct timeval *tv)
{
    struct timespec ts = {tv->tv_sec, (long)tv->tv_usec * 1000};
    shift_ts(&ts);
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc = raw_clock_gettime(id, ts);
    if (rc == 0 && shifted_clock(id)) {
        refresh();
        if (atomic_load(&active))
            shift_ts(ts);
    }
    return rc;
}

#ifdef __USE_TIME_BITS64
/* 32-bit ABIs with a 64-bit time_t redirect clock_gettime here */
int __clock_gettime64(clockid_t id, struct timespec *ts)
{
    return clock_gettime(id, ts);
}
#endif

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    if (real_gettimeofday == NULL)
        real_gettimeofday = (gettimeofday_fn)next_sym("gettimeofday");
    int rc = real_gettimeofday != NULL ? real_gettimeofday(tv, tz)
                                       : (int)syscall(SYS_gettimeofday, tv, tz);
    if (rc == 0) {
        refresh();
        if (atomic_load(&active))
            shift_tv(tv);
    }
    return rc;
}

time_t time(time_t *out)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    if (out != NULL)
        *out = ts.tv_sec;
    return ts.tv_sec;
}

int timespec_get(struct timespec *ts, int base)
{
    if (base != TIME_UTC || clock_gettime(CLOCK_REALTIME, ts) != 0)
        return 0;
    return base;
}

/* A read-only query gets the shim's answer; anything that sets goes to the kernel. */
static int fake_status(struct timex *tx, int rc)
{
    refresh();
    if (!atomic_load(&active) || rc < 0)
        return rc;
    if (tx->status & STA_NANO) { /* tv_usec holds nanoseconds */
        struct timespec ts = {tx->time.tv_sec, (long)tx->time.tv_usec};
        shift_ts(&ts);
        tx->time.tv_sec = ts.tv_sec;
        tx->time.tv_usec = ts.tv_nsec;
    } else {
        shift_tv(&tx->time);
    }
    if (atomic_load(&synced)) {
        tx->status &= ~STA_UNSYNC;
        return TIME_OK;
    }
    tx->status |= STA_UNSYNC;
    return TIME_ERROR;
}

int adjtimex(struct timex *tx)
{
    if (real_adjtimex == NULL)
        real_adjtimex = (adjtimex_fn)next_sym("adjtimex");
    bool query = tx->modes == 0;
    int rc = real_adjtimex != NULL ? real_adjtimex(tx) : (int)syscall(SYS_adjtimex, tx);
    return query ? fake_status(tx, rc) : rc;
}

/* glibc's other name for it */
int __adjtimex(struct timex *tx)
{
    return adjtimex(tx);
}

int ntp_adjtime(struct timex *tx)
{
    return adjtimex(tx);
}

int clock_adjtime(clockid_t id, struct timex *tx)
{
    if (real_clock_adjtime == NULL)
        real_clock_adjtime = (clock_adjtime_fn)next_sym("clock_adjtime");
    bool query = tx->modes == 0 && id == CLOCK_REALTIME;
    int rc = real_clock_adjtime != NULL ? real_clock_adjtime(id, tx)
                                        : (int)syscall(SYS_clock_adjtime, id, tx);
    return query ? fake_status(tx, rc) : rc;
}

static int ntp_from_timex(struct ntptimeval *nt, struct timex *tx, int rc)
{
    nt->time = tx->time;
    nt->maxerror = tx->maxerror;
    nt->esterror = tx->esterror;
    nt->tai = tx->tai;
    return rc;
}

/* <sys/timex.h> redirects ntp_gettime() to this symbol */
int ntp_gettimex(struct ntptimeval *nt)
{
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    int rc = adjtimex(&tx);
    return ntp_from_timex(nt, &tx, rc);
}
