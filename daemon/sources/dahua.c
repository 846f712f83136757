/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dahua.c: reads one part of a Dahua eventManager attach stream ("Code=...;
 * action=...;index=..." lines, or "Heartbeat") and maps its event codes onto
 * the device contract's camera events. The JSON after "data=" is never read.
 * Holds no state between parts; reads only the `len` bytes it is given. */
#include "dahua.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

struct span {
    const char *p;
    size_t n;
};

static struct span trimmed(const char *p, size_t n)
{
    while (n > 0 && isspace((unsigned char)*p))
        p++, n--;
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        n--;
    return (struct span){p, n};
}

static bool span_is(struct span s, const char *word)
{
    size_t wl = strlen(word);
    return s.n == wl && strncasecmp(s.p, word, wl) == 0;
}

/* The device contract's mapping of Dahua event codes. */
static enum ntm_event map_code(struct span c)
{
    static const struct {
        const char *name;
        enum ntm_event ev;
    } map[] = {
        {"VideoLoss", NTM_EV_VIDEO_LOSS},          {"VideoBlind", NTM_EV_TAMPER},
        {"StorageFailure", NTM_EV_STORAGE_ERROR},  {"StorageNotExist", NTM_EV_STORAGE_ERROR},
        {"StorageLowSpace", NTM_EV_STORAGE_ERROR}, {"VideoMotion", NTM_EV_MOTION},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (span_is(c, map[i].name))
            return map[i].ev;
    return NTM_EV_NONE;
}

/* One "Code=...;action=...;index=..." line (p[0..n)): 1 and *out, or 0 and why. */
static int read_line(const char *p, size_t n, struct ntm_cam_msg *out, char *why, size_t whylen)
{
    struct span code = {0}, action = {0}, index = {0};
    bool has_code = false, has_action = false, has_index = false;
    const char *e = p + n;
    while (p < e) {
        const char *semi = memchr(p, ';', (size_t)(e - p));
        const char *end = semi ? semi : e;
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq) {
            struct span k = trimmed(p, (size_t)(eq - p));
            struct span v = trimmed(eq + 1, (size_t)(end - eq - 1));
            if (span_is(k, "data"))
                break; /* JSON follows, and may hold ';' itself */
            if (span_is(k, "Code") && !has_code)
                code = v, has_code = true;
            else if (span_is(k, "action") && !has_action)
                action = v, has_action = true;
            else if (span_is(k, "index") && !has_index)
                index = v, has_index = true;
        }
        p = semi ? semi + 1 : e;
    }
    if (!has_code || code.n == 0) {
        ntm_cam_fail(why, whylen, "an event line has an empty Code");
        return 0;
    }
    memset(out, 0, sizeof *out);
    size_t cl = code.n < NTM_CAM_CODE_MAX ? code.n : NTM_CAM_CODE_MAX;
    for (size_t i = 0; i < cl; i++) /* kept for counts and logs: printable only */
        out->code[i] = isprint((unsigned char)code.p[i]) ? code.p[i] : '?';
    out->code[cl] = '\0';
    out->event = map_code(code);
    out->channel = 1;
    if (out->event == NTM_EV_NONE) {
        out->kind = NTM_CAM_IGNORED;
        return 1;
    }
    if (has_index) { /* 0-based on the wire; channels are 1-based */
        int v = 0;
        if (index.n == 0 || index.n > 4)
            goto bad_index;
        for (size_t i = 0; i < index.n; i++) {
            if (!isdigit((unsigned char)index.p[i]))
                goto bad_index;
            v = v * 10 + (index.p[i] - '0');
        }
        if (v > 4095)
            goto bad_index;
        out->channel = v + 1;
    }
    if (has_action && span_is(action, "Start")) {
        out->kind = NTM_CAM_START;
    } else if (has_action && (span_is(action, "Stop") || span_is(action, "Pulse"))) {
        out->kind = NTM_CAM_END;
        out->event = NTM_EV_NONE;
    } else {
        ntm_cam_fail(why, whylen, "event %s has no action Start, Stop or Pulse", out->code);
        return 0;
    }
    return 1;
bad_index:
    ntm_cam_fail(why, whylen, "event %s has an index that is not a channel number", out->code);
    return 0;
}

size_t ntm_dahua_parse(const char *body, size_t len, struct ntm_cam_msg *out, size_t max, char *why,
                       size_t whylen)
{
    if (why && whylen > 0)
        why[0] = '\0';
    struct span all = trimmed(body, len);
    if (max == 0)
        return ntm_cam_fail(why, whylen, "no room for a message");
    if (span_is(all, "Heartbeat")) {
        memset(out, 0, sizeof *out);
        out->kind = NTM_CAM_KEEPALIVE;
        out->channel = 1;
        snprintf(out->code, sizeof out->code, "Heartbeat");
        return 1;
    }
    size_t got = 0;
    bool any_code = false;
    char first_why[128] = "";
    const char *p = all.p, *e = all.p + all.n;
    while (p < e && got < max) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        const char *end = nl ? nl : e;
        struct span line = trimmed(p, (size_t)(end - p));
        if (line.n >= 5 && strncasecmp(line.p, "Code=", 5) == 0) {
            any_code = true;
            char w[128];
            if (read_line(line.p, line.n, &out[got], w, sizeof w))
                got++;
            else if (first_why[0] == '\0')
                snprintf(first_why, sizeof first_why, "%s", w);
        }
        p = nl ? nl + 1 : e;
    }
    if (got == 0) {
        if (any_code)
            return ntm_cam_fail(why, whylen, "%s", first_why);
        return ntm_cam_fail(why, whylen, "the part is neither Heartbeat nor a Code= line");
    }
    return got;
}
