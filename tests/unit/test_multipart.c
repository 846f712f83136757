/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_multipart.c: the multipart reader (daemon/sources/multipart.c) on the
 * cameras' real stream shapes (tests/fixtures/cameras) and on what they send
 * when they misbehave. Every case is fed whole, one byte at a time and in
 * uneven chunks, and must give the same parts and counts each way. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camera_fixture.h"
#include "check.h"
#include "sources/multipart.h"

#define MAXP 32

struct got {
    int n;
    char ctype[MAXP][64];
    char *body[MAXP];
    size_t len[MAXP];
    int stop_at; /* return 7 from the callback for part number stop_at (1-based), 0: never */
};

static int collect(void *arg, const struct ntm_multipart_part *p)
{
    struct got *g = arg;
    if (g->n < MAXP) {
        snprintf(g->ctype[g->n], sizeof g->ctype[0], "%s", p->content_type);
        g->body[g->n] = malloc(p->len + 1);
        memcpy(g->body[g->n], p->body, p->len + 1); /* the NUL after the body too */
        g->len[g->n] = p->len;
    }
    g->n++;
    return g->stop_at == g->n ? 7 : 0;
}

static void got_free(struct got *g)
{
    for (int i = 0; i < g->n && i < MAXP; i++)
        free(g->body[i]);
    memset(g, 0, sizeof *g);
}

enum mode { WHOLE, BYTES, CHUNKS, MODES };

/* Feeds data[0..len) in the given way; returns the last feed's result. */
static int run(struct ntm_multipart *m, const char *ct, size_t max, const char *data, size_t len,
               enum mode mode, struct got *g, bool finish)
{
    ntm_multipart_init(m, ct, max, collect, g);
    int rc = 0;
    uint32_t seed = 12345;
    for (size_t off = 0; off < len && rc == 0;) {
        size_t n = len - off;
        if (mode == BYTES)
            n = 1;
        else if (mode == CHUNKS) {
            seed = seed * 1103515245u + 12345u;
            size_t c = 1 + (seed >> 16) % 97;
            n = c < n ? c : n;
        }
        char *copy = malloc(n); /* exactly n bytes: ASan sees any read past them */
        memcpy(copy, data + off, n);
        rc = ntm_multipart_feed(m, copy, n);
        free(copy);
        off += n;
    }
    if (finish)
        ntm_multipart_finish(m);
    return rc;
}

/* Runs all three modes; checks they agree; leaves the WHOLE result in *g and stats in *st. */
static void run_all(const char *ct, size_t max, const char *data, size_t len, struct got *g,
                    struct ntm_multipart_stats *st, bool finish)
{
    struct got r[MODES];
    struct ntm_multipart_stats s[MODES];
    for (int mode = 0; mode < MODES; mode++) {
        memset(&r[mode], 0, sizeof r[mode]);
        r[mode].stop_at = g->stop_at;
        struct ntm_multipart m;
        run(&m, ct, max, data, len, (enum mode)mode, &r[mode], finish);
        s[mode] = m.st;
        CHECK(m.st.peak_buffer <= max);
        ntm_multipart_free(&m);
    }
    for (int mode = 1; mode < MODES; mode++) {
        CHECK_INT(r[mode].n, r[0].n);
        for (int i = 0; i < r[0].n && i < r[mode].n && i < MAXP; i++) {
            CHECK_INT(r[mode].len[i], r[0].len[i]);
            CHECK(r[mode].len[i] == r[0].len[i] &&
                  memcmp(r[mode].body[i], r[0].body[i], r[0].len[i]) == 0);
            CHECK(strcmp(r[mode].ctype[i], r[0].ctype[i]) == 0);
        }
        CHECK_INT(s[mode].parts, s[0].parts);
        CHECK_INT(s[mode].oversized, s[0].oversized);
        CHECK_INT(s[mode].truncated, s[0].truncated);
        CHECK_INT(s[mode].garbage_bytes, s[0].garbage_bytes);
        CHECK_INT(s[mode].boundary_learned, s[0].boundary_learned);
        got_free(&r[mode]);
    }
    *g = r[0];
    *st = s[0];
}

