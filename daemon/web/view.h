/* SPDX-License-Identifier: GPL-3.0-or-later */
/* view.h: what one request's answer is made from (configuration, live state,
 * the buffer opened read-only, language, time), and the two answers: the
 * page (page.c) and the metrics (metrics.c). */
#ifndef NTM_WEB_VIEW_H
#define NTM_WEB_VIEW_H

#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "live.h"
#include "queries.h"

struct web_view {
    const struct ntm_config *cfg;
    const struct web_live *live;
    struct web_db *db; /* NULL when the buffer could not be opened */
    const char *db_error;
    int lang;       /* enum ntm_web_language */
    int64_t now_ms; /* wall clock */
    int refresh_s;
};

/* The status page, HTML in UTF-8. Returns 0, or -1 out of memory. */
int web_page(struct web_buf *b, const struct web_view *v);
/* The Prometheus text format (0.0.4). Returns 0, or -1 out of memory. */
int web_metrics(struct web_buf *b, const struct web_view *v);

/* The name the daemon gives uplink i (plugin_host.c): its plugin's name, with
 * "#2", "#3" for later entries of the same plugin. */
void web_uplink_name(const struct ntm_config *cfg, size_t i, char *buf, size_t len);

/* The page's words: `en` (an English msgid) in language lang (lang.c);
 * web_lang_init once at start. */
void web_lang_init(void);
const char *web_tr(int lang, const char *en);

#endif
