/* SPDX-License-Identifier: GPL-3.0-or-later */
/* multipart.c: the incremental multipart reader of camera event streams. Owns
 * one part buffer (at most max_part bytes) and a short line buffer; frames
 * parts by their delimiter lines and, where a part gives one, its
 * Content-Length (so that a part is delivered as soon as it is whole). */
#include "multipart.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BUF_START 512
#define BUF_KEEP 4096 /* a larger buffer is released after its part */

static bool is_bchar(unsigned char c)
{
    /* RFC 2046 bchars, without space: enough for every camera seen */
    return isalnum(c) || strchr("'()+_,-./:=?", c) != NULL;
}

static bool is_token_char(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_';
}

static void reset_part(struct ntm_multipart *m)
{
    m->len = 0;
    m->line_start = 0;
    m->clen = -1;
    m->skipped = 0;
    m->content_type[0] = '\0';
}

/* The boundary parameter of a Content-Type, without quotes or leading dashes. */
static void boundary_from_header(struct ntm_multipart *m, const char *ct)
{
    if (ct == NULL)
        return;
    for (const char *p = ct; (p = strcasestr(p, "boundary")) != NULL; p += 8) {
        if (p != ct && p[-1] != ';' && p[-1] != ' ' && p[-1] != '\t')
            continue;
        const char *v = p + 8;
        while (*v == ' ' || *v == '\t')
            v++;
        if (*v != '=')
            continue;
        v++;
        while (*v == ' ' || *v == '\t')
            v++;
        bool quoted = *v == '"';
        if (quoted)
            v++;
        while (*v == '-')
            v++;
        size_t n = 0;
        while (v[n] != '\0' &&
               (quoted ? v[n] != '"' : (v[n] != ';' && !isspace((unsigned char)v[n]))))
            n++;
        if (n == 0 || n > NTM_MULTIPART_BOUNDARY_MAX)
            return;
        memcpy(m->token, v, n);
        m->token[n] = '\0';
        m->token_len = n;
        m->token_from_header = true;
        return;
    }
}

void ntm_multipart_init(struct ntm_multipart *m, const char *content_type, size_t max_part,
                        ntm_multipart_part_fn fn, void *arg)
{
    memset(m, 0, sizeof *m);
    m->fn = fn;
    m->arg = arg;
    m->max_part = max_part > 0 ? max_part : 1;
    m->state = NTM_MP_SEEK;
    reset_part(m);
    boundary_from_header(m, content_type);
}

void ntm_multipart_free(struct ntm_multipart *m)
{
    free(m->buf);
    m->buf = NULL;
    m->cap = m->len = 0;
}

/* Is s[0..n) (one line, its newline removed) a delimiter line? *close is set
 * for a close delimiter ("--token--"). In the preamble, before any delimiter
 * has matched, a "--token" line teaches the boundary (the header's was absent
 * or wrong). */
static bool is_delimiter(struct ntm_multipart *m, const char *s, size_t n, bool *close)
{
    while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    size_t d = 0;
    while (d < n && s[d] == '-')
        d++;
    const char *rest = s + d;
    size_t rn = n - d;
    *close = false;
    if (m->token_len > 0 && (d >= 2 || m->token_from_header)) {
        size_t tl = m->token_len;
        if (rn == tl && memcmp(rest, m->token, tl) == 0)
            return true;
        if (rn == tl + 2 && memcmp(rest, m->token, tl) == 0 && rest[tl] == '-' &&
            rest[tl + 1] == '-') {
            *close = true;
            return true;
        }
    }
    if (m->seen_delimiter || m->state != NTM_MP_SEEK || d < 2 || rn == 0 ||
        rn > NTM_MULTIPART_BOUNDARY_MAX)
        return false;
    for (size_t i = 0; i < rn; i++)
        if (!is_bchar((unsigned char)rest[i]))
            return false;
    memcpy(m->token, rest, rn);
    m->token[rn] = '\0';
    m->token_len = rn;
    m->token_from_header = false;
    m->st.boundary_learned = true;
    return true;
}

static void after_delimiter(struct ntm_multipart *m, bool close)
{
    m->seen_delimiter = true;
    reset_part(m);
    m->state = close ? NTM_MP_SEEK : NTM_MP_HEADERS;
}

static void release_buffer(struct ntm_multipart *m)
{
    if (m->cap > BUF_KEEP) {
        free(m->buf);
        m->buf = NULL;
        m->cap = 0;
    }
}

