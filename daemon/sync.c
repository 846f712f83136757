/* sync.c: owns the deliveries rows after a batch is formed, the in-flight
 * table per uplink, the retry schedule and timer (our back-off, the waits the
 * server asked for, the drain of a backlog once an uplink delivers again) and
 * the release of delivered messages.
 * It must not form batches (outbox.c) or speak any protocol (the plugins). */
#include "sync.h"
#include "text_safe.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "outbox.h"

#define MAX_FLIGHT 8
/* No wait is longer than this (Retry-After is capped to it): a due time further
 * away means the wall clock jumped back, and the delivery is due now. */
#define MAX_WAIT_MS (6 * 3600 * 1000LL)

struct flight {
    bool used;
    uint64_t seq;
    char batch_id[96];
    char *body;
    struct ntm_batch batch;
};

struct link {
    struct ntm_uplink *u;
    unsigned max_in_flight, in_flight;
    struct flight fl[MAX_FLIGHT];
    bool failing;
    bool drained; /* a delivery since start lifted the back-offs left by the last run */
    uint64_t failures;
    struct ntm_complaint complaint;
    int64_t last_ok_ms, failing_since_ms; /* wall clock; 0 = none */
    char last_error[200];
};

struct ntm_sync {
    uv_loop_t *loop;
    struct ntm_store *st;
    const struct ntm_config *cfg;
    struct ntm_log *log;
    struct ntm_clock *clock;
    struct link *links;
    size_t n_links;
    uv_timer_t timer;
    struct ntm_sync_stats stats;
    int64_t released_upto; /* closed_upto of the last release */
    bool freeing;
    /* A batch goes to the uplinks only once the commit that formed it is
     * durable: sent before, a power cut could take the commit back, and the
     * same seq be formed again with other content (or its rows sent again
     * under another seq). formed[] holds (last seq, ticket) of recent forming
     * commits not yet durable; sendable is the last seq whose commit is. */
    struct {
        uint64_t seq, ticket;
    } formed[8];
    unsigned n_formed;
    uint64_t sendable;
};

static void on_timer(uv_timer_t *t)
{
    ntm_sync_kick(t->data);
}

