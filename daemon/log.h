/* log.h: the daemon's logging. To the journal with structured fields when
 * stderr is the journal (JOURNAL_STREAM names it), plain readable lines on
 * stderr otherwise. Also the rate-limited "complaint" used so that a flood of
 * one problem logs a line and a count, never a line per occurrence. */
#ifndef NTM_LOG_H
#define NTM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

struct ntm_log_field {
    const char *key; /* journal field name: VILLAGE, DEVICE, KIND, BATCH_ID, PLUGIN, ... */
    const char *value;
};

struct ntm_log {
    int level;    /* messages above this (less severe) are dropped */
    bool journal; /* write with sd_journal_send */
    const char *ident;
    uint64_t lines; /* lines emitted, for tests and the flood checks */
};

/* Decides journal vs. plain from JOURNAL_STREAM and stderr. */
void ntm_log_init(struct ntm_log *log, const char *ident, int level);

/* Message IDs (MESSAGE_ID=) of the events an operator searches for. */
#define NTM_MSGID_STARTED "a0f140d8c16640f993d950dbec8a7604"
#define NTM_MSGID_STOPPED "d7e2b771525d49649791c7558dfa6421"
#define NTM_MSGID_BROKER_UP "2d9504ab86114214b879093478c5f5f9"
#define NTM_MSGID_BROKER_DOWN "c6dd6916c1fd435da95ef33c888df327"
#define NTM_MSGID_REJECTED "d974a25698be43f297a80287f012642a"
#define NTM_MSGID_BUFFER_CAP "2eced5e258d9446c866cde65c3b8fcec"
#define NTM_MSGID_DISK_FULL "4f383c3ed798410fb0820b5155cd9fa8"
#define NTM_MSGID_DEVICE_OFFLINE "1188fa262d094c49a0e8fdfe9461a257"
#define NTM_MSGID_UPLINK_DELIVERED "93c2581de0a34bd7912acd1d4a944f75"
#define NTM_MSGID_UPLINK_FAILING "1c6d1c1a09714bf7a0cb3b31d75babe9"
#define NTM_MSGID_DB_MOVED_ASIDE "8e1f0c5b3a7d4e2f9b6c1a0d5e4f3b2a"
#define NTM_MSGID_BATCH_QUARANTINED "c2bc910860954e16ba5f0b9b072175d3"

/* Emits one record. `msgid` may be NULL; `fields` may be NULL with n = 0. */
void ntm_log_emit(struct ntm_log *log, int level, const char *msgid,
                  const struct ntm_log_field *fields, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* A record without message id or fields (a plain sentence). */
#define ntm_logf(log, level, ...) ntm_log_emit((log), (level), NULL, NULL, 0, __VA_ARGS__)

/* A rate-limited complaint: the first occurrence may log, later ones within
 * `interval_ms` are only counted; the next allowed line reports the count. */
struct ntm_complaint {
    int64_t last_ms;     /* when a line was last allowed; 0 = never */
    uint64_t suppressed; /* occurrences since then that did not log */
};
/* Returns true when the caller should log now; *suppressed gets how many were
 * held back since the last line (and is reset). Times on the monotonic clock
 * (clock.h), read here: a step of the wall clock neither floods nor mutes. */
bool ntm_complain(struct ntm_complaint *c, int64_t interval_ms, uint64_t *suppressed);

#endif
