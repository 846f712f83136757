/* log.c: one place where the daemon's log records are written: to the journal
 * with structured fields when stderr is connected to it, as plain lines on
 * stderr otherwise. Owns the rate-limited complaints; holds no other state. */
#include "log.h"
#include "text_safe.h"

#include "clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

/* JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected stderr to. */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    if (!js)
        return false;
    unsigned long long dev = 0, ino = 0;
    if (sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return false;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void ntm_log_init(struct ntm_log *log, const char *ident, int level)
{
    log->level = level;
    log->ident = ident;
    log->journal = stderr_is_journal();
    log->lines = 0;
}

static const char *level_word(int level)
{
    switch (level) {
    case LOG_EMERG:
    case LOG_ALERT:
    case LOG_CRIT:
    case LOG_ERR:
        return "error";
    case LOG_WARNING:
        return "warning";
    case LOG_NOTICE:
        return "notice";
    case LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

#define MAX_FIELDS 12

static void emit_journal(struct ntm_log *log, int level, const char *msgid,
                         const struct ntm_log_field *fields, size_t n, const char *msg)
{
    char buf[MAX_FIELDS + 4][256];
    struct iovec iov[MAX_FIELDS + 4];
    size_t k = 0;
    char *message = NULL;
    if (asprintf(&message, "MESSAGE=%s", msg) < 0)
        return;
    iov[k].iov_base = message;
    iov[k].iov_len = strlen(message);
    k++;
    snprintf(buf[k], sizeof buf[k], "PRIORITY=%d", level);
    iov[k].iov_base = buf[k];
    iov[k].iov_len = strlen(buf[k]);
    k++;
    snprintf(buf[k], sizeof buf[k], "SYSLOG_IDENTIFIER=%s", log->ident);
    iov[k].iov_base = buf[k];
    iov[k].iov_len = strlen(buf[k]);
    k++;
    if (msgid) {
        snprintf(buf[k], sizeof buf[k], "MESSAGE_ID=%s", msgid);
        iov[k].iov_base = buf[k];
        iov[k].iov_len = strlen(buf[k]);
        k++;
    }
    for (size_t i = 0; i < n && i < MAX_FIELDS; i++) {
        if (!fields[i].value)
            continue;
        snprintf(buf[k], sizeof buf[k], "%s=%s", fields[i].key, fields[i].value);
        iov[k].iov_base = buf[k];
        iov[k].iov_len = strlen(buf[k]);
        k++;
    }
    sd_journal_sendv(iov, (int)k);
    free(message);
}

static void emit_plain(int level, const struct ntm_log_field *fields, size_t n, const char *msg)
{
    char line[2048];
    size_t len = (size_t)snprintf(line, sizeof line, "%s: %s", level_word(level), msg);
    for (size_t i = 0; i < n && len < sizeof line; i++) {
        if (!fields[i].value)
            continue;
        len += (size_t)snprintf(line + len, sizeof line - len, "%s%s=%s", i == 0 ? " [" : " ",
                                fields[i].key, fields[i].value);
    }
    if (n > 0 && len < sizeof line)
        len += (size_t)snprintf(line + len, sizeof line - len, "]");
    if (len >= sizeof line)
        len = sizeof line - 1;
    line[len] = '\n';
    /* one write per line, so that lines of concurrent writers never interleave */
    ssize_t w = write(STDERR_FILENO, line, len + 1);
    (void)w;
}

void ntm_log_emit(struct ntm_log *log, int level, const char *msgid,
                  const struct ntm_log_field *fields, size_t n, const char *fmt, ...)
{
    if (level > log->level)
        return;
    char raw[1536], msg[2048];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    size_t rl = len < 0 ? 0 : (size_t)len < sizeof raw ? (size_t)len : sizeof raw - 1;
    /* text from devices and servers: valid UTF-8, controls escaped, never cut
     * inside a character */
    ntm_text_safe(msg, sizeof msg, raw, ntm_text_utf8_cut(raw, rl, rl));
    struct ntm_log_field safe[MAX_FIELDS];
    char values[MAX_FIELDS][200];
    if (n > MAX_FIELDS)
        n = MAX_FIELDS;
    for (size_t i = 0; i < n; i++) {
        safe[i].key = fields[i].key;
        safe[i].value = fields[i].value
                            ? ntm_text_safe_str(values[i], sizeof values[i], fields[i].value)
                            : NULL;
    }
    log->lines++;
    if (log->journal)
        emit_journal(log, level, msgid, safe, n, msg);
    else
        emit_plain(level, safe, n, msg);
}

bool ntm_complain(struct ntm_complaint *c, int64_t interval_ms, uint64_t *suppressed)
{
    int64_t now_ms = ntm_clock_mono_ms();
    if (c->last_ms != 0 && now_ms - c->last_ms < interval_ms && now_ms >= c->last_ms) {
        c->suppressed++;
        return false;
    }
    if (suppressed)
        *suppressed = c->suppressed;
    c->suppressed = 0;
    c->last_ms = now_ms == 0 ? 1 : now_ms;
    return true;
}