int ntm_sync_new(struct ntm_sync **out, uv_loop_t *loop, struct ntm_store *st,
                 const struct ntm_config *cfg, struct ntm_log *log, struct ntm_clock *clock)
{
    struct ntm_sync *s = calloc(1, sizeof *s);
    *out = s;
    if (!s)
        return -1;
    s->loop = loop;
    s->st = st;
    s->cfg = cfg;
    s->log = log;
    s->clock = clock;
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    sqlite3 *db = ntm_store_db(st);
    /* leases of a run that ended while sending are void: due again now */
    char *msg = NULL;
    if (sqlite3_exec(db,
                     "UPDATE deliveries SET next_ms = 0 WHERE state = 'pending' AND next_ms > 0"
                     " AND attempts = 0",
                     NULL, NULL, &msg) != SQLITE_OK)
        ntm_logf(log, LOG_ERR,
                 "sync: making the sends cut short by the last stop due again failed: %s; each "
                 "is sent when its old due time comes",
                 msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    s->released_upto = ntm_store_meta_get(s->st, NTM_META_RELEASED_UPTO, 0);
    /* what the file holds may be a commit a kill -9 left in the page cache */
    s->formed[0].seq = (uint64_t)ntm_store_meta_get(st, NTM_META_LAST_SEQ, 0);
    s->formed[0].ticket = ntm_store_ticket(st);
    s->n_formed = 1;
    return 0;
}

/* Notes the batches formed since the last look, and which are durable now. */
static void update_sendable(struct ntm_sync *s)
{
    uint64_t last = (uint64_t)ntm_store_meta_get(s->st, NTM_META_LAST_SEQ, 0);
    uint64_t newest = s->n_formed ? s->formed[s->n_formed - 1].seq : s->sendable;
    if (last > newest) {
        uint64_t ticket = ntm_store_ticket(s->st);
        unsigned cap = sizeof s->formed / sizeof s->formed[0];
        if (s->n_formed == cap) /* merge into the newest: it waits a little longer */
            s->n_formed--;
        s->formed[s->n_formed].seq = last;
        s->formed[s->n_formed].ticket = ticket;
        s->n_formed++;
    }
    unsigned done = 0;
    while (done < s->n_formed && ntm_store_durable(s->st, s->formed[done].ticket))
        s->sendable = s->formed[done++].seq;
    memmove(s->formed, s->formed + done, (s->n_formed - done) * sizeof s->formed[0]);
    s->n_formed -= done;
}

void ntm_sync_set_uplinks(struct ntm_sync *s, struct ntm_uplink **u, size_t n)
{
    s->links = calloc(n ? n : 1, sizeof *s->links);
    if (!s->links)
        return;
    s->n_links = n;
    for (size_t i = 0; i < n; i++) {
        s->links[i].u = u[i];
        unsigned m = ntm_uplink_max_in_flight(u[i]);
        s->links[i].max_in_flight = m == 0 ? 1 : m > MAX_FLIGHT ? MAX_FLIGHT : m;
    }
}

static struct link *link_of(struct ntm_sync *s, struct ntm_uplink *u)
{
    for (size_t i = 0; i < s->n_links; i++)
        if (s->links[i].u == u)
            return &s->links[i];
    return NULL;
}

/* ---- the database side of a delivery ------------------------------------------ */

/* server_due_ms: the earliest next try the server asked for (Retry-After, or
 * the slow schedule of refused credentials), 0 when the wait is only ours. */
static int update_delivery(struct ntm_sync *s, uint64_t seq, const char *uplink, const char *state,
                           int64_t next_ms, int64_t server_due_ms, bool count_attempt,
                           const char *error)
{
    sqlite3 *db = ntm_store_db(s->st);
    if (ntm_store_begin(s->st) != 0)
        return -1;
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE deliveries SET state = ?1, next_ms = ?2,"
                                " attempts = attempts + ?3, last_error = ?4,"
                                " done_ms = CASE WHEN ?1 = 'pending' THEN NULL ELSE ?5 END,"
                                " server_due_ms = ?8"
                                " WHERE seq = ?6 AND uplink = ?7",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(q, 1, state, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, next_ms);
        sqlite3_bind_int(q, 3, count_attempt ? 1 : 0);
        char safe[2048]; /* a plugin's reason, often a server's words: made safe to print */
        if (error)
            sqlite3_bind_text(q, 4, ntm_text_safe_str(safe, sizeof safe, error), -1,
                              SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 5, ntm_clock_wall_ms(s->clock));
        sqlite3_bind_int64(q, 6, (int64_t)seq);
        sqlite3_bind_text(q, 7, uplink, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 8, server_due_ms);
        rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_OK)
        ntm_logf(s->log, LOG_ERR, "sync: recording the delivery of batch %" PRIu64 " to %s: %s",
                 seq, uplink, sqlite3_errmsg(db));
    return rc == SQLITE_OK ? 0 : -1;
}

/* The uplink delivers: its deliveries waiting on a back-off of ours are due
 * now, so a backlog drains at the uplink's full in-flight rate instead of each
 * batch waiting out its own back-off. A wait the server asked for is kept:
 * such a delivery becomes due when the server allowed, not before. */
