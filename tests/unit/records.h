/* SPDX-License-Identifier: GPL-3.0-or-later */
/* records.h: sample records for the unit tests of what stores records (the
 * tail journal, the store): sample_record(i) is one of seven shapes, one per
 * channel and event the store keeps columns for, each on its own device
 * "dev-NN"; same_record() compares what a record of that shape holds. */
#ifndef NTM_TEST_RECORDS_H
#define NTM_TEST_RECORDS_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "record.h"

#define SAMPLE_SHAPES 7

static void sample_record(struct ntm_record *r, int i)
{
    memset(r, 0, sizeof *r);
    r->ts = 1760000000 + i;
    r->recv_ms = (1760000000LL + i) * 1000 + 7;
    snprintf(r->device, sizeof r->device, "dev-%02d", i);
    switch (i % SAMPLE_SHAPES) {
    case 0:
        r->kind = NTM_KIND_SPEAKER;
        r->channel = NTM_CH_EVENT;
        r->event = NTM_EV_BROADCAST;
        r->u.broadcast.start = r->ts - 60;
        r->u.broadcast.duration_s = 59.5;
        r->u.broadcast.result = NTM_RESULT_INTERRUPTED;
        r->u.broadcast.priority = NTM_PRIO_EMERGENCY;
        r->u.broadcast.source = NTM_SRC_PROVINCE;
        snprintf(r->u.broadcast.program, sizeof r->u.broadcast.program, "Bản tin %d", i);
        break;
    case 1:
        r->kind = NTM_KIND_WIFI;
        r->channel = NTM_CH_STATS;
        r->u.wifi.clients = i;
        r->u.wifi.new_sessions = 2 * i + 1;
        r->u.wifi.rx_bytes = 123456789;
        r->u.wifi.tx_bytes = 987654321012LL;
        r->u.wifi.n_macs = (uint32_t)i;
        for (int k = 0; k < i; k++)
            r->u.wifi.mac_hash[k] = 0x1122334455667788ull + (uint64_t)k;
        break;
    case 2:
        r->kind = NTM_KIND_CAMERA;
        r->channel = NTM_CH_HEARTBEAT;
        r->u.heartbeat.interval_s = 60;
        r->u.heartbeat.uptime_s = i % 3 ? 3600 + i : -1;
        break;
    case 3:
        r->kind = NTM_KIND_CAMERA;
        r->channel = NTM_CH_STATE;
        r->flags = NTM_REC_CLOCK_FALLBACK;
        r->u.state.online = true;
        break;
    case 4:
        r->kind = NTM_KIND_SPEAKER;
        r->channel = NTM_CH_EVENT;
        r->event = NTM_EV_FAULT;
        r->flags = NTM_REC_LATE;
        r->u.fault.fault = NTM_FAULT_FAN;
        break;
    case 5:
        r->kind = NTM_KIND_CAMERA;
        r->channel = NTM_CH_STATS;
        r->u.camera_stats.recording = true;
        r->u.camera_stats.storage_free_pct = i % 2 ? 42.25 : -1;
        break;
    default:
        r->kind = NTM_KIND_CAMERA;
        r->channel = NTM_CH_EVENT;
        r->event = NTM_EV_MOTION;
        r->u.camera_event.duration_s = i % 2 ? 12.5 : -1;
        break;
    }
}

static bool same_event(const struct ntm_record *a, const struct ntm_record *b)
{
    if (a->event == NTM_EV_BROADCAST)
        return a->u.broadcast.start == b->u.broadcast.start &&
               a->u.broadcast.duration_s == b->u.broadcast.duration_s &&
               a->u.broadcast.result == b->u.broadcast.result &&
               a->u.broadcast.priority == b->u.broadcast.priority &&
               a->u.broadcast.source == b->u.broadcast.source &&
               strcmp(a->u.broadcast.program, b->u.broadcast.program) == 0;
    if (a->event == NTM_EV_FAULT)
        return a->u.fault.fault == b->u.fault.fault;
    return a->u.camera_event.duration_s == b->u.camera_event.duration_s;
}

static bool same_record(const struct ntm_record *a, const struct ntm_record *b)
{
    if (a->ts != b->ts || a->recv_ms != b->recv_ms || a->kind != b->kind ||
        a->channel != b->channel || a->event != b->event || a->flags != b->flags ||
        a->village != b->village || strcmp(a->device, b->device) != 0)
        return false;
    switch (a->channel) {
    case NTM_CH_EVENT:
        return same_event(a, b);
    case NTM_CH_STATS:
        if (a->kind == NTM_KIND_CAMERA)
            return a->u.camera_stats.recording == b->u.camera_stats.recording &&
                   a->u.camera_stats.storage_free_pct == b->u.camera_stats.storage_free_pct;
        return a->u.wifi.clients == b->u.wifi.clients &&
               a->u.wifi.new_sessions == b->u.wifi.new_sessions &&
               a->u.wifi.rx_bytes == b->u.wifi.rx_bytes &&
               a->u.wifi.tx_bytes == b->u.wifi.tx_bytes && a->u.wifi.n_macs == b->u.wifi.n_macs &&
               memcmp(a->u.wifi.mac_hash, b->u.wifi.mac_hash, a->u.wifi.n_macs * 8) == 0;
    case NTM_CH_HEARTBEAT:
        return a->u.heartbeat.interval_s == b->u.heartbeat.interval_s &&
               a->u.heartbeat.uptime_s == b->u.heartbeat.uptime_s;
    default:
        return a->u.state.online == b->u.state.online;
    }
}

#endif
