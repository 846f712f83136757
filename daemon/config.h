/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config.h: the gateway's configuration, as loaded from one YAML file. config.c loads
 * it (strict: unknown keys, wrong types, missing keys and bad ids are errors naming
 * file:line:column) by the key tables of config_keys.c, which state every default;
 * config_diff.c compares two (for SIGHUP). Nothing here opens sockets or databases.
 *
 * Adding a key: put the field in struct ntm_config below (or in a list entry's struct),
 * then one line in the section's table in config_keys.c: name, type, CONF_F(field)
 * (CONF_E(struct, field) in an entry), range, default, CONF_LIVE when a reload may
 * apply it at once (the part using it must then read it from cfg each time, or
 * daemon.c's reload() tells it), and its meaning. Parsing, the default, the errors,
 * freeing, ntm_config_diff and the documentation follow from that line. A new section
 * is a table plus one CONF_MAP line in the top-level table; a new list of mappings is a
 * table for its entries, a struct conf_list and a short parse function (config.c has
 * three to follow). Then document the key in config/gateway.yaml and paste
 * `ntm-gatewayd --print-config-keys` into README.md: test_config_docs checks both. */
#ifndef NTM_CONFIG_H
#define NTM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "record.h"

struct ntm_mapping;

#define NTM_DEFAULT_CONFIG_PATH "/etc/ntm-gateway/gateway.yaml"
#ifndef NTM_DEFAULT_MAPPING_DIR /* meson.build sets it: {datadir}/ntm-gateway/mappings */
#define NTM_DEFAULT_MAPPING_DIR "/usr/share/ntm-gateway/mappings"
#endif
#ifndef NTM_DEFAULT_PLUGIN_DIR /* meson.build sets it: {libdir}/ntm-gateway/plugins */
#error "NTM_DEFAULT_PLUGIN_DIR is not defined: build with meson"
#endif

/* The defaults and ranges of every field are in config_keys.c, and nowhere else. */

struct ntm_village {
    char id[NTM_VILLAGE_ID_MAX + 1];
    char *name; /* UTF-8 */
};

/* events.api: which event stream a camera has (0: none, `events:` absent). */
enum ntm_events_api { NTM_EVENTS_NONE, NTM_EVENTS_HIKVISION, NTM_EVENTS_DAHUA };

/* A camera's own event stream (`events:` of an inventory camera). */
struct ntm_device_events {
    uint8_t api;         /* enum ntm_events_api; NONE when `events:` is absent */
    char *user;          /* the camera account */
    char *password_file; /* read at each connection attempt; never copied elsewhere */
    char *host;          /* NULL: the device's ip */
    int32_t port;        /* 0: 80, or 443 with https */
    bool https;
    char *ca_file; /* NULL: the system's certificate authorities */
    int32_t channel;
    int32_t keepalive_s;
};

struct ntm_device_decl {
    char id[NTM_DEVICE_ID_MAX + 1];
    uint8_t kind;     /* enum ntm_kind */
    uint16_t village; /* index into villages */
    char *ip;         /* IPv4, IPv6 or host name: pinged, and a camera's event stream's host */
    struct ntm_device_events events;
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

/* web.language */
enum ntm_web_language { NTM_LANG_VI, NTM_LANG_EN };

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
        char *host;
        int port;
        char *client_id;
        int keepalive_s;
        char *ca_file, *cert_file, *key_file; /* tls: {...}; NULL when absent */
        char *username, *password_file;       /* NULL when absent */
        int max_payload;                      /* bytes */
    } mqtt;

    struct {
        char *path;
        int max_mb;
        int commit_ms;  /* longest a message waits uncommitted */
        int commit_max; /* records per transaction */
        int sync_ms;    /* how often commits are made durable */
        int quarantine_max;
        int max_undeclared; /* devices not in the inventory, known at most */
    } storage;

    struct {
        int interval_s;
        int grace_s;
    } sync;

    struct {
        int level; /* LOG_ERR..LOG_DEBUG from <syslog.h> */
    } log;

    struct {
        int interval_s; /* between two probes of a device */
        int timeout_ms; /* a later reply is no sign of life */
    } ping;

    struct {
        char *listen;        /* "address:port" or "[v6]:port" (ntm-gateway-web) */
        char *password_file; /* NULL when absent; required off loopback */
        int language;        /* enum ntm_web_language */
    } web;

    char *mapping_dir;            /* where `include: NAME` finds NAME.yaml */
    struct ntm_mapping *mappings; /* sources/mapping.h; includes expanded */
    size_t n_mappings;

    char *plugin_dir;

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

/* One key whose value differs between two configurations. */
struct ntm_config_change {
    char key[96]; /* its path: "storage.sync_ms", "devices[2].kind"; a list's name
                   * ("villages") when entries were added or removed */
    bool live;    /* a reload applies it (ntm_config_apply_live); else it needs a restart */
};
/* Compares old and next key by key: writes up to max changes into out (in the order of
 * the tables) and returns how many there are in all. Entries of lists are compared by
 * position; a live key of an entry whose other keys changed needs a restart too. */
size_t ntm_config_diff(const struct ntm_config *old, const struct ntm_config *next,
                       struct ntm_config_change *out, size_t max);
/* Copies every live change of next into cur; what needs a restart stays as it is in
 * cur. False when out of memory: a live string may then have kept its old value. */
bool ntm_config_apply_live(struct ntm_config *cur, const struct ntm_config *next);

/* The documentation of one key, from its table. */
struct ntm_config_key_doc {
    const char *key;     /* "mqtt.port", "mqtt.tls.ca_file", "villages[].id" */
    const char *def;     /* as people read it: "1883; 8883 with tls", "required", "none" */
    const char *values;  /* "1 to 65535", "error, warning, ...", "{ca_file, ...}" */
    bool live;           /* SIGHUP applies a change at once */
    const char *meaning; /* one line */
};
/* Calls fn for every key, in the order of the file; the strings last for the call. */
void ntm_config_each_key(void (*fn)(void *arg, const struct ntm_config_key_doc *k), void *arg);
/* Prints the Markdown table of every key (README.md has it); -1 on a write error. */
int ntm_config_print_keys(FILE *out);

#endif
