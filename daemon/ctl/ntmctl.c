/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ntmctl.c: the operator's command line: global options, the command table
 * and its help, the configuration and the buffer opened (read-only but for
 * requeue and forget). Each command is in a cmd_*.c file; `check-config` runs the
 * daemon's own check (ntm-gatewayd --check-config), so both say the same. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "ctl_broker.h"
#include "ctl_open.h"

struct command {
    const char *name;
    int (*run)(struct ctl *c);
    bool needs_db, writes;
    const char *args; /* its options and operands, for the help */
    const char *help;
};

static int cmd_check_config(struct ctl *c);
static int cmd_broker_files(struct ctl *c);

static const struct command commands[] = {
    {"status", cmd_status, true, false, "[--check]",
     N_("is it connected (broker, province), what waits, what needs a person; --check exits 1 "
        "when something does")},
    {"today", cmd_today, true, false, "[--village V] [--day YYYY-MM-DD]",
     N_("today so far per village and kind, open windows included, and what was delivered")},
    {"devices", cmd_devices, true, false, "[--offline] [--village V] [--kind K] [ID]",
     N_("each device: state, uptime today, last seen, and why it is 0 %")},
    {"batches", cmd_batches, true, false, "[--uplink U]",
     N_("per uplink: waiting, refused, last delivery, next try; then the batches")},
    {"indicators", cmd_indicators, true, false, "[--village V] [--kind K] [--period hour|day]",
     N_("the newest closed hour and day per village and kind")},
    {"quarantine", cmd_quarantine, true, false, "",
     N_("rejected messages and refused batches, with their reasons")},
    {"requeue", cmd_requeue, true, true, "BATCH",
     N_("send a refused (quarantined) batch again (seq or batch id)")},
    {"forget", cmd_forget, true, true, "ID... | --undeclared DAYS",
     N_("forget undeclared devices (a sprayed or retired id), or all those silent for DAYS "
        "days: they leave their village's figures; declared ones are removed from gateway.yaml "
        "instead")},
    {"check-config", cmd_check_config, false, false, "",
     N_("check the configuration exactly as the daemon's start does")},
    {"broker-files", cmd_broker_files, false, false, "DIR",
     N_("mosquitto's ACL (DIR/ntm-acl) and password file (DIR/ntm-passwd) from the inventory; "
        "prints new devices' passwords")},
    {"device", cmd_device, false, false, "add|remove|passwd ID [OPTIONS]",
     N_("add ID --kind K --village V [--ip A]: a device into the configuration's inventory, "
        "with its broker user and ACL, and tell the daemon; remove ID: the reverse; passwd ID: "
        "a new broker password. --broker-dir DIR: the broker's files (default /etc/mosquitto "
        "when ntm-acl is there)")},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out,
            _("Usage: ntmctl [OPTIONS] COMMAND [ARGS]\n\n"
              "Answers what a technician asks of an ntm-gateway: is it connected, what is\n"
              "offline, what is waiting, what failed and why, what was sent today.\n\n"
              "  -c, --config PATH  the daemon's configuration\n"
              "                     (default %s)\n"
              "  -d, --db PATH      the buffer, instead of the configuration's storage.path\n"
              "      --state PATH   the daemon's live state file (default: found by itself)\n"
              "  -j, --json         machine-readable output\n"
              "  -w, --wide         wider tables (default: 80 columns)\n\nCommands:\n"),
            NTM_DEFAULT_CONFIG_PATH);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].args);
        ctl_wrap(out, _(commands[i].help), 15, 80);
    }
    fputc('\n', out);
    ctl_wrap(out,
             _("Exit status: 0 done, 1 cannot read what was asked (or status --check: something "
               "needs a person), 2 usage error."),
             0, 80);
}

/* The daemon's own check: the same code, the same messages, the same exit. */
static int cmd_check_config(struct ctl *c)
{
    int first;
    if (c->argc > 1) {
        ctl_usage_error("check-config", _("unexpected argument '%s'"), c->argv[1]);
        return CTL_USAGE;
    }
    (void)first;
    const char *g = getenv("NTM_GATEWAYD");
    if (!g || !g[0])
        g = NTM_GATEWAYD_PATH;
    fflush(stdout);
    execl(g, "ntm-gatewayd", "--check-config", "--config", c->config_path, (char *)NULL);
    fprintf(stderr, _("ntmctl check-config: cannot run %s: %s\n"), g, strerror(errno));
    return CTL_FAIL;
}

