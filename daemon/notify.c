/* notify.c: talks to the service manager over NOTIFY_SOCKET (sd_notify).
 * Owns the watchdog timer, which runs on the loop so that a stuck loop stops
 * the pings and systemd restarts the daemon. No other state. */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    sd_notify(0, "WATCHDOG=1");
}

void ntm_notify_init(struct ntm_notify *n, uv_loop_t *loop)
{
    memset(n, 0, sizeof *n);
    n->enabled = getenv("NOTIFY_SOCKET") != NULL;
    uv_timer_init(loop, &n->watchdog);
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        /* ping at half the deadline, as sd_watchdog_enabled(3) advises */
        uint64_t ms = usec / 2000;
        if (ms < 1)
            ms = 1;
        uv_timer_start(&n->watchdog, on_watchdog, ms, ms);
        n->watchdog_on = true;
    }
}

static void send_status(struct ntm_notify *n, const char *prefix, const char *status)
{
    if (!n->enabled)
        return;
    char buf[512];
    snprintf(buf, sizeof buf, "%sSTATUS=%s", prefix, status);
    sd_notify(0, buf);
    snprintf(n->last_status, sizeof n->last_status, "%s", status);
}

void ntm_notify_ready(struct ntm_notify *n, const char *status)
{
    if (n->ready_sent)
        return;
    n->ready_sent = true;
    send_status(n, "READY=1\n", status);
}

void ntm_notify_status(struct ntm_notify *n, const char *status)
{
    if (strcmp(status, n->last_status) == 0)
        return;
    send_status(n, "", status);
}

void ntm_notify_reloading(struct ntm_notify *n)
{
    if (!n->enabled)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char buf[96];
    snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    sd_notify(0, buf);
}

void ntm_notify_reloaded(struct ntm_notify *n, const char *status)
{
    send_status(n, "READY=1\n", status);
}

void ntm_notify_stopping(struct ntm_notify *n)
{
    if (n->enabled)
        sd_notify(0, "STOPPING=1\nSTATUS=stopping: flushing the buffer");
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

void ntm_notify_close(struct ntm_notify *n)
{
    uv_close((uv_handle_t *)&n->watchdog, on_closed);
}
