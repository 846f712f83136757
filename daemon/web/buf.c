/* SPDX-License-Identifier: GPL-3.0-or-later */
/* buf.c: the growable text buffer of buf.h and its escapes. Knows nothing of
 * pages or metrics. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool grow(struct web_buf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->n + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void wb_putn(struct web_buf *b, const char *s, size_t n)
{
    if (!grow(b, n))
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void wb_put(struct web_buf *b, const char *s)
{
    wb_putn(b, s, strlen(s));
}

void wb_printf(struct web_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        wb_putn(b, small, (size_t)n);
        return;
    }
    if (!grow(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void wb_html(struct web_buf *b, const char *s)
{
    for (const char *p = s; p && *p; p++) {
        switch (*p) {
        case '&':
            wb_put(b, "&amp;");
            break;
        case '<':
            wb_put(b, "&lt;");
            break;
        case '>':
            wb_put(b, "&gt;");
            break;
        case '"':
            wb_put(b, "&quot;");
            break;
        case '\'':
            wb_put(b, "&#39;");
            break;
        default:
            wb_putn(b, p, 1);
        }
    }
}

void wb_label(struct web_buf *b, const char *s)
{
    for (const char *p = s; p && *p; p++) {
        switch (*p) {
        case '\\':
            wb_put(b, "\\\\");
            break;
        case '"':
            wb_put(b, "\\\"");
            break;
        case '\n':
            wb_put(b, "\\n");
            break;
        default:
            wb_putn(b, p, 1);
        }
    }
}

void wb_free(struct web_buf *b)
{
    free(b->p);
    *b = (struct web_buf){0};
}
