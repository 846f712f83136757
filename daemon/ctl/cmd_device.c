/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cmd_device.c: `ntmctl device add|remove|passwd`: one device of the
 * inventory added or removed in the configuration file (checked with the
 * daemon's own parser before the file is replaced), its broker user and ACL,
 * and a SIGHUP to the running daemon. It must not touch the buffer. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_broker.h"
#include "ctl_conf_edit.h"
#include "record.h"

#define DEFAULT_BROKER_DIR "/etc/mosquitto"

struct dev_opts {
    const char *kind, *village, *ip, *broker_dir;
};

static void on_opt(struct ctl *c, int opt, const char *arg, void *data)
{
    (void)c;
    struct dev_opts *o = data;
    if (opt == 'k')
        o->kind = arg;
    else if (opt == 'v')
        o->village = arg;
    else if (opt == 'i')
        o->ip = arg;
    else if (opt == 'b')
        o->broker_dir = arg;
}

/* --broker-dir, else /etc/mosquitto when broker-files made its ACL there. */
static const char *broker_dir(const struct dev_opts *o)
{
    if (o->broker_dir)
        return o->broker_dir;
    return access(DEFAULT_BROKER_DIR "/ntm-acl", F_OK) == 0 ? DEFAULT_BROKER_DIR : NULL;
}

/* SIGHUP to the daemon named by the live state, when it runs. */
static void reload_daemon(struct ctl *c)
{
    ctl_load_live(c);
    const cJSON *pid = ctl_live_get(c, "pid");
    if (!c->live || c->live_stale || !cJSON_IsNumber(pid) || pid->valuedouble <= 1) {
        printf(_("The daemon is not running: the change applies at its next start.\n"));
        return;
    }
    pid_t p = (pid_t)pid->valuedouble;
    if (kill(p, SIGHUP) != 0) {
        printf(_("Cannot signal the daemon (pid %d): %s; run: systemctl reload ntm-gateway\n"),
               (int)p, strerror(errno));
        return;
    }
    printf(_("Asked the daemon (pid %d) to re-read its configuration; it takes a changed "
             "inventory at its next restart (systemctl restart ntm-gateway).\n"),
           (int)p);
}

typedef char *conf_edit_fn(const char *text, size_t len, const char *arg, size_t *out_len,
                           char *why, size_t whylen);

/* Reads the configuration file, edits it by `edit` with `arg`, re-parses the
 * result with the daemon's parser, then replaces the file; NULL (after saying
 * why) leaves the file as it was. */
static struct ntm_config *edit_config(struct ctl *c, conf_edit_fn *edit, const char *arg)
{
    char err[4096];
    size_t len, nlen;
    char *text = ntm_conf_read(c->config_path, &len, err, sizeof err);
    char *edited = text ? edit(text, len, arg, &nlen, err, sizeof err) : NULL;
    free(text);
    if (!edited) {
        fprintf(stderr, "ntmctl device: %s\n", err);
        return NULL;
    }
    struct ntm_config *n = ntm_config_parse(c->config_path, edited, nlen, err, sizeof err);
    if (!n) {
        fprintf(stderr,
                _("ntmctl device: the edited configuration would not load, so %s is "
                  "unchanged:\n%s\n"),
                c->config_path, err);
    } else if (ntm_conf_replace(c->config_path, edited, nlen, err, sizeof err) != 0) {
        fprintf(stderr, "ntmctl device: %s\n", err);
        ntm_config_free(n);
        n = NULL;
    }
    free(edited);
    return n;
}

static void print_credentials(const struct ntm_config *cfg, const struct ntm_device_decl *d,
                              const char *pw)
{
    printf("MQTT user:     %s\n", d->id);
    printf("MQTT password: %s\n", pw);
    printf("MQTT topics:   ntm/v1/%s/%s/%s/<state|heartbeat|event|stats>\n",
           cfg->villages[d->village].id, ntm_kind_name(d->kind), d->id);
}

static int device_add(struct ctl *c, const char *id, const struct dev_opts *o)
{
    if (ntm_config_village(c->cfg, o->village) < 0) {
        fprintf(stderr, _("ntmctl device: there is no village '%s' in %s.\n"), o->village,
                c->config_path);
        return CTL_FAIL;
    }
    if (ntm_config_device(c->cfg, id)) {
        fprintf(stderr, _("ntmctl device: device %s is already in %s.\n"), id, c->config_path);
        return CTL_FAIL;
    }
    char item[512];
    snprintf(item, sizeof item, "{id: %s, kind: %s, village: %s%s%s%s}", id, o->kind, o->village,
             o->ip ? ", ip: \"" : "", o->ip ? o->ip : "", o->ip ? "\"" : "");
    struct ntm_config *n = edit_config(c, ntm_conf_add_device, item);
    if (!n)
        return CTL_FAIL;
    const struct ntm_device_decl *d = ntm_config_device(n, id);
    printf(_("Device %s added to %s.\n"), id, c->config_path);
    const char *dir = broker_dir(o);
    int rc = CTL_OK;
    char pw[21];
    if (!d) {
        rc = CTL_FAIL; /* cannot happen: the parser read the line just added */
    } else if (!dir) {
        printf(_("No broker files were changed (no %s/ntm-acl, no --broker-dir): run ntmctl "
                 "broker-files DIR for its password.\n"),
               DEFAULT_BROKER_DIR);
    } else if (ntm_ctl_broker_acl(n, dir) != 0 ||
               ntm_ctl_broker_set_password(dir, id, pw, sizeof pw) != 0) {
        rc = CTL_FAIL;
    } else {
        print_credentials(n, d, pw);
        explicit_bzero(pw, sizeof pw);
        printf(_("Broker files in %s updated; then: systemctl reload mosquitto\n"), dir);
    }
    ntm_config_free(n);
    reload_daemon(c);
    return rc;
}

static int device_remove(struct ctl *c, const char *id, const struct dev_opts *o)
{
    if (!ntm_config_device(c->cfg, id)) {
        fprintf(stderr, _("ntmctl device: there is no device %s in %s.\n"), id, c->config_path);
        return CTL_FAIL;
    }
    struct ntm_config *n = edit_config(c, ntm_conf_remove_device, id);
    if (!n)
        return CTL_FAIL;
    printf(_("Device %s removed from %s.\n"), id, c->config_path);
    const char *dir = broker_dir(o);
    int rc = CTL_OK;
    if (!dir)
        printf(_("No broker files were changed (no %s/ntm-acl, no --broker-dir).\n"),
               DEFAULT_BROKER_DIR);
    else if (ntm_ctl_broker_remove_user(dir, id) != 0 || ntm_ctl_broker_acl(n, dir) != 0)
        rc = CTL_FAIL;
    else
        printf(_("Broker files in %s updated; then: systemctl reload mosquitto\n"), dir);
    ntm_config_free(n);
    reload_daemon(c);
    return rc;
}

static int device_passwd(struct ctl *c, const char *id, const struct dev_opts *o)
{
    const struct ntm_device_decl *d = ntm_config_device(c->cfg, id);
    if (!d) {
        fprintf(stderr, _("ntmctl device: there is no device %s in %s.\n"), id, c->config_path);
        return CTL_FAIL;
    }
    const char *dir = broker_dir(o);
    if (!dir) {
        fprintf(stderr,
                _("ntmctl device: no broker files to change (no %s/ntm-acl): give "
                  "--broker-dir DIR.\n"),
                DEFAULT_BROKER_DIR);
        return CTL_FAIL;
    }
    char pw[21];
    if (ntm_ctl_broker_set_password(dir, id, pw, sizeof pw) != 0)
        return CTL_FAIL;
    print_credentials(c->cfg, d, pw);
    explicit_bzero(pw, sizeof pw);
    printf(_("Broker files in %s updated; then: systemctl reload mosquitto\n"), dir);
    return CTL_OK;
}

int cmd_device(struct ctl *c)
{
    static const struct option opts[] = {{"kind", required_argument, NULL, 'k'},
                                         {"village", required_argument, NULL, 'v'},
                                         {"ip", required_argument, NULL, 'i'},
                                         {"broker-dir", required_argument, NULL, 'b'},
                                         {NULL, 0, NULL, 0}};
    struct dev_opts o = {0};
    int first;
    if (!ctl_parse(c, "", opts, on_opt, &o, 2, &first))
        return CTL_USAGE;
    const char *verb = first < c->argc ? c->argv[first] : NULL;
    const char *id = first + 1 < c->argc ? c->argv[first + 1] : NULL;
    bool add = verb && strcmp(verb, "add") == 0;
    if (!verb || (!add && strcmp(verb, "remove") != 0 && strcmp(verb, "passwd") != 0)) {
        ctl_usage_error("device", _("add, remove or passwd?"));
        return CTL_USAGE;
    }
    if (!id) {
        ctl_usage_error("device", _("which device id?"));
        return CTL_USAGE;
    }
    if (!ntm_valid_device_id(id, strlen(id))) {
        ctl_usage_error("device", _("'%s' is not a device id: 1 to 64 of A-Z a-z 0-9 _ . -"), id);
        return CTL_USAGE;
    }
    if (!add && (o.kind || o.village || o.ip)) {
        ctl_usage_error("device", _("--kind, --village and --ip are for device add"));
        return CTL_USAGE;
    }
    if (add && (!o.kind || !o.village)) {
        ctl_usage_error("device", _("device add needs --kind and --village"));
        return CTL_USAGE;
    }
    if (add && ntm_kind_parse(o.kind) < 0) {
        ctl_usage_error("device", _("--kind takes speaker, camera or wifi, not '%s'"), o.kind);
        return CTL_USAGE;
    }
    if (add && !ntm_valid_village_id(o.village, strlen(o.village))) {
        ctl_usage_error("device", _("'%s' is not a village id: 1 to 32 of a-z 0-9 - (lower case)"),
                        o.village);
        return CTL_USAGE;
    }
    if (add && o.ip && (!o.ip[0] || strpbrk(o.ip, "\"\\ \t\r\n{},#"))) {
        ctl_usage_error("device", _("'%s' is not an address"), o.ip);
        return CTL_USAGE;
    }
    if (c->parse_only)
        return CTL_OK;
    if (add)
        return device_add(c, id, &o);
    return verb[0] == 'r' ? device_remove(c, id, &o) : device_passwd(c, id, &o);
}