static bool starts(const struct got *g, int i, const char *prefix)
{
    return i < g->n && strncmp(g->body[i], prefix, strlen(prefix)) == 0;
}

static bool ends(const struct got *g, int i, const char *suffix)
{
    size_t sl = strlen(suffix);
    return i < g->n && g->len[i] >= sl && memcmp(g->body[i] + g->len[i] - sl, suffix, sl) == 0;
}

static void test_fixtures(void)
{
    struct fixture fx;
    struct got g = {0};
    struct ntm_multipart_stats st;

    CHECK(fixture_load(&fx, "hik_stream.txt") == 0);
    run_all(fx.content_type, 16384, fx.data, fx.len, &g, &st, true);
    CHECK_INT(g.n, 9);
    for (int i = 0; i < g.n; i++) {
        CHECK(starts(&g, i, "<?xml version=\"1.0\""));
        CHECK(ends(&g, i, "</EventNotificationAlert>\r\n"));
        CHECK(strcmp(g.ctype[i], "application/xml; charset=\"UTF-8\"") == 0);
    }
    CHECK_INT(st.garbage_bytes, 0);
    CHECK_INT(st.truncated, 0);
    CHECK(!st.boundary_learned);
    got_free(&g);

    /* no boundary in the header: learned from the first "--token" line */
    run_all(NULL, 16384, fx.data, fx.len, &g, &st, true);
    CHECK_INT(g.n, 9);
    CHECK(st.boundary_learned);
    got_free(&g);
    /* a wrong one: the same */
    run_all("multipart/mixed; boundary=\"other\"", 16384, fx.data, fx.len, &g, &st, true);
    CHECK_INT(g.n, 9);
    CHECK(st.boundary_learned);
    got_free(&g);
    free(fx.data);

    CHECK(fixture_load(&fx, "hik_stream_lf.txt") == 0);
    run_all(fx.content_type, 16384, fx.data, fx.len, &g, &st, true);
    CHECK_INT(g.n, 3);
    CHECK(starts(&g, 0, "\n<?xml")); /* the part's own leading blank line is its body's */
    CHECK(ends(&g, 2, "</EventNotificationAlert>"));
    CHECK(strcmp(g.ctype[1], "application/xml") == 0);
    CHECK_INT(st.truncated, 0); /* closed by "----boundary--" */
    got_free(&g);
    free(fx.data);

    CHECK(fixture_load(&fx, "dahua_doc.txt") == 0);
    run_all(fx.content_type, 16384, fx.data, fx.len, &g, &st, true);
    CHECK_INT(g.n, 6);
    CHECK(g.n >= 3 && g.len[0] == 39 &&
          strcmp(g.body[0], "Code=VideoMotion;action=Start;index=0\r\n") == 0);
    CHECK(g.n >= 3 && strcmp(g.body[2], "Heartbeat") == 0);
    CHECK(strcmp(g.ctype[0], "text/plain") == 0);
    CHECK_INT(st.garbage_bytes, 0);
    got_free(&g);
    free(fx.data);

    CHECK(fixture_load(&fx, "dahua_real.txt") == 0);
    run_all(fx.content_type, 16384, fx.data, fx.len, &g, &st, true);
    CHECK_INT(g.n, 6);
    CHECK(starts(&g, 0, "Code=TimeChange;action=Pulse;index=0;data={\n"));
    CHECK(ends(&g, 0, "}\n"));
    CHECK(g.n >= 4 && strcmp(g.body[3], "Heartbeat") == 0);
    CHECK_INT(st.garbage_bytes, 0);
    got_free(&g);
    free(fx.data);
}

#define S(lit) lit, sizeof lit - 1

