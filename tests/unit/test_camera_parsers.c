/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_camera_parsers.c: the Hikvision (expat) and Dahua part parsers
 * (daemon/sources/hikvision.c, dahua.c) on the real stream fixtures, framed
 * by the multipart reader, and on hostile parts: each refusal says why in
 * words a person reads, and the contract's mapping holds exactly. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camera_fixture.h"
#include "check.h"
#include "sources/dahua.h"
#include "sources/hikvision.h"
#include "sources/multipart.h"

#define MAXM 32

struct seen {
    ntm_cam_parse_fn parse;
    int n, bad;
    struct ntm_cam_msg m[MAXM];
    char why[128];
};

static int on_part(void *arg, const struct ntm_multipart_part *p)
{
    struct seen *s = arg;
    struct ntm_cam_msg out[4];
    char why[128];
    size_t n = s->parse(p->body, p->len, out, 4, why, sizeof why);
    if (n == 0) {
        s->bad++;
        snprintf(s->why, sizeof s->why, "%s", why);
    }
    for (size_t i = 0; i < n && s->n < MAXM; i++)
        s->m[s->n++] = out[i];
    return 0;
}

static void read_fixture(const char *name, ntm_cam_parse_fn parse, struct seen *s)
{
    struct fixture fx;
    memset(s, 0, sizeof *s);
    s->parse = parse;
    CHECK(fixture_load(&fx, name) == 0);
    struct ntm_multipart m;
    ntm_multipart_init(&m, fx.content_type, 16384, on_part, s);
    ntm_multipart_feed(&m, fx.data, fx.len);
    ntm_multipart_finish(&m);
    ntm_multipart_free(&m);
    free(fx.data);
}

/* One expected message: kind, event, channel, code. */
static void expect(const struct seen *s, int i, enum ntm_cam_msg_kind k, enum ntm_event ev, int ch,
                   const char *code)
{
    if (i >= s->n) {
        CHECK(i < s->n);
        return;
    }
    const struct ntm_cam_msg *m = &s->m[i];
    CHECK_INT(m->kind, k);
    CHECK_INT(m->event, ev);
    CHECK_INT(m->channel, ch);
    if (strcmp(m->code, code) != 0)
        fprintf(stderr, "message %d: code '%s', expected '%s'\n", i, m->code, code);
    CHECK(strcmp(m->code, code) == 0);
}

static void test_fixtures(void)
{
    struct seen s;
    read_fixture("hik_stream.txt", ntm_hik_parse, &s);
    CHECK_INT(s.bad, 0);
    CHECK_INT(s.n, 9);
    expect(&s, 0, NTM_CAM_KEEPALIVE, NTM_EV_NONE, 1, "videoloss");
    expect(&s, 1, NTM_CAM_START, NTM_EV_MOTION, 1, "VMD");
    expect(&s, 2, NTM_CAM_START, NTM_EV_MOTION, 1, "VMD"); /* a repeat: the manager counts one */
    expect(&s, 3, NTM_CAM_END, NTM_EV_MOTION, 1, "VMD");
    expect(&s, 4, NTM_CAM_START, NTM_EV_TAMPER, 2, "tamperdetection");
    expect(&s, 5, NTM_CAM_IGNORED, NTM_EV_NONE, 1,
           "linedetection"); /* a nested channelID is not the alert's */
    expect(&s, 6, NTM_CAM_START, NTM_EV_STORAGE_ERROR, 1, "diskfull");
    expect(&s, 7, NTM_CAM_START, NTM_EV_VIDEO_LOSS, 3, "videoloss"); /* dynChannelID */
    expect(&s, 8, NTM_CAM_START, NTM_EV_TAMPER, 4, "shelteralarm");

    read_fixture("hik_stream_lf.txt", ntm_hik_parse, &s);
    CHECK_INT(s.bad, 0);
    CHECK_INT(s.n, 3);
    expect(&s, 0, NTM_CAM_IGNORED, NTM_EV_NONE, 1, "heartBeat");
    expect(&s, 1, NTM_CAM_START, NTM_EV_MOTION, 2, "vmd");
    expect(&s, 2, NTM_CAM_START, NTM_EV_STORAGE_ERROR, 1, "recordingfailure");

    read_fixture("dahua_doc.txt", ntm_dahua_parse, &s);
    CHECK_INT(s.bad, 0);
    CHECK_INT(s.n, 6);
    expect(&s, 0, NTM_CAM_START, NTM_EV_MOTION, 1, "VideoMotion");
    expect(&s, 1, NTM_CAM_START, NTM_EV_TAMPER, 1, "VideoBlind");
    expect(&s, 2, NTM_CAM_KEEPALIVE, NTM_EV_NONE, 1, "Heartbeat");
    expect(&s, 3, NTM_CAM_END, NTM_EV_NONE, 1, "VideoMotion");
    expect(&s, 4, NTM_CAM_START, NTM_EV_VIDEO_LOSS, 3, "VideoLoss"); /* index 2 is channel 3 */
    expect(&s, 5, NTM_CAM_START, NTM_EV_STORAGE_ERROR, 1, "StorageNotExist");

    read_fixture("dahua_real.txt", ntm_dahua_parse, &s);
    CHECK_INT(s.bad, 0);
    CHECK_INT(s.n, 6);
    expect(&s, 0, NTM_CAM_IGNORED, NTM_EV_NONE, 1, "TimeChange");
    expect(&s, 1, NTM_CAM_IGNORED, NTM_EV_NONE, 1, "NTPAdjustTime");
    expect(&s, 2, NTM_CAM_START, NTM_EV_MOTION, 2, "VideoMotion");
    expect(&s, 3, NTM_CAM_KEEPALIVE, NTM_EV_NONE, 1, "Heartbeat");
    expect(&s, 4, NTM_CAM_START, NTM_EV_STORAGE_ERROR, 1, "StorageLowSpace");
    expect(&s, 5, NTM_CAM_END, NTM_EV_NONE, 2, "VideoMotion");
}

