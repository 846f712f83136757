/* ntmctl.c: the operator's command line. Reads the daemon's database
 * read-only (WAL lets it do so while the daemon writes) and prints what an
 * operator needs; never writes to the buffer except through explicit commands. */
#include <getopt.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ingest.h"
#include "record.h"

struct ctl {
    const char *config_path;
    const char *db_path;
    bool json;
    struct ntm_config *cfg;
    sqlite3 *db;
};

/* "2026-11-22 15:00:07" in Vietnam time (UTC+07:00), or "never". */
static const char *local_time(int64_t unix_s, char *buf, size_t len)
{
    if (unix_s <= 0)
        return "never";
    time_t t = (time_t)(unix_s + NTM_TZ_OFFSET_S);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static int64_t scalar(struct ctl *c, const char *sql)
{
    sqlite3_stmt *s = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
        v = (int64_t)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static int64_t counter(struct ctl *c, const char *name)
{
    sqlite3_stmt *s = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT value FROM counters WHERE name = ?", -1, &s, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW)
            v = (int64_t)sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}

static const char *village_name(struct ctl *c, const char *id)
{
    int i = c->cfg ? ntm_config_village(c->cfg, id) : -1;
    return i >= 0 ? c->cfg->villages[i].name : id;
}

/* Display width of UTF-8 text, counting code points (enough for Vietnamese). */
static int utf8_width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static void print_padded(const char *s, int width)
{
    printf("%s", s);
    for (int w = utf8_width(s); w < width; w++)
        putchar(' ');
}

/* ---- status ----------------------------------------------------------------- */

static int cmd_status(struct ctl *c)
{
    int64_t buffered = counter(c, "buffered"), accepted = counter(c, "accepted");
    int64_t dropped = counter(c, "dropped"), fallback = counter(c, "clock_fallback");
    int64_t pages = scalar(c, "PRAGMA page_count"), freep = scalar(c, "PRAGMA freelist_count");
    int64_t page_size = scalar(c, "PRAGMA page_size");
    double used_mib = (double)((pages - freep) * page_size) / (1024.0 * 1024.0);
    int64_t rejected_total = scalar(c, "SELECT coalesce(sum(value),0) FROM counters WHERE name "
                                       "LIKE 'rejected.%'");
    int64_t schema = scalar(c, "PRAGMA user_version");

    sqlite3_stmt *s = NULL;
    const char *per_village =
        "SELECT village, kind, count(*), sum(last_seen IS NOT NULL), max(last_seen),"
        " sum(messages) FROM devices GROUP BY village, kind ORDER BY village, kind";
    const char *per_reason = "SELECT substr(name, 10), value FROM counters"
                             " WHERE name LIKE 'rejected.%' AND value > 0 ORDER BY value DESC";
    if (c->json) {
        printf("{\"gateway\":");
        json_str(c->cfg ? c->cfg->gateway_id : "");
        printf(",\"database\":");
        json_str(c->db_path);
        printf(",\"schema_version\":%" PRId64 ",\"used_bytes\":%" PRId64 ",\"buffered\":%" PRId64
               ",\"accepted_total\":%" PRId64 ",\"dropped_total\":%" PRId64
               ",\"clock_fallback_total\":%" PRId64 ",\"rejected_total\":%" PRId64
               ",\"villages\":[",
               schema, (pages - freep) * page_size, buffered, accepted, dropped, fallback,
               rejected_total);
        sqlite3_prepare_v2(c->db, per_village, -1, &s, NULL);
        for (int n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
            printf("%s{\"village\":", n ? "," : "");
            json_str((const char *)sqlite3_column_text(s, 0));
            printf(",\"kind\":");
            json_str((const char *)sqlite3_column_text(s, 1));
            printf(",\"devices\":%d,\"seen\":%d,\"last_seen\":%" PRId64 ",\"messages\":%" PRId64
                   "}",
                   sqlite3_column_int(s, 2), sqlite3_column_int(s, 3),
                   (int64_t)sqlite3_column_int64(s, 4), (int64_t)sqlite3_column_int64(s, 5));
        }
        sqlite3_finalize(s);
        printf("],\"rejected\":{");
        sqlite3_prepare_v2(c->db, per_reason, -1, &s, NULL);
        for (int n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
            printf("%s", n ? "," : "");
            json_str((const char *)sqlite3_column_text(s, 0));
            printf(":%" PRId64, (int64_t)sqlite3_column_int64(s, 1));
        }
        sqlite3_finalize(s);
        printf("}}\n");
        return 0;
    }

    if (c->cfg)
        printf("gateway %s, commune %s (%s), province %s\n", c->cfg->gateway_id,
               c->cfg->commune_name[0] ? c->cfg->commune_name : "-", c->cfg->commune_code,
               c->cfg->province_code);
    printf("database %s: schema %" PRId64 ", %.1f MiB used", c->db_path, schema, used_mib);
    if (c->cfg)
        printf(" of a %d MiB cap", c->cfg->storage.max_mb);
    printf("\nmessages: %" PRId64 " buffered, %" PRId64 " accepted in all, %" PRId64
           " dropped by the size cap, %" PRId64 " with the gateway clock as time\n\n",
           buffered, accepted, dropped, fallback);

    printf("%-24s %-8s %7s %5s  %-19s  %9s\n", "VILLAGE", "KIND", "DEVICES", "SEEN",
           "LAST SEEN (+07:00)", "MESSAGES");
    sqlite3_prepare_v2(c->db, per_village, -1, &s, NULL);
    while (sqlite3_step(s) == SQLITE_ROW) {
        char tbuf[32];
        print_padded(village_name(c, (const char *)sqlite3_column_text(s, 0)), 24);
        printf(" %-8s %7d %5d  %-19s  %9" PRId64 "\n", sqlite3_column_text(s, 1),
               sqlite3_column_int(s, 2), sqlite3_column_int(s, 3),
               local_time((int64_t)sqlite3_column_int64(s, 4), tbuf, sizeof tbuf),
               (int64_t)sqlite3_column_int64(s, 5));
    }
    sqlite3_finalize(s);

    printf("\nrejected: %" PRId64 " in all\n", rejected_total);
    sqlite3_prepare_v2(c->db, per_reason, -1, &s, NULL);
    while (sqlite3_step(s) == SQLITE_ROW)
        printf("  %-18s %9" PRId64 "\n", sqlite3_column_text(s, 0),
               (int64_t)sqlite3_column_int64(s, 1));
    sqlite3_finalize(s);
    return 0;
}

/* ---- devices ---------------------------------------------------------------- */

static int cmd_devices(struct ctl *c)
{
    sqlite3_stmt *s = NULL;
    sqlite3_prepare_v2(c->db,
                       "SELECT name, village, kind, declared, last_seen, last_ts, messages"
                       " FROM devices ORDER BY village, kind, name",
                       -1, &s, NULL);
    if (c->json)
        printf("[");
    else
        printf("%-24s %-20s %-8s %-9s %-19s %9s\n", "DEVICE", "VILLAGE", "KIND", "INVENTORY",
               "LAST SEEN (+07:00)", "MESSAGES");
    for (int n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
        char tbuf[32];
        const char *name = (const char *)sqlite3_column_text(s, 0);
        const char *village = (const char *)sqlite3_column_text(s, 1);
        if (c->json) {
            printf("%s{\"device\":", n ? "," : "");
            json_str(name);
            printf(",\"village\":");
            json_str(village);
            printf(",\"kind\":");
            json_str((const char *)sqlite3_column_text(s, 2));
            printf(",\"declared\":%s,\"last_seen\":%" PRId64 ",\"messages\":%" PRId64 "}",
                   sqlite3_column_int(s, 3) ? "true" : "false", (int64_t)sqlite3_column_int64(s, 4),
                   (int64_t)sqlite3_column_int64(s, 6));
        } else {
            printf("%-24s ", name);
            print_padded(village_name(c, village), 20);
            printf(" %-8s %-9s %-19s %9" PRId64 "\n", sqlite3_column_text(s, 2),
                   sqlite3_column_int(s, 3) ? "declared" : "seen",
                   local_time((int64_t)sqlite3_column_int64(s, 4), tbuf, sizeof tbuf),
                   (int64_t)sqlite3_column_int64(s, 6));
        }
    }
    if (c->json)
        printf("]\n");
    sqlite3_finalize(s);
    return 0;
}

/* ---- quarantine ------------------------------------------------------------- */

static int cmd_quarantine(struct ctl *c)
{
    sqlite3_stmt *s = NULL;
    sqlite3_prepare_v2(c->db,
                       "SELECT recv_ms, reason, topic, detail, size FROM quarantine"
                       " ORDER BY id DESC LIMIT 200",
                       -1, &s, NULL);
    if (c->json)
        printf("[");
    for (int n = 0; sqlite3_step(s) == SQLITE_ROW; n++) {
        char tbuf[32];
        const char *reason = (const char *)sqlite3_column_text(s, 1);
        const char *topic = (const char *)sqlite3_column_text(s, 2);
        const char *detail = (const char *)sqlite3_column_text(s, 3);
        if (c->json) {
            printf("%s{\"received_ms\":%" PRId64 ",\"reason\":", n ? "," : "",
                   (int64_t)sqlite3_column_int64(s, 0));
            json_str(reason);
            printf(",\"topic\":");
            json_str(topic);
            printf(",\"detail\":");
            json_str(detail);
            printf(",\"size\":%d}", sqlite3_column_int(s, 4));
        } else {
            printf("%s  %-16s %s\n    %s (%d bytes)\n",
                   local_time((int64_t)sqlite3_column_int64(s, 0) / 1000, tbuf, sizeof tbuf),
                   reason, topic, detail, sqlite3_column_int(s, 4));
        }
    }
    if (c->json)
        printf("]\n");
    sqlite3_finalize(s);
    return 0;
}

/* ---- main ------------------------------------------------------------------- */

struct command {
    const char *name;
    int (*run)(struct ctl *c);
    bool needs_db;
    const char *help;
};

static int cmd_check_config(struct ctl *c)
{
    (void)c; /* loading it was the check */
    printf("%s: configuration is valid\n", c->config_path);
    return 0;
}

static const struct command commands[] = {
    {"status", cmd_status, true,
     "per village and kind: devices declared and seen, last seen, messages; rejections by "
     "reason"},
    {"devices", cmd_devices, true, "each device: village, kind, inventory, last seen, messages"},
    {"quarantine", cmd_quarantine, true, "the newest rejected messages with their reasons"},
    {"check-config", cmd_check_config, false, "validate the configuration file"},
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: ntmctl [--config PATH] [--db PATH] [--json] COMMAND\n\n"
                 "Reads the ntm-gateway buffer (read-only) and reports on it.\n\n"
                 "  -c, --config PATH  the daemon's configuration (default " NTM_DEFAULT_CONFIG_PATH
                 "),\n"
                 "                     which names the database\n"
                 "  -d, --db PATH      the database, overriding the configuration's\n"
                 "  -j, --json         machine-readable output\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].help);
    fprintf(out, "\nExit status: 0 done, 1 the configuration or database cannot be read, 2 usage "
                 "error.\n");
}

int main(int argc, char **argv)
{
    struct ctl c = {.config_path = NTM_DEFAULT_CONFIG_PATH};
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"db", required_argument, NULL, 'd'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "+c:d:jh", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            c.config_path = optarg;
            break;
        case 'd':
            c.db_path = optarg;
            break;
        case 'j':
            c.json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[optind], commands[i].name) == 0)
            cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, "ntmctl: unknown command '%s'\n\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (optind + 1 < argc && strcmp(argv[optind + 1], "--help") == 0) {
        printf("Usage: ntmctl [--config PATH] [--db PATH] [--json] %s\n\n%s\n", cmd->name,
               cmd->help);
        return 0;
    }

    char err[4096];
    if (!c.db_path || !cmd->needs_db) {
        c.cfg = ntm_config_load(c.config_path, err, sizeof err);
        if (!c.cfg) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        if (!c.db_path)
            c.db_path = c.cfg->storage.path;
    }
    int rc = 0;
    if (cmd->needs_db) {
        char *uri = sqlite3_mprintf("file:%s?mode=ro", c.db_path);
        if (sqlite3_open_v2(uri, &c.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) !=
                SQLITE_OK ||
            sqlite3_exec(c.db, "SELECT 1 FROM meta LIMIT 1", NULL, NULL, NULL) != SQLITE_OK) {
            fprintf(stderr, "ntmctl: cannot read the database %s: %s\n", c.db_path,
                    c.db ? sqlite3_errmsg(c.db) : "out of memory");
            rc = 1;
        }
        sqlite3_free(uri);
        if (rc == 0)
            sqlite3_busy_timeout(c.db, 2000);
    }
    if (rc == 0)
        rc = cmd->run(&c);
    sqlite3_close(c.db);
    ntm_config_free(c.cfg);
    return rc;
}
