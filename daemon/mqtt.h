/* mqtt.h: the connection to the broker, driven by the daemon's libuv loop
 * (socket in a uv_poll_t, housekeeping on a uv_timer_t, never a libmosquitto
 * thread). Subscribes to ntm/v1/# at QoS 1 in a persistent session, reconnects
 * with capped exponential backoff, and hands each message to a callback. */
#ifndef NTM_MQTT_H
#define NTM_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "log.h"

#define NTM_MQTT_TOPIC "ntm/v1/#"

struct ntm_mqtt;

struct ntm_mqtt_callbacks {
    void *arg;
    /* one message; topic is NUL-terminated, payload is not; mid is the
     * broker's packet id of a QoS 1 or 2 delivery (the same when the broker
     * sends a message again), 0 for QoS 0 */
    void (*message)(void *arg, const char *topic, const void *payload, size_t len, int mid);
    /* the subscription is made (true) or the connection is lost (false) */
    void (*state)(void *arg, bool subscribed);
    /* connected, to a session the broker kept (true) or a new one (false:
     * nothing of before can be delivered again); may be NULL */
    void (*session)(void *arg, bool present);
};

int ntm_mqtt_start(struct ntm_mqtt **out, uv_loop_t *loop, const struct ntm_config *cfg,
                   struct ntm_log *log, const struct ntm_mqtt_callbacks *cb, char *err,
                   size_t errlen);
bool ntm_mqtt_subscribed(const struct ntm_mqtt *m);
/* The mappings' topic filters, subscribed at QoS 1 besides the device contract's
 * (at each connection; on a change at once: the filters gone are unsubscribed).
 * 0, or -1 when out of memory (the old ones stay). */
int ntm_mqtt_set_filters(struct ntm_mqtt *m, const char *const *filters, size_t n);

/* The connection as the live state and STATUS= show it. */
enum ntm_broker_state { NTM_BROKER_CONNECTING, NTM_BROKER_CONNECTED, NTM_BROKER_DOWN };
struct ntm_mqtt_info {
    enum ntm_broker_state state;
    int64_t since_mono_ms;  /* when it entered that state (clock.h monotonic) */
    const char *last_error; /* the last failure, NULL when none since connected */
};
void ntm_mqtt_info(const struct ntm_mqtt *m, struct ntm_mqtt_info *out);
const char *ntm_broker_state_name(enum ntm_broker_state s);
/* Pause: disconnect cleanly and stay away, so that the broker keeps queuing our
 * messages in the persistent session (used while the buffer cannot write).
 * Resume: connect again. Both idempotent. */
void ntm_mqtt_pause(struct ntm_mqtt *m);
void ntm_mqtt_resume(struct ntm_mqtt *m);
/* Stops reading, disconnects cleanly and frees; `done` runs once the handles
 * are closed. Safe on NULL (then `done` is not called). */
void ntm_mqtt_stop(struct ntm_mqtt *m);

#endif
