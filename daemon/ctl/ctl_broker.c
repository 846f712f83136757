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

#include "record.h"

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

/* mosquitto_passwd -b FILE USER PASSWORD, without a shell. */
static int add_user(const char *passwd, const char *user, const char *pw)
{
    char *argv[] = {"mosquitto_passwd", "-b", (char *)passwd, (char *)user, (char *)pw, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, "mosquitto_passwd", NULL, NULL, argv, environ);
    if (rc != 0) {
        fprintf(stderr,
                "ntmctl broker-files: cannot run mosquitto_passwd: %s (install mosquitto)\n",
                strerror(rc));
        return -1;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "ntmctl broker-files: mosquitto_passwd failed for user %s\n", user);
        return -1;
    }
    return 0;
}

static int write_acl(const struct ntm_config *cfg, const char *dir)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/ntm-acl", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "ntmctl broker-files: cannot write %s: %s\n", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fprintf(f,
            "# mosquitto ACL made by `ntmctl broker-files` from the device inventory of\n"
            "# the gateway's configuration: do not edit, run it again after a change.\n"
            "# Only the gateway reads; each device writes only under its own topics.\n\n"
            "user %s\ntopic read ntm/v1/#\n",
            gateway_user(cfg));
    for (size_t i = 0; i < cfg->n_devices; i++) {
        const struct ntm_device_decl *d = &cfg->devices[i];
        fprintf(f, "\nuser %s\ntopic write ntm/v1/%s/%s/%s/#\n", d->id,
                cfg->villages[d->village].id, ntm_kind_name(d->kind), d->id);
    }
    bool ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "ntmctl broker-files: cannot write %s: %s\n", path, strerror(errno));
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
    if (write_acl(cfg, dir) != 0)
        return 1;
    char passwd[4096];
    snprintf(passwd, sizeof passwd, "%s/ntm-passwd", dir);
    int fd = open(passwd, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
        fprintf(stderr, "ntmctl broker-files: cannot open %s: %s\n", passwd, strerror(errno));
        return 1;
    }
    close(fd);
    size_t added = 0;
    for (size_t i = 0; i <= cfg->n_devices; i++) {
        const char *user = i < cfg->n_devices ? cfg->devices[i].id : gateway_user(cfg);
        if (has_user(passwd, user))
            continue;
        char pw[21];
        if (new_password(pw, sizeof pw) != 0 || add_user(passwd, user, pw) != 0) {
            explicit_bzero(pw, sizeof pw);
            return 1;
        }
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