static void test_variants(void)
{
    struct got g = {0};
    struct ntm_multipart_stats st;
    const char *ct = "multipart/x-mixed-replace; boundary=myboundary";

    /* garbage before and between parts; LF only; parts without any header */
    run_all(ct, 1024,
            S("HTTP junk\n\n--myboundary\nCode=VideoLoss;action=Start;index=0\n"
              "noise between\n--myboundary\n\nHeartbeat\n--myboundary\n"),
            &g, &st, true);
    CHECK_INT(g.n, 2);
    CHECK(g.n == 2 && strcmp(g.body[0], "Code=VideoLoss;action=Start;index=0\nnoise between") == 0);
    CHECK(g.n == 2 && strcmp(g.body[1], "Heartbeat") == 0);
    CHECK(g.n == 2 && g.ctype[0][0] == '\0');
    CHECK_INT(st.garbage_bytes, 10); /* "HTTP junk\n" (blank lines are not garbage) */
    got_free(&g);

    /* a garbage line longer than a line is kept: counted whole, however it is cut */
    {
        char s[1024];
        memset(s, 'g', 600);
        size_t n = 600 + (size_t)sprintf(s + 600, "\n--myboundary\n\nA\n--myboundary\n");
        run_all(ct, 1024, s, n, &g, &st, true);
        CHECK_INT(g.n, 1);
        CHECK_INT(st.garbage_bytes, 601);
        got_free(&g);
    }

    /* boundary lines without "--" (the header names it), CRLF */
    run_all(ct, 1024,
            S("myboundary\r\nContent-Type: "
              "text/plain\r\n\r\nA\r\nmyboundary\r\n\r\nB\r\nmyboundary\r\n"),
            &g, &st, true);
    CHECK_INT(g.n, 2);
    CHECK(g.n == 2 && strcmp(g.body[0], "A") == 0 && strcmp(g.body[1], "B") == 0);
    got_free(&g);

    /* a delimiter glued to the end of a part whose Content-Length is right */
    run_all(ct, 1024,
            S("--myboundary\r\nContent-Length: 5\r\n\r\nHELLO--myboundary\r\nContent-Length: "
              "2\r\n\r\nOK"),
            &g, &st, true);
    CHECK_INT(g.n, 2); /* the second is whole by its length: delivered before any delimiter */
    CHECK(g.n == 2 && strcmp(g.body[0], "HELLO") == 0 && strcmp(g.body[1], "OK") == 0);
    CHECK_INT(st.truncated, 0);
    got_free(&g);

    /* a Content-Length too large: the next delimiter still ends the part */
    run_all(ct, 1024,
            S("--myboundary\r\nContent-Length: 900\r\n\r\nshort\r\n--myboundary\r\n"
              "Content-Length: 4\r\n\r\nnext\r\n"),
            &g, &st, true);
    CHECK_INT(g.n, 2);
    CHECK(g.n == 2 && strcmp(g.body[0], "short") == 0 && strcmp(g.body[1], "next") == 0);
    got_free(&g);

    /* a Content-Length too small: the part is cut there, the rest is garbage until the next
     * delimiter */
    run_all(ct, 1024,
            S("--myboundary\r\nContent-Length: "
              "3\r\n\r\nabcdef\r\n--myboundary\r\n\r\nZ\r\n--myboundary\r\n"),
            &g, &st, true);
    CHECK_INT(g.n, 2);
    CHECK(g.n == 2 && strcmp(g.body[0], "abc") == 0 && strcmp(g.body[1], "Z") == 0);
    CHECK_INT(st.garbage_bytes, 5); /* "def\r\n" */
    got_free(&g);

    /* the stream ends inside a part: nothing half-read is delivered */
    run_all(ct, 1024, S("--myboundary\r\nContent-Length: 40\r\n\r\nCode=VideoMotion;act"), &g, &st,
            true);
    CHECK_INT(g.n, 0);
    CHECK_INT(st.truncated, 1);
    got_free(&g);
    run_all(ct, 1024, S("--myboundary\r\n\r\nCode=VideoMotion;action=Start;index=0\r\n"), &g, &st,
            true);
    CHECK_INT(g.n, 0); /* no length and no next delimiter: its end is unknown */
    CHECK_INT(st.truncated, 1);
    got_free(&g);

    /* a part over the limit is passed over and counted; the parts around it arrive */
    {
        size_t big = 5000;
        char *s = malloc(big + 200);
        size_t n = (size_t)sprintf(s, "--myboundary\r\n\r\nfirst\r\n--myboundary\r\n\r\n");
        for (size_t i = 0; i < big; i++)
            s[n++] = (i % 61 == 60) ? '\n' : (char)('a' + i % 26);
        n += (size_t)sprintf(s + n, "\r\n--myboundary\r\n\r\nlast\r\n--myboundary\r\n");
        run_all(ct, 1024, s, n, &g, &st, true);
        CHECK_INT(g.n, 2);
        CHECK(g.n == 2 && strcmp(g.body[0], "first") == 0 && strcmp(g.body[1], "last") == 0);
        CHECK_INT(st.oversized, 1);
        CHECK(st.peak_buffer <= 1024);
        got_free(&g);
        free(s);
    }

    /* a long header line is a header (kept short); a long first line with no headers is a body */
    {
        char s[2048];
        size_t n = (size_t)sprintf(s, "--myboundary\r\nX-Long: ");
        memset(s + n, 'h', 600);
        n += 600;
        n +=
            (size_t)sprintf(s + n, "\r\nContent-Type: text/plain\r\n\r\nbody1\r\n--myboundary\r\n");
        memset(s + n, 'b', 700);
        n += 700;
        n += (size_t)sprintf(s + n, "\r\n--myboundary\r\n");
        run_all(ct, 1024, s, n, &g, &st, true);
        CHECK_INT(g.n, 2);
        CHECK(g.n == 2 && strcmp(g.body[0], "body1") == 0 && strcmp(g.ctype[0], "text/plain") == 0);
        CHECK(g.n == 2 && g.len[1] == 700 && g.body[1][0] == 'b' && g.body[1][699] == 'b');
        got_free(&g);
    }

    /* a declared Content-Length over the limit is passed over at once, by its length */
    run_all(
        ct, 64,
        S("--myboundary\r\nContent-Length: 100\r\n\r\n"
          "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567"
          "890123456789--myboundary\r\n\r\nafter\r\n--myboundary\r\n"),
        &g, &st, true);
    CHECK_INT(g.n, 1);
    CHECK(g.n == 1 && strcmp(g.body[0], "after") == 0);
    CHECK_INT(st.oversized, 1);
    got_free(&g);

    /* the callback stops the reader: the code comes back, now and later */
    {
        struct ntm_multipart m;
        struct got h = {.stop_at = 1};
        int rc = run(&m, ct, 1024,
                     S("--myboundary\r\n\r\nA\r\n--myboundary\r\n\r\nB\r\n--myboundary\r\n"), WHOLE,
                     &h, false);
        CHECK_INT(rc, 7);
        CHECK_INT(h.n, 1);
        CHECK_INT(ntm_multipart_feed(&m, S("--myboundary\r\n")), 7);
        ntm_multipart_free(&m);
        got_free(&h);
    }
}

