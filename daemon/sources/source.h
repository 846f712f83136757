/* SPDX-License-Identifier: GPL-3.0-or-later */
/* source.h: what every source (camera event streams now; ping and MQTT
 * mappings later) hands to the daemon's one gate: a device-contract message,
 * as the device would have published it on ntm/v1/<village>/<kind>/<device>/<channel>.
 * A source never writes rows, alerts or batches itself. */
#ifndef NTM_SOURCE_H
#define NTM_SOURCE_H

#include <stddef.h>

#include "record.h"

/* The payload carries no `ts`: the gateway's receive time is the message's
 * time, and that is the source's rule, not a `clock_fallback`. */
#define NTM_SOURCE_RECV_TIME 0x1u

/* One message for `device` (an inventory id; its village and kind come from
 * the inventory) on channel `ch`: `payload` is `len` bytes of JSON object text
 * (not NUL-terminated for the callee's purposes), valid only during the call.
 * The gate validates it exactly as an MQTT message of that topic. */
typedef void (*ntm_source_emit_fn)(void *arg, const char *device, enum ntm_channel ch,
                                   const char *payload, size_t len, unsigned flags);

/* The daemon's gate (daemon/gate.c), an ntm_source_emit_fn: `daemon` is the
 * struct ntm_daemon. The device must be in the inventory (`devices:`); its
 * village and kind come from there, and the message goes on exactly as an MQTT
 * message of ntm/v1/<village>/<kind>/<device>/<channel> would: validation,
 * rejection reasons and quarantine, buffer, windows, alerts. A device not in
 * the inventory is rejected as bad_topic, naming the device. Never blocks;
 * the payload is not kept after the call. Hand it to a source with the
 * daemon as `arg`: ntm_cameras_new(..., ntm_gate_emit, daemon). */
void ntm_gate_emit(void *daemon, const char *device, enum ntm_channel ch, const char *payload,
                   size_t len, unsigned flags);

#endif
