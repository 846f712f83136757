/* SPDX-License-Identifier: GPL-3.0-or-later */
/* buf.h: the growable text buffer the page and the metrics are written into,
 * with HTML escaping. Owns only its bytes; on out of memory it remembers the
 * failure (oom) and drops later writes, so callers check once at the end. */
#ifndef NTM_WEB_BUF_H
#define NTM_WEB_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct web_buf {
    char *p;
    size_t n, cap;
    bool oom;
};

void wb_put(struct web_buf *b, const char *s);
void wb_putn(struct web_buf *b, const char *s, size_t n);
void wb_printf(struct web_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Text escaped for HTML element content and attribute values. */
void wb_html(struct web_buf *b, const char *s);
/* A Prometheus label value: backslash, double quote and newline escaped. */
void wb_label(struct web_buf *b, const char *s);
void wb_free(struct web_buf *b);

#endif
