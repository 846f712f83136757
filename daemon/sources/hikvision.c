/* SPDX-License-Identifier: GPL-3.0-or-later */
/* hikvision.c: reads one EventNotificationAlert document with expat and maps
 * its eventType/eventState onto the device contract's camera events. A DTD is
 * refused outright (so no entity, internal or external, is ever expanded);
 * nesting and the kept text are bounded. Holds no state between parts. */
#include "hikvision.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <expat.h>

#define DEPTH_MAX 32

enum { F_TYPE, F_STATE, F_CHANNEL, F_DYN_CHANNEL, F_COUNT };
static const char *const field_names[F_COUNT] = {"eventType", "eventState", "channelID",
                                                 "dynChannelID"};

struct hik_doc {
    XML_Parser p;
    int depth;
    int field; /* the root's child being read, or -1 */
    bool done; /* the root element has ended */
    const char *refused;
    char text[F_COUNT][NTM_CAM_CODE_MAX + 1];
    size_t len[F_COUNT];
    bool seen[F_COUNT];
};

/* "ns:name" -> "name": namespaces vary by firmware (hikvision.com ver10/ver20, isapi.org) */
static const char *local_name(const char *name)
{
    const char *c = strrchr(name, ':');
    return c ? c + 1 : name;
}

static void refuse(struct hik_doc *d, const char *why)
{
    if (d->refused == NULL)
        d->refused = why;
    XML_StopParser(d->p, XML_FALSE);
}

static void XMLCALL on_start(void *arg, const XML_Char *name, const XML_Char **atts)
{
    (void)atts;
    struct hik_doc *d = arg;
    if (++d->depth > DEPTH_MAX) {
        refuse(d, "elements nested too deep");
        return;
    }
    if (d->depth == 1 && strcmp(local_name(name), "EventNotificationAlert") != 0) {
        refuse(d, "the document is not an EventNotificationAlert");
        return;
    }
    d->field = -1;
    if (d->depth == 2)
        for (int i = 0; i < F_COUNT; i++)
            if (!d->seen[i] && strcmp(local_name(name), field_names[i]) == 0)
                d->field = i;
}

static void XMLCALL on_text(void *arg, const XML_Char *s, int len)
{
    struct hik_doc *d = arg;
    if (d->depth != 2 || d->field < 0 || len <= 0)
        return;
    size_t room = sizeof d->text[0] - 1 - d->len[d->field];
    size_t n = (size_t)len < room ? (size_t)len : room;
    memcpy(d->text[d->field] + d->len[d->field], s, n);
    d->len[d->field] += n;
    d->text[d->field][d->len[d->field]] = '\0';
}

static void XMLCALL on_end(void *arg, const XML_Char *name)
{
    (void)name;
    struct hik_doc *d = arg;
    if (d->depth == 2 && d->field >= 0)
        d->seen[d->field] = true;
    d->field = -1;
    if (--d->depth == 0) {
        d->done = true; /* whatever follows the root (padding, junk) is not read */
        XML_StopParser(d->p, XML_FALSE);
    }
}

static void XMLCALL on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid,
                               const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    refuse(arg, "the document has a DTD, which an alert never has");
}

static void XMLCALL on_entity_decl(void *arg, const XML_Char *name, int is_param,
                                   const XML_Char *value, int value_len, const XML_Char *base,
                                   const XML_Char *sysid, const XML_Char *pubid,
                                   const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base, (void)sysid, (void)pubid,
        (void)notation;
    refuse(arg, "the document declares entities");
}

/* Whitespace-trimmed text, in place. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* A channel number 1..4096, or 0. */
static int channel_of(char *s)
{
    s = trim(s);
    int v = 0;
    if (*s == '\0')
        return 0;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s) || v > 4096)
            return 0;
        v = v * 10 + (*s - '0');
    }
    return v >= 1 && v <= 4096 ? v : 0;
}

/* The device contract's mapping of Hikvision event types (case-insensitive:
 * firmware writes both "VMD" and "vmd"). */
