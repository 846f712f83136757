/* SPDX-License-Identifier: GPL-3.0-or-later */
/* camera_live.c: the camera source's section of the daemon's live state
 * (state.json): per device, its stream's state, since when, its last sign of
 * life and last error. It reads the streams; it changes nothing. */
#include <cjson/cJSON.h>

#include "camera_stream.h"

static const char *state_word(const struct cam_stream *s)
{
    if (s->up)
        return "connected";
    return s->last_error[0] ? "failing" : "connecting";
}

static void add_ms(cJSON *o, const char *key, int64_t ms)
{
    cJSON_AddNumberToObject(o, key, (double)ms);
}

void ntm_cameras_live(void *cameras, struct cJSON *sources_obj)
{
    const struct ntm_cameras *c = cameras;
    if (c == NULL)
        return; /* no camera has `events:`: no section */
    cJSON *sec = cJSON_AddObjectToObject(sources_obj, "cameras");
    for (const struct cam_stream *s = c->streams; s && sec; s = s->next) {
        uint64_t oversized = s->oversized_done + (s->mp_live ? s->mp.st.oversized : 0);
        for (size_t i = 0; i < s->n_devs; i++) {
            cJSON *o = cJSON_AddObjectToObject(sec, s->devs[i].device);
            if (o == NULL)
                return;
            cJSON_AddStringToObject(o, "state", state_word(s));
            add_ms(o, "since_ms", s->since_ms);
            add_ms(o, "last_ms", s->last_wall_ms);
            if (s->last_error[0])
                cJSON_AddStringToObject(o, "last_error", s->last_error);
            else
                cJSON_AddNullToObject(o, "last_error");
            cJSON_AddStringToObject(o, "stream", s->name);
            cJSON_AddNumberToObject(o, "channel", s->devs[i].channel);
            add_ms(o, "events", (int64_t)s->devs[i].events);
            add_ms(o, "connects", (int64_t)s->connects);
            add_ms(o, "malformed", (int64_t)s->malformed);
            add_ms(o, "oversized", (int64_t)oversized);
            add_ms(o, "ignored", (int64_t)s->ignored);
        }
    }
}
