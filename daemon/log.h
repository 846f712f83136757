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
#define NTM_MSGID_STARTED "6f1c2a7d0b9e4c5a8e3f2d1c0b9a8e71"
#define NTM_MSGID_STOPPED "6f1c2a7d0b9e4c5a8e3f2d1c0b9a8e72"
#define NTM_MSGID_BROKER_UP "6f1c2a7d0b9e4c5a8e3f2d1c0b9a8e73"
#define NTM_MSGID_BROKER_DOWN "6f1c2a7d0b9e4c5a8e3f2d1c0b9a8e74"
#define NTM_MSGID_REJECTED "6f1c2a7d0b9e4c5a8e3f2d1c0b9a8e75"
#define NTM_MSGID_BUFFER_CAP "6f1c2a7d0b9e4c5a8e3f2d1c0b9a8e76"
#define NTM_MSGID_DISK_FULL "6f1c2a7d0b9e4c5a8e3f2d1c0b9a8e77"

/* Emits one record. `msgid` may be NULL; `fields` may be NULL with n = 0. */
void ntm_log_emit(struct ntm_log *log, int level, const char *msgid,
                  const struct ntm_log_field *fields, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#define ntm_log(log, level, ...) ntm_log_emit((log), (level), NULL, NULL, 0, __VA_ARGS__)

/* A rate-limited complaint: the first occurrence may log, later ones within
 * `interval_ms` are only counted; the next allowed line reports the count. */
struct ntm_complaint {
    int64_t last_ms;     /* when a line was last allowed; 0 = never */
    uint64_t suppressed; /* occurrences since then that did not log */
};
/* Returns true when the caller should log now; *suppressed gets how many were
 * held back since the last line (and is reset). */
bool ntm_complain(struct ntm_complaint *c, int64_t now_ms, int64_t interval_ms,
                  uint64_t *suppressed);

#endif