static void drain(struct ntm_sync *s, const char *uplink, int64_t now)
{
    sqlite3 *db = ntm_store_db(s->st);
    if (ntm_store_begin(s->st) != 0)
        return;
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "UPDATE deliveries SET next_ms = max(server_due_ms, ?1)"
                                " WHERE uplink = ?2 AND state = 'pending' AND next_ms > ?1"
                                " AND server_due_ms < next_ms",
                                -1, &q, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, now);
        sqlite3_bind_text(q, 2, uplink, -1, SQLITE_STATIC);
        rc = sqlite3_step(q) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_OK) {
        ntm_logf(s->log, LOG_ERR,
                 "sync: making the deliveries waiting to be retried on %s due now: %s; each is "
                 "sent when its own back-off ends",
                 uplink, sqlite3_errmsg(db));
        return;
    }
    int n = sqlite3_changes(db);
    if (n > 0)
        ntm_logf(s->log, LOG_INFO,
                 "uplink %s delivers: %d batches waiting on their retry back-off are due now "
                 "(a wait the server asked for is kept)",
                 uplink, n);
}

/* Frees what every uplink has finished with: bodies of batches all delivered,
 * and the buffered messages of closed days once every batch up to the one
 * that closed them is done. */
static void release(struct ntm_sync *s)
{
    sqlite3 *db = ntm_store_db(s->st);
    int64_t first_pending = ntm_store_scalar(
        s->st, "SELECT min(seq) FROM deliveries WHERE state = 'pending'", INT64_MAX);
    if (ntm_store_begin(s->st) != 0)
        return;
    if (ntm_store_run(s->st,
                      "UPDATE batches SET body = NULL WHERE body IS NOT NULL AND seq < ?"
                      " AND seq NOT IN (SELECT seq FROM deliveries WHERE state != 'delivered')",
                      first_pending) < 0)
        ntm_logf(s->log, LOG_ERR,
                 "sync: freeing the bodies of delivered batches failed: %s; they stay in the "
                 "buffer until the next delivery tries again",
                 sqlite3_errmsg(db));
    sqlite3_stmt *q = NULL;
    int64_t msg_hi = -1, closed_upto = 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT msg_hi, closed_upto FROM batches WHERE seq < ?"
                           " ORDER BY seq DESC LIMIT 1",
                           -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, first_pending);
        if (sqlite3_step(q) == SQLITE_ROW) {
            msg_hi = sqlite3_column_int64(q, 0);
            closed_upto = sqlite3_column_int64(q, 1);
        }
    }
    sqlite3_finalize(q);
    if (msg_hi < 0 || closed_upto <= s->released_upto)
        return;
    int64_t n = ntm_store_release(s->st, msg_hi, closed_upto);
    if (n < 0)
        return;
    s->released_upto = closed_upto;
    if (ntm_store_meta_set(s->st, NTM_META_RELEASED_UPTO, closed_upto) != 0) {
        char upto[40];
        ntm_iso_local(closed_upto, upto, sizeof upto);
        ntm_logf(s->log, LOG_ERR,
                 "sync: the release of the messages before %s is not recorded; after a restart "
                 "it is done again (and finds nothing more to delete)",
                 upto);
    }
    ntm_logf(s->log, LOG_INFO,
             "released %" PRId64 " buffered messages of closed days: every batch with their "
             "indicators is delivered",
             n);
}

/* ---- sending ------------------------------------------------------------------- */

static bool in_flight(const struct link *l, uint64_t seq)
{
    for (unsigned i = 0; i < MAX_FLIGHT; i++)
        if (l->fl[i].used && l->fl[i].seq == seq)
            return true;
    return false;
}

static struct link *link_named(struct ntm_sync *s, const char *name)
{
    for (size_t i = 0; i < s->n_links; i++)
        if (strcmp(ntm_uplink_name(s->links[i].u), name) == 0)
            return &s->links[i];
    return NULL;
}

