/* SPDX-License-Identifier: GPL-3.0-or-later */
/* svg.c: the inline SVG bar charts of svg.h. Fixed view box, scaled by CSS to
 * the screen's width; colours from the page's stylesheet classes. */
#include "svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define W 320.0
#define H 120.0
#define LEFT 30.0
#define BOTTOM 16.0
#define TOP 6.0

void web_fmt_num(char *buf, size_t len, double v)
{
    if (isnan(v)) {
        snprintf(buf, len, "–");
        return;
    }
    snprintf(buf, len, "%.2f", v);
    char *dot = strchr(buf, '.');
    if (dot) {
        char *e = buf + strlen(buf) - 1;
        while (e > dot && *e == '0')
            *e-- = '\0';
        if (e == dot)
            *e = '\0';
    }
}

void svg_bars(struct web_buf *b, const char *title, const double *v, int n,
              const char *const *labels, int label_every, double max_hint, const char *unit)
{
    double max = max_hint;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i]) && v[i] > max)
            max = v[i];
    if (max <= 0)
        max = 1;
    char num[32];
    wb_printf(b, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", W, H);
    wb_html(b, title);
    wb_put(b, "\"><title>");
    wb_html(b, title);
    wb_put(b, "</title>");
    double plot_h = H - BOTTOM - TOP, plot_w = W - LEFT - 2;
    if (max >= 10000)
        snprintf(num, sizeof num, "%.0fk", max / 1000);
    else if (max >= 1000)
        snprintf(num, sizeof num, "%.1fk", max / 1000);
    else
        snprintf(num, sizeof num, "%.0f", ceil(max));
    wb_printf(b,
              "<line class=\"axis\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\"/>"
              "<line class=\"grid\" x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\"/>"
              "<text class=\"yl\" x=\"%.0f\" y=\"%.1f\">%s</text>"
              "<text class=\"yl\" x=\"%.0f\" y=\"%.1f\">0</text>",
              LEFT, H - BOTTOM, W - 2, H - BOTTOM, LEFT, TOP, W - 2, TOP, LEFT - 3, TOP + 8, num,
              LEFT - 3, H - BOTTOM);
    double slot = plot_w / (n > 0 ? n : 1);
    for (int i = 0; i < n; i++) {
        double x = LEFT + 1 + slot * i;
        if (!isnan(v[i])) {
            double h = v[i] / max * plot_h;
            if (h < 0)
                h = 0;
            web_fmt_num(num, sizeof num, v[i]);
            wb_printf(b,
                      "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">"
                      "<title>",
                      x + slot * 0.1, H - BOTTOM - h, slot * 0.8, h);
            if (labels && labels[i]) {
                wb_html(b, labels[i]);
                wb_put(b, ": ");
            }
            wb_printf(b, "%s", num);
            if (unit && *unit) {
                wb_put(b, " ");
                wb_html(b, unit);
            }
            wb_put(b, "</title></rect>");
        } else {
            wb_printf(b, "<rect class=\"gap\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"2\"/>",
                      x + slot * 0.1, H - BOTTOM - 2, slot * 0.8);
        }
        if (labels && labels[i] && label_every > 0 && i % label_every == 0) {
            wb_printf(b, "<text class=\"xl\" x=\"%.1f\" y=\"%.1f\">", x + slot / 2, H - 3);
            wb_html(b, labels[i]);
            wb_put(b, "</text>");
        }
    }
    wb_put(b, "</svg>");
}