static int cmd_broker_files(struct ctl *c)
{
    int first;
    if (!ctl_parse(c, "+", NULL, NULL, NULL, 1, &first))
        return CTL_USAGE;
    const char *dir = first < c->argc ? c->argv[first] : NULL;
    if (!dir) {
        ctl_usage_error("broker-files", _("which directory? (for example /etc/mosquitto)"));
        return CTL_USAGE;
    }
    if (c->parse_only)
        return CTL_OK;
    return ntm_ctl_broker_files(c->cfg, dir, stdout) == 0 ? CTL_OK : CTL_FAIL;
}

/* Read-only unless the command writes; an escaped file: URI (ctl_open.c). */
static int open_db(struct ctl *c, bool writes)
{
    int rc = CTL_OK;
    if (ntm_ctl_open_db(c->db_path, writes, &c->db) != 0) {
        fprintf(stderr, _("ntmctl: cannot read the buffer %s: %s\n"), c->db_path,
                c->db ? sqlite3_errmsg(c->db) : _("cannot open it"));
        if (access(c->db_path, F_OK) != 0)
            fprintf(stderr, _("(the daemon makes it when it first starts)\n"));
        rc = CTL_FAIL;
    }
    if (rc == CTL_OK)
        sqlite3_busy_timeout(c->db, 2000);
    return rc;
}

int main(int argc, char **argv)
{
    struct ctl c = {.config_path = NTM_DEFAULT_CONFIG_PATH};
    ntm_i18n_init();
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"db", required_argument, NULL, 'd'},
                                         {"state", required_argument, NULL, 's'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"wide", no_argument, NULL, 'w'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int o;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "+c:d:jwh", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            c.config_path = optarg;
            break;
        case 'd':
            c.db_path = optarg;
            break;
        case 's':
            c.state_path = optarg;
            break;
        case 'j':
            c.json = true;
            break;
        case 'w':
            c.wide = true;
            break;
        case 'h':
            usage(stdout);
            return CTL_OK;
        default:
            fprintf(stderr, _("ntmctl: unknown option %s\n\n"), argv[optind - 1]);
            usage(stderr);
            return CTL_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[optind], commands[i].name) == 0)
            cmd = &commands[i];
    if (!cmd) {
        fprintf(stderr, _("ntmctl: unknown command '%s'\n\n"), argv[optind]);
        usage(stderr);
        return CTL_USAGE;
    }
    c.argc = argc - optind;
    c.argv = argv + optind;
    for (int i = 1; i < c.argc; i++)
        if (strcmp(c.argv[i], "--help") == 0 || strcmp(c.argv[i], "-h") == 0) {
            printf(_("Usage: ntmctl [OPTIONS] %s %s\n\n%s\n"), cmd->name, cmd->args, _(cmd->help));
            return CTL_OK;
        }
    if (cmd->run == cmd_check_config)
        return cmd_check_config(&c);

    /* the arguments first: a usage error is one whether or not the buffer exists */
    c.parse_only = true;
    int prc = cmd->run(&c);
    if (prc != CTL_OK)
        return prc;
    c.parse_only = false;
    struct ntm_clock clock;
    ntm_clock_init(&clock);
    c.now_ms = ntm_clock_wall_ms(&clock);
    char err[4096];
    if (!c.db_path || !cmd->needs_db) {
        c.cfg = ntm_config_load(c.config_path, err, sizeof err);
        if (!c.cfg) {
            fprintf(stderr, "%s\n", err);
            return CTL_FAIL;
        }
        if (!c.db_path)
            c.db_path = c.cfg->storage.path;
    } else {
        /* names of villages, when the configuration can be read */
        c.cfg = ntm_config_load(c.config_path, err, sizeof err);
    }
    int rc = cmd->needs_db ? open_db(&c, cmd->writes) : CTL_OK;
    if (rc == CTL_OK)
        rc = cmd->run(&c);
    sqlite3_close(c.db);
    cJSON_Delete(c.live);
    ntm_config_free(c.cfg);
    return rc;
}