/* Wakes up when the next delivery not already in flight is due. */
static void arm_timer(struct ntm_sync *s)
{
    if (s->freeing)
        return;
    sqlite3_stmt *q = NULL;
    int64_t next = -1;
    if (sqlite3_prepare_v2(ntm_store_db(s->st),
                           "SELECT seq, uplink, next_ms FROM deliveries WHERE state = 'pending'"
                           " ORDER BY next_ms LIMIT 64",
                           -1, &q, NULL) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            /* an uplink no longer configured or already full, a send under
             * way, or a batch whose commit is not durable yet (ntm_sync_durable
             * sends it): not a reason to wake (waking for it would spin) */
            struct link *l = link_named(s, (const char *)sqlite3_column_text(q, 1));
            if (!l || l->in_flight >= l->max_in_flight ||
                (uint64_t)sqlite3_column_int64(q, 0) > s->sendable ||
                in_flight(l, (uint64_t)sqlite3_column_int64(q, 0)))
                continue; /* a full uplink is kicked again when a send completes */
            next = sqlite3_column_int64(q, 2);
            break;
        }
    }
    sqlite3_finalize(q);
    if (next < 0) {
        uv_timer_stop(&s->timer);
        return;
    }
    int64_t delay = next - ntm_clock_wall_ms(s->clock);
    if (delay < 0 || delay > MAX_WAIT_MS)
        delay = 0; /* past, or the clock jumped back: look now */
    if (delay > 60000)
        delay = 60000; /* look again at least each minute (requeues by ntmctl) */
    uv_timer_start(&s->timer, on_timer, (uint64_t)delay, 0);
}

static void send_due(struct ntm_sync *s, struct link *l)
{
    sqlite3 *db = ntm_store_db(s->st);
    const char *name = ntm_uplink_name(l->u);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT d.seq, b.body FROM deliveries d JOIN batches b USING (seq)"
                           " WHERE d.uplink = ?1 AND d.state = 'pending'"
                           " AND (d.next_ms <= ?2 OR d.next_ms > ?4) AND d.seq <= ?5"
                           " ORDER BY d.seq LIMIT ?3",
                           -1, &q, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    /* Due times are wall-clock (they survive restarts); one further away than
     * any wait we set means the clock jumped back: due now, not in hours. */
    sqlite3_bind_int64(q, 2, ntm_clock_wall_ms(s->clock));
    sqlite3_bind_int64(q, 4, ntm_clock_wall_ms(s->clock) + MAX_WAIT_MS);
    sqlite3_bind_int(q, 3, (int)(l->max_in_flight * 2));
    sqlite3_bind_int64(q, 5, (int64_t)s->sendable);
    while (l->in_flight < l->max_in_flight && sqlite3_step(q) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(q, 0);
        if (in_flight(l, seq) || sqlite3_column_type(q, 1) == SQLITE_NULL)
            continue;
        struct flight *f = NULL;
        for (unsigned i = 0; i < MAX_FLIGHT && !f; i++)
            if (!l->fl[i].used)
                f = &l->fl[i];
        size_t len = (size_t)sqlite3_column_bytes(q, 1);
        f->body = malloc(len ? len : 1);
        if (!f->body)
            break;
        if (len > 0)
            memcpy(f->body, sqlite3_column_blob(q, 1), len);
        f->used = true;
        f->seq = seq;
        snprintf(f->batch_id, sizeof f->batch_id, "%s:%" PRIu64, s->cfg->gateway_id, seq);
        f->batch =
            (struct ntm_batch){.seq = seq, .batch_id = f->batch_id, .body = f->body, .len = len};
        l->in_flight++; /* in memory only: after a restart it is simply due again */
        if (ntm_uplink_send(l->u, &f->batch) != 0)
            ntm_sync_complete(s, l->u, seq, NTM_SEND_RETRY, 0, "the plugin could not start it");
    }
    sqlite3_finalize(q);
}

void ntm_sync_kick(struct ntm_sync *s)
{
    if (s->freeing)
        return;
    update_sendable(s);
    for (size_t i = 0; i < s->n_links; i++)
        send_due(s, &s->links[i]);
    ntm_store_commit(s->st);
    arm_timer(s);
}

void ntm_sync_durable(struct ntm_sync *s)
{
    if (s->freeing)
        return;
    uint64_t before = s->sendable;
    update_sendable(s);
    if (s->sendable == before)
        return;
    /* no commit here: this runs just after the sync tick's, and one more a
     * second would double what is written to the card */
    for (size_t i = 0; i < s->n_links; i++)
        send_due(s, &s->links[i]);
    arm_timer(s);
}

