/* record.h: the normalized record that one accepted device message becomes.
 * Ingest produces it, the store persists it, aggregation folds it.
 * Plain data only: no allocation, no I/O, no raw MAC addresses (only keyed hashes). */
#ifndef NTM_RECORD_H
#define NTM_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NTM_VILLAGE_ID_MAX 32
#define NTM_DEVICE_ID_MAX 64
#define NTM_PROGRAM_MAX 128 /* longest accepted speaker `program` string, bytes */
#define NTM_MACS_MAX 1024   /* most `client_macs` entries accepted in one wifi report */

/* Vietnam time, UTC+07:00, no daylight saving. */
#define NTM_TZ_OFFSET_S (7 * 3600)

/* Earliest device ts that is believed (2024-01-01T00:00:00Z): ingest replaces
 * an earlier one by the receive time, aggregation counts one as late. */
#define NTM_TS_MIN 1704067200

/* A heartbeat's interval_s: 60 when absent, at most a day. A device is online
 * for 3 intervals after each sign of life (aggregate.h). */
#define NTM_HEARTBEAT_INTERVAL_DEFAULT_S 60
#define NTM_HEARTBEAT_INTERVAL_MAX_S 86400

enum ntm_kind { NTM_KIND_SPEAKER, NTM_KIND_CAMERA, NTM_KIND_WIFI, NTM_KIND_COUNT };
enum ntm_channel { NTM_CH_STATE, NTM_CH_HEARTBEAT, NTM_CH_EVENT, NTM_CH_STATS, NTM_CH_COUNT };

/* `type` of an event; NONE for state/heartbeat/stats. */
enum ntm_event {
    NTM_EV_NONE,
    NTM_EV_BROADCAST,
    NTM_EV_FAULT,
    NTM_EV_MOTION,
    NTM_EV_TAMPER,
    NTM_EV_VIDEO_LOSS,
    NTM_EV_STORAGE_ERROR,
    NTM_EV_COUNT
};
enum ntm_result { NTM_RESULT_PLAYED, NTM_RESULT_INTERRUPTED, NTM_RESULT_FAILED, NTM_RESULT_COUNT };
enum ntm_priority { NTM_PRIO_NORMAL, NTM_PRIO_PRIORITY, NTM_PRIO_EMERGENCY, NTM_PRIO_COUNT };
enum ntm_source {
    NTM_SRC_COMMUNE,
    NTM_SRC_PROVINCE,
    NTM_SRC_NATIONAL,
    NTM_SRC_OTHER,
    NTM_SRC_COUNT
};
enum ntm_fault {
    NTM_FAULT_AMPLIFIER,
    NTM_FAULT_POWER,
    NTM_FAULT_FAN,
    NTM_FAULT_NETWORK,
    NTM_FAULT_OTHER,
    NTM_FAULT_COUNT
};

/* record flags */
#define NTM_REC_CLOCK_FALLBACK 0x1u /* ts missing/unset/future: gateway receive time used */
#define NTM_REC_LATE 0x2u           /* its hour window had already closed (set by aggregate) */

struct ntm_record {
    int64_t ts;       /* event time used for windows, Unix seconds */
    int64_t recv_ms;  /* gateway wall clock at receipt, Unix milliseconds */
    uint8_t kind;     /* enum ntm_kind */
    uint8_t channel;  /* enum ntm_channel */
    uint8_t event;    /* enum ntm_event */
    uint8_t flags;    /* NTM_REC_* */
    uint16_t village; /* index into config->villages */
    char device[NTM_DEVICE_ID_MAX + 1];
    union {
        struct {
            bool online;
        } state;
        struct {
            int32_t interval_s; /* NTM_HEARTBEAT_INTERVAL_DEFAULT_S when absent */
            int64_t uptime_s;   /* -1 when absent */
        } heartbeat;
        struct {
            int64_t start;
            double duration_s;
            uint8_t result, priority, source;
            char program[NTM_PROGRAM_MAX + 1]; /* "" when absent */
        } broadcast;
        struct {
            uint8_t fault;
        } fault;
        struct {
            double duration_s; /* -1 when absent */
        } camera_event;
        struct {
            bool recording;
            double storage_free_pct; /* -1 when absent */
        } camera_stats;
        struct {
            int64_t clients, new_sessions, rx_bytes, tx_bytes;
            uint32_t n_macs;                 /* 0 when client_macs absent */
            uint64_t mac_hash[NTM_MACS_MAX]; /* keyed hashes, never raw MACs */
        } wifi;
    } u;
};

const char *ntm_kind_name(enum ntm_kind k);
int ntm_kind_parse(const char *s); /* -1 when unknown */
const char *ntm_channel_name(enum ntm_channel c);
const char *ntm_event_name(enum ntm_event e);
const char *ntm_result_name(enum ntm_result r);
const char *ntm_priority_name(enum ntm_priority p);
const char *ntm_source_name(enum ntm_source s);
const char *ntm_fault_name(enum ntm_fault f);

/* The id rules, in one place: a village id is [a-z0-9-]{1,32}; a device id and
 * the gateway id are [A-Za-z0-9_.-]{1,64}. */
#define NTM_GATEWAY_ID_MAX 64
bool ntm_valid_village_id(const char *s, size_t len);
bool ntm_valid_device_id(const char *s, size_t len);
bool ntm_valid_gateway_id(const char *s, size_t len);
/* Length of the leading run of s[0..len) made of a village (device) id's
 * characters, whatever its length: for error messages that say which rule broke. */
size_t ntm_village_id_span(const char *s, size_t len);
size_t ntm_device_id_span(const char *s, size_t len);

/* Local (UTC+07:00) day number of a Unix time: floor((t + 7h) / 86400). */
int64_t ntm_local_day(int64_t unix_s);

/* Levenshtein distance of two ids or keys (of at most 64 bytes; longer: SIZE_MAX),
 * to name the declared id or option nearest to an unknown one (a typo). */
size_t ntm_id_distance(const char *a, const char *b);

#endif
