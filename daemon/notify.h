/* notify.h: the sd_notify protocol towards the service manager: READY=1,
 * STATUS=, WATCHDOG=1 from the loop when WATCHDOG_USEC asks for it,
 * RELOADING=1 and STOPPING=1. Without NOTIFY_SOCKET every call is a no-op. */
#ifndef NTM_NOTIFY_H
#define NTM_NOTIFY_H

#include <stdbool.h>
#include <uv.h>

struct ntm_notify {
    bool enabled; /* NOTIFY_SOCKET is set */
    bool ready_sent;
    uv_timer_t watchdog;
    bool watchdog_on;
    char last_status[384];
};

void ntm_notify_init(struct ntm_notify *n, uv_loop_t *loop);
void ntm_notify_ready(struct ntm_notify *n, const char *status);
/* Sends STATUS= only when the text changed. */
void ntm_notify_status(struct ntm_notify *n, const char *status);
void ntm_notify_reloading(struct ntm_notify *n);
/* READY=1 again after a reload, with a fresh status */
void ntm_notify_reloaded(struct ntm_notify *n, const char *status);
void ntm_notify_stopping(struct ntm_notify *n);
void ntm_notify_close(struct ntm_notify *n);

#endif