static enum ntm_event map_type(const char *t)
{
    static const struct {
        const char *name;
        enum ntm_event ev;
    } map[] = {
        {"videoloss", NTM_EV_VIDEO_LOSS},
        {"tamperdetection", NTM_EV_TAMPER},
        {"shelteralarm", NTM_EV_TAMPER},
        {"diskfull", NTM_EV_STORAGE_ERROR},
        {"diskerror", NTM_EV_STORAGE_ERROR},
        {"recordingfailure", NTM_EV_STORAGE_ERROR},
        {"vmd", NTM_EV_MOTION},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcasecmp(t, map[i].name) == 0)
            return map[i].ev;
    return NTM_EV_NONE;
}

static size_t classify(struct hik_doc *d, struct ntm_cam_msg *out, char *why, size_t whylen)
{
    char *type = trim(d->text[F_TYPE]), *state = trim(d->text[F_STATE]);
    if (!d->seen[F_TYPE] || *type == '\0')
        return ntm_cam_fail(why, whylen, "the alert has no eventType");
    memset(out, 0, sizeof *out);
    size_t i = 0;
    for (; type[i] != '\0' && i < NTM_CAM_CODE_MAX; i++) /* for counts and logs: printable only */
        out->code[i] = isprint((unsigned char)type[i]) ? type[i] : '?';
    out->code[i] = '\0';
    out->event = map_type(type);
    out->channel = channel_of(d->text[F_CHANNEL]);
    if (out->channel == 0)
        out->channel = channel_of(d->text[F_DYN_CHANNEL]);
    if (out->channel == 0)
        out->channel = 1;
    if (out->event == NTM_EV_NONE) {
        out->kind = NTM_CAM_IGNORED;
        return 1;
    }
    if (strcasecmp(state, "active") == 0) {
        out->kind = NTM_CAM_START;
    } else if (strcasecmp(state, "inactive") == 0) {
        /* an inactive videoloss is the stream's keep-alive (ISAPI: "heartbeat") */
        out->kind = out->event == NTM_EV_VIDEO_LOSS ? NTM_CAM_KEEPALIVE : NTM_CAM_END;
        if (out->kind == NTM_CAM_KEEPALIVE)
            out->event = NTM_EV_NONE;
    } else {
        return ntm_cam_fail(why, whylen, "the alert's eventState is neither active nor inactive");
    }
    return 1;
}

size_t ntm_hik_parse(const char *body, size_t len, struct ntm_cam_msg *out, size_t max, char *why,
                     size_t whylen)
{
    if (why && whylen > 0)
        why[0] = '\0';
    if (max == 0)
        return ntm_cam_fail(why, whylen, "no room for a message");
    const char *lt = memchr(body, '<', len); /* leading blank lines or stray bytes */
    if (lt == NULL)
        return ntm_cam_fail(why, whylen, "the part holds no XML");
    len -= (size_t)(lt - body);
    body = lt;
    if (len > (size_t)1 << 30)
        return ntm_cam_fail(why, whylen, "the part is too large");

    struct hik_doc d = {.field = -1};
    d.p = XML_ParserCreate(NULL);
    if (d.p == NULL)
        return ntm_cam_fail(why, whylen, "out of memory");
    XML_SetUserData(d.p, &d);
    XML_SetElementHandler(d.p, on_start, on_end);
    XML_SetCharacterDataHandler(d.p, on_text);
    XML_SetStartDoctypeDeclHandler(d.p, on_doctype);
    XML_SetEntityDeclHandler(d.p, on_entity_decl);
    /* No DTD: the parse stops at "<!DOCTYPE", before any entity is declared,
     * so neither an external entity nor an expansion bomb is possible; only
     * XML's five predefined entities remain. */
    XML_SetParamEntityParsing(d.p, XML_PARAM_ENTITY_PARSING_NEVER);
    enum XML_Status st = XML_Parse(d.p, body, (int)len, XML_TRUE);
    size_t n;
    if (d.refused) {
        n = ntm_cam_fail(why, whylen, "%s", d.refused);
    } else if (d.done) {
        n = classify(&d, out, why, whylen);
    } else if (st == XML_STATUS_ERROR) {
        n = ntm_cam_fail(why, whylen, "not well-formed XML (%s at line %lu, column %lu)",
                         XML_ErrorString(XML_GetErrorCode(d.p)),
                         (unsigned long)XML_GetCurrentLineNumber(d.p),
                         (unsigned long)XML_GetCurrentColumnNumber(d.p));
    } else {
        n = ntm_cam_fail(why, whylen, "the XML document ends before its root element closes");
    }
    XML_ParserFree(d.p);
    return n;
}
