/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config_keys.c: every key of the configuration file, one table per section and per
 * list entry: type, field, range, default, live or restart on SIGHUP, and its meaning.
 * Data only: config.c parses by these tables, config_diff.c and config_doc.c read them. */
#include <stddef.h>
#include <syslog.h>

#include "config_table.h"
#include "sources/mapping.h"

#define RULE_DEVICE_ID "1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'"
#define RULE_VILLAGE_ID "1 to 32 characters of a-z, 0-9, '-' (lower case)"
#define RULE_PLUGIN "a plugin name of 1 to 64 characters of a-z, 0-9, '_', '-'"

#define RULE_HOST                                                                                  \
    "an IPv4 or IPv6 address or a host name (letters, digits, '.', '-', ':', '_', '%')"

static bool valid_host(const char *s, size_t len)
{
    if (s == NULL || len < 1 || len > 255)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == ':' ||
              s[i] == '_' || s[i] == '%'))
            return false;
    return true;
}

static bool valid_plugin_name(const char *s, size_t len)
{
    if (s == NULL || len < 1 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

#define RULE_CAMERA_USER "1 to 64 characters, no ':' and no control characters"
static bool valid_camera_user(const char *s, size_t len)
{
    if (s == NULL || len < 1 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == ':')
            return false;
    return true;
}

static const char *events_api_word(long long v)
{
    return v == NTM_EVENTS_HIKVISION ? "hikvision" : v == NTM_EVENTS_DAHUA ? "dahua" : NULL;
}

static const char *log_level_word(long long v)
{
    static const char *const words[] = {"error", "warning", "notice", "info", "debug"};
    return v >= LOG_ERR && v <= LOG_DEBUG ? words[v - LOG_ERR] : NULL;
}

static const char *kind_word(long long v)
{
    return v >= 0 && v < NTM_KIND_COUNT ? ntm_kind_name((enum ntm_kind)v) : NULL;
}

/* ---- the sections ---- */

static const struct conf_key gateway_keys[] = {
    {"id", CONF_ID, CONF_F(gateway_id), .flags = CONF_REQUIRED, .valid = ntm_valid_gateway_id,
     .rule = RULE_DEVICE_ID,
     .desc = "this gateway's id, unique in the province; it names every batch sent upstream"},
};
static const struct conf_table gateway_table = CONF_TABLE(gateway_keys);

static const struct conf_key commune_keys[] = {
    {"code", CONF_DIGITS, CONF_F(commune_code), .flags = CONF_REQUIRED, .min = 5,
     .desc = "the commune's 5-digit code in the national list of administrative units"},
    {"province_code", CONF_DIGITS, CONF_F(province_code), .flags = CONF_REQUIRED, .min = 2,
     .desc = "the province's 2-digit code in the same list"},
    {"name", CONF_TEXT, CONF_F(commune_name), .def = "",
     .desc = "the commune's name, any UTF-8 text; only shown to people"},
};
static const struct conf_table commune_table = CONF_TABLE(commune_keys);

static const struct conf_key tls_keys[] = {
    {"ca_file", CONF_PATH, CONF_F(mqtt.ca_file), .flags = CONF_REQUIRED,
     .desc = "the CA certificate to verify the broker with"},
    {"cert_file", CONF_PATH, CONF_F(mqtt.cert_file), .needs = "key_file",
     .needs_why = "cert_file needs its private key", .desc = "this gateway's client certificate"},
    {"key_file", CONF_PATH, CONF_F(mqtt.key_file), .needs = "cert_file",
     .needs_why = "key_file needs its certificate", .desc = "the private key of cert_file"},
};
static const struct conf_table tls_table = CONF_TABLE(tls_keys);

static const struct conf_key mqtt_keys[] = {
    {"host", CONF_STRING, CONF_F(mqtt.host), .def = "127.0.0.1",
     .desc = "the broker's address (normally the local mosquitto)"},
    {"port", CONF_INT, CONF_F(mqtt.port), .min = 1, .max = 65535, .def = "1883", .when = "tls",
     .def_when = "8883", .desc = "the broker's port"},
    {"client_id", CONF_STRING, CONF_F(mqtt.client_id), .def = "ntm-gateway",
     .desc = "the client id of the daemon's session; keep it fixed: the broker holds messages "
             "for it while the daemon restarts"},
    {"keepalive_s", CONF_INT, CONF_F(mqtt.keepalive_s), .min = 5, .max = 3600, .def = "30",
     .desc = "seconds between MQTT keepalive pings"},
    {"tls", CONF_MAP, .map = &tls_table, .def_doc = "no TLS",
     .desc = "connect with TLS; the broker's certificate is verified"},
    {"username", CONF_STRING, CONF_F(mqtt.username), .desc = "the user name sent to the broker"},
    {"password_file", CONF_PATH, CONF_F(mqtt.password_file), .needs = "username",
     .needs_why = "a password is only sent with a username",
     .desc = "a file holding the broker password, readable only by the daemon's user"},
    {"max_payload", CONF_INT, CONF_F(mqtt.max_payload), .flags = CONF_LIVE, .min = 256,
     .max = 1048576, .def = "16384",
     .desc = "the largest message accepted, in bytes; larger ones are rejected"},
};
static const struct conf_table mqtt_table = CONF_TABLE(mqtt_keys);

static const struct conf_key storage_keys[] = {
    {"path", CONF_PATH, CONF_F(storage.path), .def = "/var/lib/ntm-gateway/buffer.db",
     .desc = "the SQLite buffer; a relative path is relative to the daemon's working directory"},
    {"max_mb", CONF_INT, CONF_F(storage.max_mb), .flags = CONF_LIVE, .min = 1, .max = 1048576,
     .def = "512", .desc = "size cap in MiB; past it the oldest messages are evicted first"},
    {"commit_ms", CONF_INT, CONF_F(storage.commit_ms), .flags = CONF_LIVE, .min = 1, .max = 10000,
     .def = "50",
     .desc = "when no message came for this long, the open transaction is committed (otherwise "
             "every `storage.sync_ms` or at `storage.commit_max`): how soon a burst is in the "
             "database for readers. A crash loses none of it: each message is in the tail "
             "journal as soon as it is accepted"},
    {"commit_max", CONF_INT, CONF_F(storage.commit_max), .flags = CONF_LIVE, .min = 1,
     .max = 100000, .def = "4000", .desc = "most messages in one SQLite transaction"},
    {"sync_ms", CONF_INT, CONF_F(storage.sync_ms), .flags = CONF_LIVE, .min = 10, .max = 60000,
     .def = "1000",
     .desc = "how often, in milliseconds, the open transaction is committed and made durable "
             "(one `fdatasync`): what a power cut can lose"},
    {"quarantine_max", CONF_INT, CONF_F(storage.quarantine_max), .flags = CONF_LIVE, .min = 0,
     .max = 1000000, .def = "1000",
     .desc = "rejected messages kept for `ntmctl quarantine`; the oldest go first"},
    {"max_undeclared_devices", CONF_INT, CONF_F(storage.max_undeclared), .flags = CONF_LIVE,
     .min = 0, .max = 100000, .def = "1000",
     .desc = "devices not in the inventory the gateway takes in at most; messages of further "
             "ones are rejected as too_many_devices"},
};
static const struct conf_table storage_table = CONF_TABLE(storage_keys);

static const struct conf_key sync_keys[] = {
    {"interval_s", CONF_INT, CONF_F(sync.interval_s), .flags = CONF_LIVE, .min = 1, .max = 3600,
     .def = "10", .desc = "seconds between sync ticks (closing windows, sending batches)"},
    {"grace_s", CONF_INT, CONF_F(sync.grace_s), .min = 0, .max = 86400, .def = "120",
     .desc = "seconds a window stays open after its end for late messages"},
};
static const struct conf_table sync_table = CONF_TABLE(sync_keys);

static const struct conf_key log_keys[] = {
    {"level", CONF_ENUM, CONF_F(log.level), .flags = CONF_LIVE, .min = LOG_ERR, .max = LOG_DEBUG,
     .word = log_level_word, .def = "info", .desc = "the least important messages logged"},
};
static const struct conf_table log_table = CONF_TABLE(log_keys);

static const struct conf_key ping_keys[] = {
    {"interval_s", CONF_INT, CONF_F(ping.interval_s), .flags = CONF_LIVE, .min = 5, .max = 3600,
     .def = "60",
     .desc = "seconds between two pings of a device with `ip`, spread so that they do not come "
             "in bursts; a device answering none for 3 intervals is offline"},
    {"timeout_ms", CONF_INT, CONF_F(ping.timeout_ms), .flags = CONF_LIVE, .min = 100, .max = 10000,
     .def = "1000", .desc = "milliseconds a ping's answer may take to count as a sign of life"},
};
static const struct conf_table ping_table = CONF_TABLE(ping_keys);

static const char *language_word(long long v)
{
    static const char *const words[] = {"vi", "en"};
    return v >= 0 && v <= 1 ? words[v] : NULL;
}

static const struct conf_key web_keys[] = {
    {"listen", CONF_STRING, CONF_F(web.listen), .def = "127.0.0.1:8080",
     .desc = "where ntm-gateway-web serves the status page and /metrics: address:port, "
             "\"[::]:8080\" or a LAN address to serve the office network"},
    {"password_file", CONF_PATH, CONF_F(web.password_file),
     .desc = "the page's password (user ntm), one line in a file only the gateway's user reads; "
             "required when listen is not a loopback address"},
    {"language", CONF_ENUM, CONF_F(web.language), .min = 0, .max = 1, .word = language_word,
     .def = "vi", .desc = "the page's language when the browser states none: vi or en"},
};
static const struct conf_table web_table = CONF_TABLE(web_keys);

/* ---- the lists: one table for the keys of an entry ---- */

static const struct conf_key village_keys[] = {
    {"id", CONF_ID, CONF_E(struct ntm_village, id), .flags = CONF_REQUIRED | CONF_UNIQUE,
     .valid = ntm_valid_village_id, .rule = RULE_VILLAGE_ID,
     .desc = "the village's id, as devices write it in their topics"},
    {"name", CONF_STRING, CONF_E(struct ntm_village, name), .def_from = "id",
     .desc = "the village's name, shown to people"},
};
static const struct conf_table village_table = CONF_TABLE(village_keys);
static const struct conf_list villages_list = {offsetof(struct ntm_config, villages),
                                               offsetof(struct ntm_config, n_villages),
                                               sizeof(struct ntm_village),
                                               "villages",
                                               "village",
                                               &village_table,
                                               .parse = ntm_conf_parse_villages};

#define EV(member) CONF_E(struct ntm_device_decl, events.member)
static const struct conf_key events_keys[] = {
    {"api", CONF_ENUM, EV(api), .flags = CONF_REQUIRED | CONF_LIVE, .min = NTM_EVENTS_HIKVISION,
     .max = NTM_EVENTS_DAHUA, .word = events_api_word,
     .desc = "the camera's brand of event stream: hikvision (ISAPI alertStream) or dahua "
             "(eventManager attach)"},
    {"user", CONF_STRING, EV(user), .flags = CONF_REQUIRED | CONF_LIVE, .valid = valid_camera_user,
     .rule = RULE_CAMERA_USER, .desc = "the camera account (a viewer is enough)"},
    {"password_file", CONF_PATH, EV(password_file), .flags = CONF_REQUIRED | CONF_LIVE,
     .desc = "a file with that account's password (one line `user:password`, or the password "
             "alone), read at each connection, never logged or stored"},
    {"host", CONF_STRING, EV(host), .flags = CONF_LIVE, .valid = valid_host, .rule = RULE_HOST,
     .def_doc = "the device's ip", .desc = "the camera or NVR to connect to"},
    {"port", CONF_INT, EV(port), .flags = CONF_LIVE, .min = 1, .max = 65535,
     .def_doc = "80; 443 with https", .desc = "its HTTP port"},
    {"https", CONF_BOOL, EV(https), .flags = CONF_LIVE, .def = "false",
     .desc = "connect with https; the camera's certificate is verified"},
    {"ca_file", CONF_PATH, EV(ca_file), .flags = CONF_LIVE,
     .def_doc = "the system's certificate authorities",
     .desc = "the certificate authority that signed the camera's certificate"},
    {"channel", CONF_INT, EV(channel), .flags = CONF_LIVE, .min = 1, .max = 4096, .def = "1",
     .desc = "the video channel of the camera or NVR this device is (1-based); devices on the "
             "same host, port and user share one stream"},
    {"keepalive_s", CONF_INT, EV(keepalive_s), .flags = CONF_LIVE, .min = 1, .max = 3600,
     .def = "30",
     .desc = "the keep-alive period expected of the stream (Dahua: asked for); silent for half "
             "again as long, it is reopened"},
};
#undef EV
static const struct conf_table events_table = CONF_TABLE(events_keys);

static const struct conf_key device_keys[] = {
    {"id", CONF_ID, CONF_E(struct ntm_device_decl, id), .flags = CONF_REQUIRED | CONF_UNIQUE,
     .valid = ntm_valid_device_id, .rule = RULE_DEVICE_ID, .desc = "the device's id"},
    {"kind", CONF_ENUM, CONF_E(struct ntm_device_decl, kind), .flags = CONF_REQUIRED, .min = 0,
     .max = NTM_KIND_COUNT - 1, .word = kind_word, .desc = "what the device is"},
    {"village", CONF_VILLAGE, CONF_E(struct ntm_device_decl, village), .flags = CONF_REQUIRED,
     .valid = ntm_valid_village_id, .rule = RULE_VILLAGE_ID,
     .desc = "the id of the village it is in"},
    {"ip", CONF_STRING, CONF_E(struct ntm_device_decl, ip), .flags = CONF_LIVE, .valid = valid_host,
     .rule = RULE_HOST,
     .desc = "its IPv4 or IPv6 address or host name: the gateway pings it, and each answer "
             "counts as a heartbeat; a camera's event stream is read there"},
    {"events", CONF_MAP, .map = &events_table, .def_doc = "none",
     .desc = "a camera's own event stream (cameras only): {api, user, password_file, ...}"},
};
static const struct conf_table device_table = CONF_TABLE(device_keys);
static const struct conf_list devices_list = {offsetof(struct ntm_config, devices),
                                              offsetof(struct ntm_config, n_devices),
                                              sizeof(struct ntm_device_decl),
                                              "devices",
                                              "device",
                                              &device_table,
                                              .parse = ntm_conf_parse_devices};

static const struct conf_key uplink_keys[] = {
    {"plugin", CONF_STRING, CONF_E(struct ntm_uplink_conf, plugin), .flags = CONF_REQUIRED,
     .valid = valid_plugin_name, .rule = RULE_PLUGIN,
     .desc = "the name of the uplink plugin to load (plugin_dir/NAME.so)"},
};
static const struct conf_table uplink_table = CONF_TABLE(uplink_keys);
static const struct conf_list uplinks_list = {
    offsetof(struct ntm_config, uplinks),
    offsetof(struct ntm_config, n_uplinks),
    sizeof(struct ntm_uplink_conf),
    "uplink entries",
    "uplink",
    &uplink_table,
    .other_keys = "the plugin's options, checked by the plugin when it loads",
    .parse = ntm_conf_parse_uplinks,
    .same_other = ntm_conf_same_uplink_options,
    .free_other = ntm_conf_free_uplink_options};

/* A mapping's keys are read by config_mappings.c (nested values, includes):
 * the table describes none of them, the list's doc names them. */
static const struct conf_table mapping_table = {NULL, 0};
static const struct conf_list mappings_list = {
    offsetof(struct ntm_config, mappings),
    offsetof(struct ntm_config, n_mappings),
    sizeof(struct ntm_mapping),
    "mappings",
    "mapping",
    &mapping_table,
    .other_keys = "name, topic, channel, kind, device, when, fields; or include: PROFILE alone",
    .parse = ntm_conf_parse_mappings,
    .same_other = ntm_conf_same_mapping,
    .free_other = ntm_conf_free_mapping};

/* ---- the top level ---- */

static const struct conf_key root_keys[] = {
    {"gateway", CONF_MAP, .flags = CONF_REQUIRED, .map = &gateway_table,
     .desc = "with the gateway's id"},
    {"commune", CONF_MAP, .flags = CONF_REQUIRED, .map = &commune_table,
     .desc = "with code and province_code"},
    {"villages", CONF_LIST, .flags = CONF_REQUIRED, .list = &villages_list,
     .desc = "the villages (thôn) of the commune, at least one; a message naming another "
             "village is rejected"},
    {"devices", CONF_LIST, .list = &devices_list,
     .desc = "the device inventory, known before devices first report; devices not listed "
             "are accepted too"},
    {"ping", CONF_MAP, .map = &ping_table, .desc = "availability by ping of the devices with `ip`"},
    {"mqtt", CONF_MAP, .map = &mqtt_table, .desc = "the broker the devices publish to"},
    {"storage", CONF_MAP, .map = &storage_table, .desc = "the local buffer"},
    {"sync", CONF_MAP, .map = &sync_table, .desc = "upstream synchronisation"},
    {"log", CONF_MAP, .map = &log_table, .desc = "logging"},
    {"web", CONF_MAP, .map = &web_table,
     .desc = "the status page and Prometheus metrics (ntm-gateway-web)"},
    {"plugin_dir", CONF_PATH, CONF_F(plugin_dir), .def = NTM_DEFAULT_PLUGIN_DIR,
     .def_doc = "the multiarch library directory", .desc = "where uplink plugins are loaded from"},
    {"mapping_dir", CONF_PATH, CONF_F(mapping_dir), .def = NTM_DEFAULT_MAPPING_DIR,
     .def_doc = "/usr/share/ntm-gateway/mappings",
     .desc = "where `include: NAME` in mappings finds the profile NAME.yaml"},
    {"mappings", CONF_LIST, .flags = CONF_LIVE, .list = &mappings_list,
     .desc = "MQTT mappings: how the messages of devices that publish their own MQTT become "
             "device messages"},
    {"uplinks", CONF_LIST, .list = &uplinks_list,
     .desc = "where indicators are sent: one entry per uplink plugin; without any, data is only "
             "buffered"},
};
const struct conf_table ntm_conf_root = CONF_TABLE(root_keys);
