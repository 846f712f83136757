/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ctl_broker.c: the broker's password and ACL files from the inventory (see
 * ctl_broker.h). Owns their formats (mosquitto's own; passwords hashed by
 * mosquitto_passwd, never written here in clear); must not touch the buffer. */
#include "ctl_broker.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "i18n.h"
#include "record.h"
#include "sources/mapping.h"

extern char **environ;

static const char *gateway_user(const struct ntm_config *cfg)
{
    return cfg->mqtt.username ? cfg->mqtt.username : "ntm-gateway";
}

/* Whether `user` has a line in the password file. */
static bool has_user(const char *passwd, const char *user)
{
    FILE *f = fopen(passwd, "re");
    if (!f)
        return false;
    char line[1024];
    size_t ul = strlen(user);
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strncmp(line, user, ul) == 0 && line[ul] == ':';
    fclose(f);
    return found;
}

static int new_password(char *pw, size_t len)
{
    static const char alphabet[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    unsigned char r[32];
    if (len > sizeof r + 1 || getrandom(r, len - 1, 0) != (ssize_t)(len - 1))
        return -1;
    for (size_t i = 0; i + 1 < len; i++)
        pw[i] = alphabet[r[i] % (sizeof alphabet - 1)];
    pw[len - 1] = '\0';
    explicit_bzero(r, sizeof r);
    return 0;
}

/* mosquitto_passwd with argv, without a shell. */
static int run_passwd(char **argv, const char *user)
{
    pid_t pid;
    int rc = posix_spawnp(&pid, "mosquitto_passwd", NULL, NULL, argv, environ);
    if (rc != 0) {
        fprintf(stderr, _("ntmctl: cannot run mosquitto_passwd: %s (install mosquitto)\n"),
                strerror(rc));
        return -1;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, _("ntmctl: mosquitto_passwd failed for user %s\n"), user);
        return -1;
    }
    return 0;
}

/* mosquitto_passwd -b FILE USER PASSWORD (adds, or replaces a password). */
static int add_user(const char *passwd, const char *user, const char *pw)
{
    char *argv[] = {"mosquitto_passwd", "-b", (char *)passwd, (char *)user, (char *)pw, NULL};
    return run_passwd(argv, user);
}

int ntm_ctl_broker_set_password(const char *dir, const char *user, char *pw, size_t len)
{
    char passwd[4096];
    snprintf(passwd, sizeof passwd, "%s/ntm-passwd", dir);
    int fd = open(passwd, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
        fprintf(stderr, _("ntmctl: cannot open %s: %s\n"), passwd, strerror(errno));
        return -1;
    }
    close(fd);
    if (new_password(pw, len) != 0 || add_user(passwd, user, pw) != 0) {
        explicit_bzero(pw, len);
        return -1;
    }
    return 0;
}

int ntm_ctl_broker_remove_user(const char *dir, const char *user)
{
    char passwd[4096];
    snprintf(passwd, sizeof passwd, "%s/ntm-passwd", dir);
    if (!has_user(passwd, user))
        return 0;
    char *argv[] = {"mosquitto_passwd", "-D", passwd, (char *)user, NULL};
    return run_passwd(argv, user);
}

/* A mapping's topic filter for one device, as `topic write` lines: {device}
 * as each name that maps to it (or its id), {village} as its village. None
 * when the filter names no device or the mapping's kind is another. */
static void mapping_lines(FILE *f, const struct ntm_config *cfg, const struct ntm_mapping *m,
                          const struct ntm_device_decl *d)
{
    bool names_device = false;
    for (size_t l = 0; l < m->n_levels; l++)
        names_device = names_device || strcmp(m->levels[l], "{device}") == 0;
    if (!names_device || m->device.from != NTM_MAP_TOPIC || (m->kind >= 0 && m->kind != d->kind))
        return;
    /* the names in the topic that stand for d: map keys to its id, and its id
     * itself unless the map turns that name into another device */
    bool id_is_key = false;
    for (size_t k = 0; k <= m->device.n_map; k++) {
        const char *name = d->id;
        if (k < m->device.n_map) {
            id_is_key = id_is_key || strcmp(m->device.map[k].key, d->id) == 0;
            if (strcmp(m->device.map[k].val.text, d->id) != 0)
                continue;
            name = m->device.map[k].key;
            /* a name that would be a wildcard or span levels in the ACL: never granted */
            if (name[strcspn(name, "/+#\n\r")] != '\0')
                continue;
        } else if (id_is_key) {
            continue;
        }
        fputs("topic write ", f);
        for (size_t l = 0; l < m->n_levels; l++) {
            const char *lv = m->levels[l];
            if (strcmp(lv, "{device}") == 0)
                lv = name;
            else if (strcmp(lv, "{village}") == 0)
                lv = cfg->villages[d->village].id;
            fprintf(f, "%s%s", l ? "/" : "", lv);
        }
        fputc('\n', f);
    }
}

