/* main.c: the command line of ntm-gatewayd: --config, --check-config,
 * --print-config-keys, --version, --help. Loads the configuration and hands
 * over to daemon.c. */
#include <getopt.h>
#include <mosquitto.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "daemon.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ntm-gatewayd [--config PATH] [--check-config] [--print-config-keys]\n"
            "                    [--version] [--help]\n"
            "\n"
            "The NTM commune gateway daemon: subscribes to the devices' MQTT messages,\n"
            "keeps them durably in SQLite and computes village indicators for the province.\n"
            "\n"
            "  -c, --config PATH   configuration file (default %s)\n"
            "      --check-config  check the configuration as a start would (syntax, values,\n"
            "                      placeholders left, files readable by the daemon's user,\n"
            "                      uplink plugins loaded with their options), print any\n"
            "                      problems as FILE:LINE:COLUMN: message, and exit (0 when\n"
            "                      the daemon would start)\n"
            "      --print-config-keys  print every configuration key with its default,\n"
            "                      values and whether SIGHUP applies it, as a Markdown\n"
            "                      table (README.md has it), and exit\n"
            "  -V, --version       print the version and exit\n"
            "  -h, --help          print this help and exit\n"
            "\n"
            "Signals: SIGTERM/SIGINT commit everything and exit 0.\n",
            NTM_DEFAULT_CONFIG_PATH);
}

int main(int argc, char **argv)
{
    const char *path = NTM_DEFAULT_CONFIG_PATH;
    bool check_only = false;
    /* the buffer holds the day's MAC keys next to the hashes: whatever we create
     * (database, WAL, shm, tail journal) is never readable by others, also when
     * run by hand under umask 022 (the unit sets UMask=0027 too) */
    mode_t um = umask(0);
    umask(um | 027);
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check-config", no_argument, NULL, 'k'},
                                         {"print-config-keys", no_argument, NULL, 'K'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'k':
            check_only = true;
            break;
        case 'K':
            return ntm_config_print_keys(stdout) == 0 && fflush(stdout) == 0 ? 0 : 1;
        case 'V':
            printf("ntm-gatewayd %s\n", NTM_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ntm-gatewayd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    char err[4096];
    struct ntm_config *cfg = ntm_config_load(path, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        if (!check_only)
            fprintf(stderr, "ntm-gatewayd: not started: the configuration has errors\n");
        return 1;
    }
    /* what start-up checks beyond the syntax: the same code for --check-config */
    struct ntm_log clog;
    ntm_log_init(&clog, "ntm-gatewayd", cfg->log.level);
    if (ntm_check_static(cfg, &clog, err, sizeof err) != 0 ||
        (check_only && ntm_check_uplinks(cfg, &clog, err, sizeof err) != 0)) {
        fprintf(stderr, "%s\n", err);
        fprintf(stderr, check_only ? "ntm-gatewayd: the daemon would not start: the "
                                     "configuration has errors\n"
                                   : "ntm-gatewayd: not started: the configuration has errors\n");
        ntm_config_free(cfg);
        return 1;
    }
    if (check_only) {
        printf("%s: configuration is valid (%zu villages, %zu devices, %zu uplinks, plugins "
               "loaded): the daemon would start\n",
               path, cfg->n_villages, cfg->n_devices, cfg->n_uplinks);
        ntm_config_free(cfg);
        return 0;
    }

    mosquitto_lib_init();
    struct ntm_daemon *d = calloc(1, sizeof *d);
    int rc = 1;
    if (!d) {
        fprintf(stderr, "ntm-gatewayd: out of memory\n");
    } else if (ntm_daemon_init(d, cfg, err, sizeof err) != 0) {
        ntm_logf(&d->log, LOG_ERR, "not started: %s", err);
    } else {
        rc = ntm_daemon_run(d);
    }
    if (d)
        ntm_daemon_free(d);
    free(d);
    ntm_config_free(cfg);
    mosquitto_lib_cleanup();
    return rc;
}