void ntm_sync_complete(void *arg, struct ntm_uplink *u, uint64_t seq, enum ntm_send_result r,
                       int64_t retry_after_ms, const char *reason)
{
    struct ntm_sync *s = arg;
    struct link *l = link_of(s, u);
    if (!l)
        return;
    struct flight *f = NULL;
    for (unsigned i = 0; i < MAX_FLIGHT && !f; i++)
        if (l->fl[i].used && l->fl[i].seq == seq)
            f = &l->fl[i];
    if (!f)
        return; /* not ours: the host already logged a duplicate */
    const char *name = ntm_uplink_name(u);
    char batch_id[96];
    snprintf(batch_id, sizeof batch_id, "%s", f->batch_id);
    free(f->body);
    memset(f, 0, sizeof *f);
    l->in_flight--;
    if (s->freeing)
        return; /* stays pending in the database: sent again at the next start */

    sqlite3 *db = ntm_store_db(s->st);
    struct ntm_log_field fields[] = {{"BATCH_ID", batch_id}, {"UPLINK", name}};
    int64_t now = ntm_clock_wall_ms(s->clock);
    switch (r) {
    case NTM_SEND_DELIVERED:
        update_delivery(s, seq, name, "delivered", 0, 0, true, NULL);
        s->stats.delivered_total++;
        s->stats.last_delivered_ms = now;
        l->last_ok_ms = now;
        l->failing_since_ms = 0;
        l->last_error[0] = '\0';
        /* back-offs of ours exist only after a failure since the last delivery,
         * or from the last run: otherwise there is nothing to lift */
        if (l->failing || !l->drained)
            drain(s, name, now);
        l->drained = true;
        if (l->failing) {
            ntm_log_emit(s->log, LOG_NOTICE, NTM_MSGID_UPLINK_DELIVERED, fields, 2,
                         "uplink %s delivers again (batch %s) after %" PRIu64 " failed attempts",
                         name, batch_id, l->failures);
            l->failing = false;
            l->failures = 0;
        } else {
            ntm_log_emit(s->log, LOG_INFO, NTM_MSGID_UPLINK_DELIVERED, fields, 2,
                         "batch %s delivered to %s", batch_id, name);
        }
        break;
    case NTM_SEND_REJECT:
        update_delivery(s, seq, name, "quarantined", 0, 0, true, reason);
        snprintf(l->last_error, sizeof l->last_error, "%s",
                 reason ? reason : "refused for good, no reason given");
        ntm_log_emit(s->log, LOG_ERR, NTM_MSGID_BATCH_QUARANTINED, fields, 2,
                     "uplink %s will never accept batch %s: %s; it is quarantined (`ntmctl "
                     "batches` lists it, `ntmctl requeue %" PRIu64 "` sends it again), going on "
                     "with the next",
                     name, batch_id, reason ? reason : "no reason given", seq);
        break;
    case NTM_SEND_RETRY:
    case NTM_SEND_RETRY_SLOW: {
        int64_t attempts = 1;
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(db, "SELECT attempts FROM deliveries WHERE seq = ? AND uplink = ?",
                               -1, &q, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(q, 1, (int64_t)seq);
            sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
            if (sqlite3_step(q) == SQLITE_ROW)
                attempts = sqlite3_column_int64(q, 0) + 1;
        }
        sqlite3_finalize(q);
        int64_t delay = r == NTM_SEND_RETRY_SLOW
                            ? NTM_RETRY_SLOW_MS
                            : ntm_backoff_ms(NTM_RETRY_MIN_MS, NTM_RETRY_MAX_MS,
                                             attempts > 1 ? (unsigned)(attempts - 1) : 0);
        /* what the server asked for is kept apart: a drain (a delivery of
         * another batch) may shorten our back-off, never the server's wait */
        int64_t server_due = 0;
        if (retry_after_ms > 0) {
            int64_t after = retry_after_ms < MAX_WAIT_MS ? retry_after_ms : MAX_WAIT_MS;
            server_due = now + after;
            if (after > delay)
                delay = after;
        }
        if (r == NTM_SEND_RETRY_SLOW)
            server_due = now + delay;
        update_delivery(s, seq, name, "pending", now + delay, server_due, true, reason);
        l->failures++;
        snprintf(l->last_error, sizeof l->last_error, "%s", reason ? reason : "no reason given");
        uint64_t held = 0;
        bool first = !l->failing;
        if (first)
            l->failing_since_ms = now;
        l->failing = true;
        if (first)
            l->complaint.last_ms = 0;
        if (ntm_complain(&l->complaint, 60000, &held))
            ntm_log_emit(s->log, r == NTM_SEND_RETRY_SLOW ? LOG_ERR : LOG_WARNING,
                         NTM_MSGID_UPLINK_FAILING, fields, 2,
                         "uplink %s: batch %s not delivered: %s; %s in %.1f s (%" PRIu64
                         " failed attempts so far; this is logged at most once a minute)",
                         name, batch_id, reason ? reason : "no reason given",
                         r == NTM_SEND_RETRY_SLOW ? "credentials refused, retrying on the slow "
                                                    "schedule"
                                                  : "retrying",
                         (double)delay / 1000.0, l->failures);
        break;
    }
    }
    release(s);
    ntm_sync_kick(s);
}