static void deliver(struct ntm_multipart *m, size_t n)
{
    if (n == 0)
        return;
    m->buf[n] = '\0';
    m->st.parts++;
    struct ntm_multipart_part p = {.content_type = m->content_type, .body = m->buf, .len = n};
    int rc = m->fn ? m->fn(m->arg, &p) : 0;
    if (rc != 0)
        m->stop = rc;
}

/* Room for `more` body bytes (and a NUL); false when the part would pass max_part. */
static bool reserve(struct ntm_multipart *m, size_t more)
{
    if (m->len + more > m->max_part)
        return false;
    if (m->len + more + 1 <= m->cap)
        return true;
    size_t cap = m->cap ? m->cap : BUF_START;
    while (cap < m->len + more + 1)
        cap *= 2;
    if (cap > m->max_part + 1)
        cap = m->max_part + 1;
    char *b = realloc(m->buf, cap);
    if (b == NULL)
        return false; /* treated as oversized: memory stays bounded either way */
    m->buf = b;
    m->cap = cap;
    if (m->len + more > m->st.peak_buffer)
        m->st.peak_buffer = m->len + more;
    return true;
}

/* Keeps the first bytes of the current line for the delimiter test. */
static void line_add(struct ntm_multipart *m, const char *p, size_t n)
{
    m->line_total += n;
    size_t room = sizeof m->line - m->line_len;
    if (n > room) {
        n = room;
        m->line_long = true;
    }
    memcpy(m->line + m->line_len, p, n);
    m->line_len += n;
}

static void line_reset(struct ntm_multipart *m)
{
    m->line_len = 0;
    m->line_total = 0;
    m->line_long = false;
}

/* The part is larger than max_part: pass over the rest of it. */
static void start_skip(struct ntm_multipart *m)
{
    m->st.oversized++;
    m->skipped = m->len;
    line_reset(m);
    if (m->len > m->line_start) /* the line under way may still be a delimiter */
        line_add(m, m->buf + m->line_start, m->len - m->line_start);
    m->len = 0;
    release_buffer(m);
    m->state = NTM_MP_SKIP;
}

static void begin_body(struct ntm_multipart *m)
{
    m->state = NTM_MP_BODY;
    m->len = 0;
    m->line_start = 0;
    if (m->clen >= 0 && (uint64_t)m->clen > m->max_part)
        start_skip(m);
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i]))
            return false;
    return true;
}