/* Parses text (copied into a block of exactly its size); returns the count, why in w. */
static size_t parse(ntm_cam_parse_fn fn, const char *text, struct ntm_cam_msg *out, size_t max,
                    char *w)
{
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    memset(w, 'X', 128);
    size_t n = fn(copy, len, out, max, w, 128);
    free(copy);
    CHECK(memchr(w, '\0', 128) != NULL);
    CHECK(n == 0 ? w[0] != '\0' : w[0] == '\0');
    return n;
}

static bool why_has(const char *w, const char *needle)
{
    if (strstr(w, needle))
        return true;
    fprintf(stderr, "why '%s' lacks '%s'\n", w, needle);
    return false;
}

#define ALERT(inner)                                                                               \
    "<EventNotificationAlert version=\"2.0\" "                                                     \
    "xmlns=\"http://www.hikvision.com/ver20/XMLSchema\">" inner "</EventNotificationAlert>"

static void test_hikvision_hostile(void)
{
    struct ntm_cam_msg m[4];
    char w[128];
    /* billion laughs: refused at the DTD, nothing expanded */
    CHECK_INT(
        parse(ntm_hik_parse,
              "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
              "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
              "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
              "<EventNotificationAlert><eventType>&lol3;</eventType></EventNotificationAlert>",
              m, 4, w),
        0);
    CHECK(why_has(w, "DTD"));
    /* an external entity: never loaded */
    CHECK_INT(parse(ntm_hik_parse,
                    "<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>" ALERT(
                        "<eventType>&x;</eventType><eventState>active</eventState>"),
                    m, 4, w),
              0);
    CHECK(why_has(w, "DTD"));
    CHECK_INT(parse(ntm_hik_parse, "Code=VideoMotion;action=Start;index=0", m, 4, w), 0);
    CHECK(why_has(w, "no XML"));
    CHECK_INT(parse(ntm_hik_parse, "<ResponseStatus><statusCode>4</statusCode></ResponseStatus>", m,
                    4, w),
              0);
    CHECK(why_has(w, "not an EventNotificationAlert"));
    CHECK_INT(parse(ntm_hik_parse, ALERT("<eventState>active</eventState>"), m, 4, w), 0);
    CHECK(why_has(w, "no eventType"));
    CHECK_INT(parse(ntm_hik_parse, ALERT("<eventType>VMD</eventType><eventState>on</eventState>"),
                    m, 4, w),
              0);
    CHECK(why_has(w, "neither active nor inactive"));
    CHECK_INT(parse(ntm_hik_parse, "<EventNotificationAlert><eventType>VMD</eventType><eventSta", m,
                    4, w),
              0);
    CHECK(why_has(w, "not well-formed XML"));
    CHECK_INT(parse(ntm_hik_parse,
                    ALERT("<eventType>VMD</eventType><eventState>active</eventState>"), m, 0, w),
              0);
    {
        char deep[4096] = "<EventNotificationAlert>";
        for (int i = 0; i < 100; i++)
            strcat(deep, "<a>");
        CHECK_INT(parse(ntm_hik_parse, deep, m, 4, w), 0);
        CHECK(why_has(w, "nested too deep"));
    }
    CHECK_INT(
        parse(ntm_hik_parse,
              "<?xml version=\"1.0\" encoding=\"x-unknown\"?>" ALERT("<eventType>VMD</eventType>"),
              m, 4, w),
        0);
    CHECK(why_has(w, "encoding"));

    /* what is accepted: junk after the root, prefixes, padding, odd channels */
    CHECK_INT(parse(ntm_hik_parse,
                    "\r\n\r\n" ALERT(
                        "<eventType> VMD </eventType><eventState>active</eventState>"
                        "<channelID>abc</channelID><dynChannelID>7</dynChannelID>") "\r\n--junk",
                    m, 4, w),
              1);
    CHECK(m[0].kind == NTM_CAM_START && m[0].event == NTM_EV_MOTION && m[0].channel == 7);
    CHECK_INT(
        parse(
            ntm_hik_parse,
            "<h:EventNotificationAlert xmlns:h=\"urn:x\"><h:eventType>tamperdetection</h:eventType>"
            "<h:eventState>active</h:eventState><h:channelID>0</h:channelID></"
            "h:EventNotificationAlert>",
            m, 4, w),
        1);
    CHECK(m[0].event == NTM_EV_TAMPER && m[0].channel == 1);
    CHECK_INT(parse(ntm_hik_parse,
                    ALERT("<eventType>diskerror</eventType><eventState>inactive</eventState>"), m,
                    4, w),
              1);
    CHECK(m[0].kind == NTM_CAM_END && m[0].event == NTM_EV_STORAGE_ERROR);
    {
        char longtype[512] = ALERT("<eventType>");
        longtype[strlen(longtype) - strlen("</EventNotificationAlert>")] = '\0';
        for (int i = 0; i < 200; i++)
            strcat(longtype, "x");
        strcat(longtype, "</eventType></EventNotificationAlert>");
        CHECK_INT(parse(ntm_hik_parse, longtype, m, 4, w), 1);
        CHECK(m[0].kind == NTM_CAM_IGNORED && strlen(m[0].code) == NTM_CAM_CODE_MAX);
    }
    CHECK_INT(parse(ntm_hik_parse, ALERT("<eventType>&lt;b&gt;</eventType>"), m, 4, w), 1);
    CHECK(m[0].kind == NTM_CAM_IGNORED && strcmp(m[0].code, "<b>") == 0);
}