/* DIR/ntm-acl.local, copied at the end: users the inventory does not know
 * (an NVR publishing a shared topic such as frigate/events). */
static int copy_local(FILE *f, const char *dir)
{
    char path[4096], buf[4096];
    snprintf(path, sizeof path, "%s/ntm-acl.local", dir);
    FILE *in = fopen(path, "re");
    if (!in)
        return errno == ENOENT ? 0 : -1;
    fprintf(f, "\n# ---- copied from %s\n", path);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, f);
    int rc = ferror(in) ? -1 : 0;
    fclose(in);
    return rc;
}

int ntm_ctl_broker_acl(const struct ntm_config *cfg, const char *dir)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/ntm-acl", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, _("ntmctl: cannot write %s: %s\n"), tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fprintf(f,
            "# mosquitto ACL made by `ntmctl broker-files` from the device inventory of\n"
            "# the gateway's configuration: do not edit, run it again after a change\n"
            "# (lines of ntm-acl.local in this directory are copied at the end).\n"
            "# Only the gateway reads; each device writes only under its own topics.\n\n"
            "user %s\ntopic read ntm/v1/#\n",
            gateway_user(cfg));
    for (size_t i = 0; i < cfg->n_mappings; i++)
        fprintf(f, "topic read %s\n", cfg->mappings[i].filter);
    for (size_t i = 0; i < cfg->n_mappings; i++) {
        const struct ntm_mapping *m = &cfg->mappings[i];
        if (m->device.from != NTM_MAP_TOPIC)
            fprintf(f,
                    "# mapping %s: %s names no device (it is in the payload): no device of\n"
                    "# the inventory may publish it; give it to its publisher in ntm-acl.local\n",
                    m->name, m->topic);
    }
    for (size_t i = 0; i < cfg->n_devices; i++) {
        const struct ntm_device_decl *d = &cfg->devices[i];
        fprintf(f, "\nuser %s\ntopic write ntm/v1/%s/%s/%s/#\n", d->id,
                cfg->villages[d->village].id, ntm_kind_name(d->kind), d->id);
        for (size_t j = 0; j < cfg->n_mappings; j++)
            mapping_lines(f, cfg, &cfg->mappings[j], d);
    }
    int local = copy_local(f, dir);
    bool ok = local == 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, _("ntmctl: cannot write %s: %s\n"), path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int ntm_ctl_broker_files(const struct ntm_config *cfg, const char *dir, FILE *out)
{
    if (dir == NULL) {
        fprintf(stderr, "ntmctl broker-files: which directory? (e.g. /etc/mosquitto)\n");
        return 1;
    }
    if (ntm_ctl_broker_acl(cfg, dir) != 0)
        return 1;
    char passwd[4096];
    snprintf(passwd, sizeof passwd, "%s/ntm-passwd", dir);
    size_t added = 0;
    for (size_t i = 0; i <= cfg->n_devices; i++) {
        const char *user = i < cfg->n_devices ? cfg->devices[i].id : gateway_user(cfg);
        if (has_user(passwd, user))
            continue;
        char pw[21];
        if (ntm_ctl_broker_set_password(dir, user, pw, sizeof pw) != 0)
            return 1;
        fprintf(out, "%s %s\n", user, pw);
        explicit_bzero(pw, sizeof pw);
        added++;
    }
    fprintf(stderr,
            "ntmctl broker-files: %s/ntm-acl written (%zu devices); %zu users added to %s "
            "(their passwords above: enter each on its device, the gateway's in "
            "mqtt.password_file); then: systemctl reload mosquitto\n",
            dir, cfg->n_devices, added, passwd);
    return 0;
}
