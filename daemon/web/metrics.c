/* SPDX-License-Identifier: GPL-3.0-or-later */
/* metrics.c: GET /metrics in the Prometheus text format 0.0.4, the series the
 * web contract names. Counters come from the buffer's counters table (never
 * from memory), so they do not go back when the daemon restarts. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ingest.h"
#include "view.h"

static void head(struct web_buf *b, const char *name, const char *type, const char *help)
{
    wb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void web_uplink_name(const struct ntm_config *cfg, size_t i, char *buf, size_t len)
{
    const char *p = cfg->uplinks[i].plugin ? cfg->uplinks[i].plugin : "";
    size_t same = 0;
    for (size_t j = 0; j < i; j++)
        if (cfg->uplinks[j].plugin && strcmp(cfg->uplinks[j].plugin, p) == 0)
            same++;
    if (same == 0)
        snprintf(buf, len, "%s", p);
    else
        snprintf(buf, len, "%s#%zu", p, same + 1);
}

static void uplink_series(struct web_buf *b, const struct web_view *v, int which)
{
    for (size_t i = 0; i < v->cfg->n_uplinks; i++) {
        struct web_uplink_db u = {0};
        char name[80];
        web_uplink_name(v->cfg, i, name, sizeof name);
        if (v->db)
            web_db_uplink(v->db, name, &u);
        static const char *const names[] = {"ntm_batches_pending", "ntm_batches_quarantined",
                                            "ntm_uplink_last_delivery_timestamp_seconds"};
        wb_printf(b, "%s{uplink=\"", names[which]);
        wb_label(b, name);
        if (which == 0)
            wb_printf(b, "\"} %" PRId64 "\n", u.pending);
        else if (which == 1)
            wb_printf(b, "\"} %" PRId64 "\n", u.quarantined);
        else
            wb_printf(b, "\"} %.3f\n", (double)u.last_done_ms / 1000.0);
    }
}

static void device_row(void *arg, const struct web_device_row *r)
{
    struct web_buf *b = arg;
    wb_put(b, "ntm_device_online{village=\"");
    wb_label(b, r->village);
    wb_put(b, "\",kind=\"");
    wb_label(b, r->kind);
    wb_put(b, "\",device=\"");
    wb_label(b, r->id);
    wb_printf(b, "\"} %d\n", r->online == 1);
}

static void uptime_row(void *arg, const char *village, const char *kind, double pct)
{
    struct web_buf *b = arg;
    wb_put(b, "ntm_village_uptime_ratio{village=\"");
    wb_label(b, village);
    wb_put(b, "\",kind=\"");
    wb_label(b, kind);
    wb_printf(b, "\"} %.4f\n", pct / 100.0);
}

int web_metrics(struct web_buf *b, const struct web_view *v)
{
    struct web_db *db = v->db;
    head(b, "ntm_messages_accepted_total", "counter", "Messages accepted into the buffer.");
    wb_printf(b, "ntm_messages_accepted_total %" PRId64 "\n",
              db ? web_db_counter(db, "accepted") : 0);
    head(b, "ntm_messages_rejected_total", "counter", "Messages rejected, by reason.");
    for (int r = NTM_ACCEPT + 1; r < NTM_REJ_COUNT; r++) {
        char name[64];
        const char *reason = ntm_reject_name((enum ntm_reject)r);
        snprintf(name, sizeof name, "rejected.%s", reason);
        wb_printf(b, "ntm_messages_rejected_total{reason=\"%s\"} %" PRId64 "\n", reason,
                  db ? web_db_counter(db, name) : 0);
    }
    head(b, "ntm_messages_late_total", "counter",
         "Messages that came after their window had closed.");
    wb_printf(b, "ntm_messages_late_total %" PRId64 "\n", db ? web_db_counter(db, "late") : 0);
    head(b, "ntm_messages_buffered", "gauge", "Messages kept in the buffer now.");
    wb_printf(b, "ntm_messages_buffered %" PRId64 "\n", db ? web_db_counter(db, "buffered") : 0);
    head(b, "ntm_messages_dropped_total", "counter", "Messages evicted by the buffer's size cap.");
    wb_printf(b, "ntm_messages_dropped_total %" PRId64 "\n",
              db ? web_db_counter(db, "dropped") : 0);
    head(b, "ntm_broker_connected", "gauge",
         "1 when the daemon runs and is connected to the MQTT broker.");
    const struct web_live *l = v->live;
    wb_printf(b, "ntm_broker_connected %d\n",
              l->found && !l->stale && strcmp(l->broker_state, "connected") == 0);
    head(b, "ntm_batches_pending", "gauge", "Batches waiting to be delivered, per uplink.");
    uplink_series(b, v, 0);
    head(b, "ntm_batches_quarantined", "gauge", "Batches the uplink refused for good.");
    uplink_series(b, v, 1);
    head(b, "ntm_uplink_last_delivery_timestamp_seconds", "gauge",
         "When the uplink last delivered a batch (Unix time; 0 = never).");
    uplink_series(b, v, 2);
    head(b, "ntm_device_online", "gauge", "1 when the device is online now.");
    if (db)
        web_db_devices(db, device_row, b);
    head(b, "ntm_village_uptime_ratio", "gauge",
         "Share of the last closed hour the village's devices of a kind were online.");
    if (db)
        web_db_last_hour_uptime(db, uptime_row, b);
    head(b, "ntm_web_buffer_readable", "gauge", "1 when ntm-gateway-web could read the buffer.");
    wb_printf(b, "ntm_web_buffer_readable %d\n", db != NULL);
    return b->oom ? -1 : 0;
}