/* A header line "Name: value": keeps Content-Type and Content-Length. */
static bool header_line(struct ntm_multipart *m, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && is_token_char((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= n || s[i] != ':')
        return false;
    size_t nl = i;
    const char *v = s + i + 1, *end = s + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    size_t vl = (size_t)(end - v);
    if (nl == 12 && strncasecmp(s, "Content-Type", 12) == 0) {
        if (vl >= sizeof m->content_type)
            vl = sizeof m->content_type - 1;
        memcpy(m->content_type, v, vl);
        m->content_type[vl] = '\0';
    } else if (nl == 14 && strncasecmp(s, "Content-Length", 14) == 0) {
        int64_t x = 0;
        size_t k = 0;
        while (k < vl && isdigit((unsigned char)v[k]) && x < ((int64_t)1 << 40))
            x = x * 10 + (v[k++] - '0');
        m->clen = (k > 0 && k == vl) ? x : -1;
    }
    return true;
}

static const char *step(struct ntm_multipart *m, const char *p, const char *e);

/* The bytes held in line[] turn out to be the start of a body: feed them as such. */
static void refeed_line(struct ntm_multipart *m)
{
    char tmp[NTM_MULTIPART_LINE_MAX];
    size_t n = m->line_len;
    memcpy(tmp, m->line, n);
    line_reset(m);
    begin_body(m);
    const char *q = tmp, *qe = tmp + n;
    while (q < qe && m->stop == 0)
        q = step(m, q, qe);
}

/* Could line[] (a line too long to hold whole) be a header line? */
static bool header_start(const struct ntm_multipart *m)
{
    size_t i = 0;
    while (i < m->line_len && is_token_char((unsigned char)m->line[i]))
        i++;
    return i > 0 && i < m->line_len && m->line[i] == ':';
}

/* One whole line in SEEK or HEADERS. */
static void on_line(struct ntm_multipart *m)
{
    const char *s = m->line;
    size_t n = m->line_len;
    bool close;
    if (!m->line_long && is_delimiter(m, s, n - 1, &close)) {
        line_reset(m);
        after_delimiter(m, close);
        return;
    }
    if (m->state == NTM_MP_SEEK) {
        if (!blank(s, n))
            m->st.garbage_bytes += m->line_total;
        line_reset(m);
        return;
    }
    /* HEADERS */
    size_t t = n;
    while (t > 0 && (s[t - 1] == '\n' || s[t - 1] == '\r'))
        t--;
    if (t == 0) {
        line_reset(m);
        begin_body(m);
        return;
    }
    if (m->line_long || header_line(m, s, t)) { /* a long line here is a header (see feed_lines) */
        line_reset(m);
        return;
    }
    /* not a header: this part has none, and this line is the first of its body */
    refeed_line(m);
}

/* SEEK and HEADERS: line by line. */
static const char *feed_lines(struct ntm_multipart *m, const char *p, const char *e)
{
    const char *nl = memchr(p, '\n', (size_t)(e - p));
    size_t take = nl ? (size_t)(nl - p) + 1 : (size_t)(e - p);
    size_t done = 0;
    if (m->state == NTM_MP_HEADERS && !m->line_long && m->line_len + take > sizeof m->line) {
        /* a line too long to hold: a header (kept truncated) or a body's first line */
        done = sizeof m->line - m->line_len;
        line_add(m, p, done);
        if (!header_start(m)) {
            refeed_line(m);
            return p + done;
        }
        m->line_long = true;
    }
    line_add(m, p + done, take - done);
    if (nl)
        on_line(m);
    return p + take;
}

/* BODY: stored, watching each line for a delimiter and the Content-Length for the end. */
static const char *feed_body(struct ntm_multipart *m, const char *p, const char *e)
{
    const char *nl = memchr(p, '\n', (size_t)(e - p));
    size_t take = nl ? (size_t)(nl - p) + 1 : (size_t)(e - p);
    if (m->clen >= 0 && m->len + take > (uint64_t)m->clen)
        take = (size_t)((uint64_t)m->clen - m->len);
    if (!reserve(m, take)) {
        start_skip(m);
        return p;
    }
    memcpy(m->buf + m->len, p, take);
    m->len += take;
    p += take;
    if (m->len > m->line_start && m->buf[m->len - 1] == '\n') {
        bool close;
        size_t ls = m->line_start;
        if (m->len - ls <= NTM_MULTIPART_LINE_MAX &&
            is_delimiter(m, m->buf + ls, m->len - ls - 1, &close)) {
            size_t n = ls; /* the newline before a delimiter belongs to it */
            if (n > 0 && m->buf[n - 1] == '\n')
                n--;
            if (n > 0 && m->buf[n - 1] == '\r')
                n--;
            deliver(m, n);
            release_buffer(m);
            after_delimiter(m, close);
            return p;
        }
        m->line_start = m->len;
    }
    if (m->clen >= 0 && m->len == (uint64_t)m->clen) {
        deliver(m, m->len);
        reset_part(m);
        release_buffer(m);
        line_reset(m);
        m->state = NTM_MP_SEEK; /* a delimiter may follow at once, even on this line */
    }
    return p;
}

/* SKIP: an oversized part, passed over until its delimiter or its Content-Length. */
static const char *feed_skip(struct ntm_multipart *m, const char *p, const char *e)
{
    const char *nl = memchr(p, '\n', (size_t)(e - p));
    size_t take = nl ? (size_t)(nl - p) + 1 : (size_t)(e - p);
    bool at_clen = false;
    if (m->clen >= 0 && m->skipped + take >= (uint64_t)m->clen) {
        take = (size_t)((uint64_t)m->clen - m->skipped);
        at_clen = true;
    }
    line_add(m, p, take);
    m->skipped += take;
    p += take;
    if (take > 0 && p[-1] == '\n') {
        bool close;
        if (!m->line_long && is_delimiter(m, m->line, m->line_len - 1, &close)) {
            line_reset(m);
            after_delimiter(m, close);
            return p;
        }
        line_reset(m);
    }
    if (at_clen) {
        reset_part(m);
        line_reset(m);
        m->state = NTM_MP_SEEK;
    }
    return p;
}

static const char *step(struct ntm_multipart *m, const char *p, const char *e)
{
    switch (m->state) {
    case NTM_MP_BODY:
        return feed_body(m, p, e);
    case NTM_MP_SKIP:
        return feed_skip(m, p, e);
    default:
        return feed_lines(m, p, e);
    }
}

int ntm_multipart_feed(struct ntm_multipart *m, const char *data, size_t len)
{
    const char *p = data, *e = data + len;
    while (p < e && m->stop == 0)
        p = step(m, p, e);
    return m->stop;
}

void ntm_multipart_finish(struct ntm_multipart *m)
{
    if ((m->state == NTM_MP_BODY && m->len > 0) || m->state == NTM_MP_SKIP)
        m->st.truncated++;
    reset_part(m);
    line_reset(m);
    m->state = NTM_MP_SEEK;
}