void ntm_sync_stats(struct ntm_sync *s, struct ntm_sync_stats *out)
{
    s->stats.pending_batches = (uint64_t)ntm_store_scalar(
        s->st, "SELECT count(DISTINCT seq) FROM deliveries WHERE state = 'pending'", 0);
    s->stats.quarantined = (uint64_t)ntm_store_scalar(
        s->st, "SELECT count(*) FROM deliveries WHERE state = 'quarantined'", 0);
    *out = s->stats;
}

size_t ntm_sync_uplink_info(struct ntm_sync *s, struct ntm_sync_uplink_info *out, size_t max)
{
    size_t n = s->n_links < max ? s->n_links : max;
    for (size_t i = 0; i < n; i++) {
        const struct link *l = &s->links[i];
        out[i] = (struct ntm_sync_uplink_info){
            .name = ntm_uplink_name(l->u),
            .failing = l->failing,
            .last_ok_ms = l->last_ok_ms,
            .failing_since_ms = l->failing ? l->failing_since_ms : 0,
            .last_error = l->last_error[0] ? l->last_error : NULL,
        };
    }
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(ntm_store_db(s->st),
                           "SELECT uplink, count(*), min(next_ms) FROM deliveries"
                           " WHERE state = 'pending' GROUP BY uplink",
                           -1, &q, NULL) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            const char *name = (const char *)sqlite3_column_text(q, 0);
            for (size_t i = 0; name && i < n; i++)
                if (strcmp(out[i].name, name) == 0) {
                    out[i].waiting_batches = (uint64_t)sqlite3_column_int64(q, 1);
                    int64_t next = sqlite3_column_int64(q, 2);
                    int64_t now = ntm_clock_wall_ms(s->clock);
                    /* a due time in the past (or a void lease) means "now" */
                    out[i].next_try_ms = next < now ? now : next;
                }
        }
    }
    sqlite3_finalize(q);
    return n;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void ntm_sync_free(struct ntm_sync *s)
{
    if (!s)
        return;
    s->freeing = true;
    for (size_t i = 0; i < s->n_links; i++)
        for (unsigned j = 0; j < MAX_FLIGHT; j++)
            free(s->links[i].fl[j].body);
    free(s->links);
    s->links = NULL;
    s->n_links = 0;
    uv_close((uv_handle_t *)&s->timer, on_closed);
}
