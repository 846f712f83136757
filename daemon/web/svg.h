/* SPDX-License-Identifier: GPL-3.0-or-later */
/* svg.h: bar charts drawn on the server as inline SVG (no script, no asset:
 * any phone's browser shows them), each bar with its number as a tooltip
 * (<title>). Knows nothing of the database or of languages. */
#ifndef NTM_WEB_SVG_H
#define NTM_WEB_SVG_H

#include "buf.h"

/* A bar chart of v[0..n) (NAN = no data, drawn as a gap), labels[i] under
 * every `label_every`-th bar, a y axis from 0 to max(max_hint, largest value).
 * `title` names the chart for screen readers; `unit` follows each number. */
void svg_bars(struct web_buf *b, const char *title, const double *v, int n,
              const char *const *labels, int label_every, double max_hint, const char *unit);

/* A number as the page prints it: up to 2 decimals, no trailing zeros. */
void web_fmt_num(char *buf, size_t len, double v);

#endif
