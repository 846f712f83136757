/* config.h: the gateway's configuration, as loaded from one YAML file.
 * config.c owns parsing and validation (strict: unknown keys, wrong types,
 * missing keys and bad ids are errors naming file:line:column). Nothing here
 * opens sockets or databases. */
#ifndef NTM_CONFIG_H
#define NTM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define NTM_DEFAULT_CONFIG_PATH "/etc/ntm-gateway/gateway.yaml"
#ifndef NTM_DEFAULT_PLUGIN_DIR /* meson.build sets it: {libdir}/ntm-gateway/plugins */
#error "NTM_DEFAULT_PLUGIN_DIR is not defined: build with meson"
#endif

struct ntm_village {
    char id[NTM_VILLAGE_ID_MAX + 1];
    char *name; /* UTF-8; defaults to id */
};

struct ntm_device_decl {
    char id[NTM_DEVICE_ID_MAX + 1];
    uint8_t kind;     /* enum ntm_kind */
    uint16_t village; /* index into villages */
};

/* One scalar option of an uplink entry, kept with its position so that the
 * plugin host can report unknown or bad options as file:line:column. */
struct ntm_conf_option {
    char *key;
    char *value;      /* the scalar as written */
    int line, column; /* of the value */
    bool quoted;      /* written in quotes: a string, never a number or boolean */
};

struct ntm_uplink_conf {
    char *plugin;                    /* the `plugin:` name */
    int line, column;                /* of the entry (its first key) */
    struct ntm_conf_option *options; /* every key but `plugin` */
    size_t n_options;
};

struct ntm_config {
    char *path; /* the file it was read from */

    char gateway_id[65];
    char commune_code[6];
    char province_code[3];
    char *commune_name;

    struct ntm_village *villages;
    size_t n_villages;
    struct ntm_device_decl *devices;
    size_t n_devices;

    struct {
        char *host;                           /* default 127.0.0.1 */
        int port;                             /* default 1883 (8883 when tls is set) */
        char *client_id;                      /* default ntm-gateway */
        int keepalive_s;                      /* default 30 */
        char *ca_file, *cert_file, *key_file; /* tls: {...}; NULL when absent */
        char *username, *password_file;       /* NULL when absent */
        int max_payload;                      /* bytes, default 16384 */
    } mqtt;

    struct {
        char *path;         /* default /var/lib/ntm-gateway/buffer.db */
        int max_mb;         /* default 512 */
        int commit_ms;      /* default 50: longest a message waits uncommitted */
        int commit_max;     /* default 4000 records per transaction */
        int sync_ms;        /* default 1000: how often commits are made durable */
        int quarantine_max; /* default 1000 rejected messages kept */
    } storage;

    struct {
        int interval_s; /* default 10 */
        int grace_s;    /* default 120 */
    } sync;

    struct {
        int level; /* LOG_ERR..LOG_DEBUG from <syslog.h>; default LOG_INFO */
    } log;

    char *plugin_dir; /* default NTM_DEFAULT_PLUGIN_DIR */

    struct ntm_uplink_conf *uplinks;
    size_t n_uplinks;
};

/* Loads and validates `path`. On failure returns NULL and writes one or more
 * "path:line:column: message" lines (newline-separated) into err. */
struct ntm_config *ntm_config_load(const char *path, char *err, size_t errlen);
/* Same, from a string (used by tests and fuzzing); `name` stands for the path. */
struct ntm_config *ntm_config_parse(const char *name, const char *text, size_t len, char *err,
                                    size_t errlen);
void ntm_config_free(struct ntm_config *cfg);

/* Index of a village id, or -1. */
int ntm_config_village(const struct ntm_config *cfg, const char *id);
/* The declared device with this id, or NULL. */
const struct ntm_device_decl *ntm_config_device(const struct ntm_config *cfg, const char *id);
/* The value of an uplink option, or NULL when absent. */
const struct ntm_conf_option *ntm_uplink_option(const struct ntm_uplink_conf *u, const char *key);
/* An option's value read as a YAML boolean (true/false, yes/no, also True/TRUE...)
 * or as a decimal integer in [min, max], the way the core keys are read. False
 * (and *out untouched) when it is quoted, of another form or out of range. */
bool ntm_conf_option_bool(const struct ntm_conf_option *o, bool *out);
bool ntm_conf_option_int(const struct ntm_conf_option *o, long long min, long long max,
                         long long *out);

#endif