/* A 10 MB part fed in 64 KiB chunks, with and without a Content-Length:
 * memory stays at the limit and the next part arrives. */
static void test_huge_part(void)
{
    const size_t big = 10u << 20, chunk = 64 * 1024;
    char *block = malloc(chunk);
    for (size_t i = 0; i < chunk; i++)
        block[i] = (char)(i * 7919u >> 3); /* binary, with the odd '\n' */
    for (int with_len = 0; with_len < 2; with_len++) {
        struct ntm_multipart m;
        struct got g = {0};
        ntm_multipart_init(&m, "multipart/mixed; boundary=boundary", 16384, collect, &g);
        char head[128];
        int hn =
            with_len
                ? sprintf(head,
                          "--boundary\r\nContent-Type: image/jpeg\r\nContent-Length: %zu\r\n\r\n",
                          big)
                : sprintf(head, "--boundary\r\nContent-Type: image/jpeg\r\n\r\n");
        ntm_multipart_feed(&m, head, (size_t)hn);
        for (size_t off = 0; off < big; off += chunk)
            ntm_multipart_feed(&m, block, chunk);
        ntm_multipart_feed(&m, S("\r\n--boundary\r\nContent-Length: 9\r\n\r\nHeartbeat"));
        CHECK_INT(g.n, 1);
        CHECK(g.n == 1 && strcmp(g.body[0], "Heartbeat") == 0);
        CHECK_INT(m.st.oversized, 1);
        CHECK(m.st.peak_buffer <= 16384);
        ntm_multipart_free(&m);
        got_free(&g);
    }
    free(block);
}

int main(void)
{
    test_fixtures();
    test_variants();
    test_huge_part();
    printf("multipart: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
