/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ping.h: availability by ping. Every inventory device with an `ip` is sent
 * one ICMP echo request per round over unprivileged ICMP datagram sockets
 * (IPv4 and IPv6) on the daemon's loop, spread over the round; a reply within
 * the timeout is handed to the gate as that device's heartbeat. No threads, no
 * child processes; host names are resolved with uv_getaddrinfo. */
#ifndef NTM_PING_H
#define NTM_PING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "clock.h"
#include "log.h"
#include "source.h"

struct ntm_ping_target {
    const char *device; /* inventory id */
    const char *host;   /* IPv4 or IPv6 address, or a host name */
};

struct ntm_ping;

/* Opens the two ICMP sockets. When the system forbids unprivileged ICMP
 * (net.ipv4.ping_group_range), logs once what to change and returns a ping
 * that pings nothing (its devices say so in ntm_ping_live). `round_ms`, when
 * not 0, replaces interval_s * 1000 as the real time between a device's
 * probes (tests only: the heartbeat still says interval_s). -1: out of memory. */
int ntm_ping_new(struct ntm_ping **out, uv_loop_t *loop, struct ntm_log *log,
                 struct ntm_clock *clock, int64_t round_ms, ntm_source_emit_fn emit,
                 void *emit_arg);
/* Sets the devices and timings (at start and on SIGHUP): devices whose host is
 * unchanged keep their state; the schedule starts again. Strings are copied.
 * 0, or -1 when out of memory (the old list stays). */
int ntm_ping_configure(struct ntm_ping *p, const struct ntm_ping_target *t, size_t n,
                       int interval_s, int timeout_ms);
/* Whether the sockets could be opened. */
bool ntm_ping_enabled(const struct ntm_ping *p);
/* The "ping" section of the live state: per device {state, since_ms, last_ms,
 * last_error, host}; state is "replying", "no_reply", "resolving",
 * "unresolved", "waiting" (no probe answered or missed yet) or "disabled". */
void ntm_ping_live(void *ping, cJSON *sources);
/* Closes the sockets and timers; frees once the loop has run their closes. */
void ntm_ping_free(struct ntm_ping *p);

#endif