static void test_dahua_hostile(void)
{
    struct ntm_cam_msg m[4];
    char w[128];
    CHECK_INT(parse(ntm_dahua_parse, "", m, 4, w), 0);
    CHECK(why_has(w, "neither Heartbeat nor a Code= line"));
    CHECK_INT(parse(ntm_dahua_parse, "<EventNotificationAlert/>", m, 4, w), 0);
    CHECK(why_has(w, "neither Heartbeat"));
    CHECK_INT(parse(ntm_dahua_parse, "Code=;action=Start;index=0", m, 4, w), 0);
    CHECK(why_has(w, "empty Code"));
    CHECK_INT(parse(ntm_dahua_parse, "Code=VideoMotion;index=0", m, 4, w), 0);
    CHECK(why_has(w, "VideoMotion has no action"));
    CHECK_INT(parse(ntm_dahua_parse, "Code=VideoMotion;action=Begin;index=0", m, 4, w), 0);
    CHECK(why_has(w, "no action Start"));
    CHECK_INT(parse(ntm_dahua_parse, "Code=VideoLoss;action=Start;index=x", m, 4, w), 0);
    CHECK(why_has(w, "index that is not a channel number"));
    CHECK_INT(parse(ntm_dahua_parse, "Code=VideoLoss;action=Start;index=99999", m, 4, w), 0);
    CHECK(why_has(w, "index"));
    CHECK_INT(parse(ntm_dahua_parse, "Code=VideoLoss;action=Start;index=0", m, 0, w), 0);

    /* accepted: an unmapped code without action or index; no index is channel 1 */
    CHECK_INT(parse(ntm_dahua_parse, "Code=AlarmLocal", m, 4, w), 1);
    CHECK(m[0].kind == NTM_CAM_IGNORED && strcmp(m[0].code, "AlarmLocal") == 0);
    CHECK_INT(parse(ntm_dahua_parse, " code=videomotion ; action=start \r\n", m, 4, w), 1);
    CHECK(m[0].kind == NTM_CAM_START && m[0].event == NTM_EV_MOTION && m[0].channel == 1);
    /* data= ends the fields: an event named inside its JSON is not read */
    CHECK_INT(
        parse(ntm_dahua_parse,
              "Code=VideoMotion;action=Stop;index=3;data={\"x\":\"Code=VideoLoss;action=Start\"}",
              m, 4, w),
        1);
    CHECK(m[0].kind == NTM_CAM_END && m[0].channel == 4);
    /* several events in one part; more than `max` are cut */
    CHECK_INT(
        parse(ntm_dahua_parse,
              "Code=VideoMotion;action=Start;index=0\r\nCode=VideoMotion;action=Start;index=1\r\n"
              "Code=VideoBlind;action=Start;index=2\r\n",
              m, 2, w),
        2);
    CHECK(m[0].channel == 1 && m[1].channel == 2);
    /* one bad line among good ones: the good ones are read */
    CHECK_INT(parse(ntm_dahua_parse,
                    "Code=VideoMotion;action=Start;index=z\nCode=VideoBlind;action=Start;index=1",
                    m, 4, w),
              1);
    CHECK(m[0].event == NTM_EV_TAMPER && m[0].channel == 2);
    /* a NUL and control bytes: read within len, never printed raw */
    {
        const char t[] = "Code=Vid\x01eo\0X;action=Start";
        char w2[128];
        size_t n = ntm_dahua_parse(t, sizeof t - 1, m, 4, w2, sizeof w2);
        CHECK_INT(n, 1);
        CHECK(m[0].kind == NTM_CAM_IGNORED && strchr(m[0].code, '\x01') == NULL);
    }
}

int main(void)
{
    test_fixtures();
    test_hikvision_hostile();
    test_dahua_hostile();
    printf("camera_parsers: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
