/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_plugin_host.c: plugin_host.c with real plugins (file, provincial-http and the
 * test plugins bad-abi, noname, probe, whose paths are the arguments): load errors'
 * wording, option checks, send/complete bookkeeping, the file uplink's delivery. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <uv.h>

#include "clock.h"
#include "config.h"
#include "http.h"
#include "log.h"
#include "plugin_host.h"

struct outcome {
    int count;
    uint64_t seq;
    enum ntm_send_result result;
    int64_t retry_after_ms;
    char reason[1024];
};

struct t {
    int passed, failed;
    char root[64]; /* a temporary directory */
    char plugin_dir[128];
    char out_dir[128]; /* where the file uplink writes */
    uv_loop_t loop;
    struct ntm_log log;
    struct ntm_clock clock;
    struct ntm_http *http;
    struct outcome got;
    char err[4096];
};

#define CHECK(t, expr)                                                                             \
    do {                                                                                           \
        if (expr) {                                                                                \
            (t)->passed++;                                                                         \
        } else {                                                                                   \
            (t)->failed++;                                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr);               \
        }                                                                                          \
    } while (0)

#define CHECK_HAS(t, hay, needle)                                                                  \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (h_ != NULL && strstr(h_, n_) != NULL) {                                                \
            (t)->passed++;                                                                         \
        } else {                                                                                   \
            (t)->failed++;                                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: \"%s\" does not contain \"%s\"\n", __FILE__,     \
                    __LINE__, h_ ? h_ : "(null)", n_);                                             \
        }                                                                                          \
    } while (0)

static void on_complete(void *arg, struct ntm_uplink *u, uint64_t seq, enum ntm_send_result r,
                        int64_t retry_after_ms, const char *reason)
{
    (void)u;
    struct t *t = arg;
    t->got.count++;
    t->got.seq = seq;
    t->got.result = r;
    t->got.retry_after_ms = retry_after_ms;
    snprintf(t->got.reason, sizeof t->got.reason, "%s", reason ? reason : "");
}

/* A configuration with these uplink entries (YAML, indented by two), parsed in
 * memory as "t.yaml". The entries start on line UPLINKS_LINE. */
#define UPLINKS_LINE 10
static struct ntm_config *config(struct t *t, const char *uplinks)
{
    char text[4096];
    snprintf(text, sizeof text,
             "gateway:\n"
             "  id: gw-test\n"
             "commune:\n"
             "  code: \"16279\"\n"
             "  province_code: \"38\"\n"
             "villages:\n"
             "  - id: thon-dong\n"
             "plugin_dir: %s\n"
             "uplinks:\n"
             "%s",
             t->plugin_dir, uplinks);
    char cerr[2048];
    struct ntm_config *cfg = ntm_config_parse("t.yaml", text, strlen(text), cerr, sizeof cerr);
    if (cfg == NULL)
        fprintf(stderr, "config does not parse: %s\n%s", cerr, text);
    return cfg;
}

/* Loads `uplinks`; returns the load's rc, with t->err. Frees everything unless out. */
static int load(struct t *t, const char *uplinks, struct ntm_uplink ***out, size_t *n_out)
{
    struct ntm_config *cfg = config(t, uplinks);
    if (cfg == NULL) {
        t->failed++;
        return -2;
    }
    struct ntm_uplink_events ev = {t, on_complete};
    struct ntm_uplink **u = (struct ntm_uplink **)0x1;
    size_t n = 99;
    int rc = ntm_uplinks_load(&u, &n, cfg, &t->log, t->http, &ev, t->err, sizeof t->err);
    ntm_config_free(cfg); /* the uplinks must not need it any more */
    if (rc != 0) {
        CHECK(t, u == NULL && n == 0);
        CHECK(t, t->err[0] != '\0');
    }
    if (out != NULL) {
        *out = u;
        *n_out = n;
    } else if (rc == 0) {
        ntm_uplinks_free(u, n);
    }
    return rc;
}

/* A load that must fail with an error containing each of the needles. */
static void expect_error(struct t *t, const char *uplinks, const char *n1, const char *n2)
{
    int rc = load(t, uplinks, NULL, NULL);
    CHECK(t, rc == -1);
    CHECK_HAS(t, t->err, n1);
    if (n2 != NULL)
        CHECK_HAS(t, t->err, n2);
}

static void run_loop(struct t *t)
{
    uv_run(&t->loop, UV_RUN_DEFAULT);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    return buf;
}

static int count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d != NULL && (de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".tmp") != NULL)
            n++;
    if (d)
        closedir(d);
    return n;
}

/* ---- the tests ---- */

static void test_load_errors(struct t *t)
{
    char want[512], u[1024];

    snprintf(want, sizeof want,
             "uplink 1 (nosuch): plugin not found: %s/nosuch.so: ", t->plugin_dir);
    expect_error(t, "  - plugin: nosuch\n", want, NULL);

    snprintf(want, sizeof want,
             "uplink 1 (bad-abi): plugin bad-abi was built for plugin ABI 1, this daemon speaks "
             "%u: install a matching plugin (%s/bad-abi.so)",
             (unsigned)NTM_PLUGIN_ABI_VERSION, t->plugin_dir);
    expect_error(t, "  - plugin: bad-abi\n", want, NULL);

    expect_error(t, "  - plugin: noname\n", "uplink 1 (noname): ", "names itself differently");

    /* unknown option: position of its value; the known ones listed; a suggestion */
    snprintf(u, sizeof u, "  - plugin: file\n    dir: %s\n    dri: x\n", t->out_dir);
    expect_error(t, u, "t.yaml:12:10: unknown option 'dri' for plugin file (known: dir)",
                 "did you mean 'dir'?");
    expect_error(t,
                 "  - plugin: provincial-http\n"
                 "    base_ur: https://x.example/ntm\n"
                 "    token_file: /nonexistent\n",
                 "t.yaml:11:14: unknown option 'base_ur' for plugin provincial-http (known: "
                 "base_url, token_file, token_url, access_key, secret_file, ca_file, cert_file, "
                 "key_file, gzip, timeout_s)",
                 "t.yaml:10:5: uplink provincial-http needs option 'base_url'");

    /* missing required option: position of the entry */
    expect_error(t, "  - plugin: file\n", "t.yaml:10:5: uplink file needs option 'dir'", NULL);
    expect_error(t, "  - plugin: file\n    dir: ''\n",
                 "t.yaml:11:10: option 'dir' of uplink file must be a path, got ''", NULL);

    /* types */
    expect_error(t,
                 "  - plugin: provincial-http\n"
                 "    base_url: ftp://x.example/ntm\n"
                 "    token_file: /nonexistent\n",
                 "t.yaml:11:15: option 'base_url' of uplink provincial-http must be a URL starting "
                 "with http:// or https://, got 'ftp://x.example/ntm'",
                 NULL);
    expect_error(t,
                 "  - plugin: provincial-http\n"
                 "    base_url: https://x.example/ntm\n"
                 "    token_file: /nonexistent\n"
                 "    gzip: maybe\n"
                 "    timeout_s: soon\n",
                 "t.yaml:13:11: option 'gzip' of uplink provincial-http must be true or false",
                 "t.yaml:14:16: option 'timeout_s' of uplink provincial-http must be a whole "
                 "number");
    expect_error(t, "  - plugin: probe\n    fail_init: \"yes\"\n",
                 "t.yaml:11:16: option 'fail_init' of uplink probe must be true or false",
                 "(write it without quotes)");
    expect_error(t, "  - plugin: probe\n    count: -3\n",
                 "option 'count' of uplink probe must be a whole number >= 0, got '-3'", NULL);

    /* the plugins' own init errors */
    expect_error(t, "  - plugin: probe\n    fail_init: yes\n    count: 0012\n",
                 "uplink probe: probe was told to fail (count 12)", NULL);
    snprintf(u, sizeof u, "  - plugin: file\n    dir: %s/nope\n", t->root);
    snprintf(want, sizeof want, "uplink file: dir %s/nope does not exist", t->root);
    expect_error(t, u, want, NULL);
    snprintf(u, sizeof u, "  - plugin: file\n    dir: %s/plugins/file.so\n", t->root);
    expect_error(t, u, "is not a directory", NULL);
    expect_error(t,
                 "  - plugin: provincial-http\n"
                 "    base_url: https://x.example/ntm\n",
                 "uplink provincial-http: needs option 'token_file'", "or 'token_url'");
    expect_error(t,
                 "  - plugin: provincial-http\n"
                 "    base_url: https://x.example/ntm\n"
                 "    token_url: https://x.example/token\n",
                 "uplink provincial-http: token_url needs access_key and secret_file", NULL);
    expect_error(t,
                 "  - plugin: provincial-http\n"
                 "    base_url: https://x.example/ntm\n"
                 "    token_file: /nonexistent\n"
                 "    ca_file: /nonexistent/ca.pem\n",
                 "uplink provincial-http: ca_file /nonexistent/ca.pem: No such file", NULL);

    /* a failure after a good uplink unloads the good one too (ASan checks the rest) */
    snprintf(u, sizeof u, "  - plugin: file\n    dir: %s\n  - plugin: probe\n  - plugin: nosuch\n",
             t->out_dir);
    expect_error(t, u, "uplink 3 (nosuch): plugin not found", NULL);
}

static void test_names_and_options(struct t *t)
{
    char u[1024];
    snprintf(u, sizeof u,
             "  - plugin: file\n    dir: %s\n  - plugin: probe\n  - plugin: file\n    dir: %s\n",
             t->out_dir, t->out_dir);
    struct ntm_uplink **up;
    size_t n;
    CHECK(t, load(t, u, &up, &n) == 0);
    if (n != 3) {
        t->failed++;
        return;
    }
    CHECK(t, strcmp(ntm_uplink_name(up[0]), "file") == 0);
    CHECK(t, strcmp(ntm_uplink_name(up[1]), "probe") == 0);
    CHECK(t, strcmp(ntm_uplink_name(up[2]), "file#2") == 0);
    CHECK(t, ntm_uplink_max_in_flight(up[0]) == 1);
    CHECK(t, ntm_uplink_max_in_flight(up[1]) == 2);
    ntm_uplinks_free(up, n);
    run_loop(t);
}

static void test_file_delivery(struct t *t)
{
    char u[1024], path[512];
    snprintf(u, sizeof u, "  - plugin: file\n    dir: %s\n", t->out_dir);
    struct ntm_uplink **up;
    size_t n;
    CHECK(t, load(t, u, &up, &n) == 0);
    if (n != 1) {
        t->failed++;
        return;
    }
    /* a leftover of a crash is removed at start */
    snprintf(path, sizeof path, "%s/.gw-test_1.json.tmp", t->out_dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd >= 0)
        close(fd);
    ntm_uplinks_free(up, n);
    CHECK(t, load(t, u, &up, &n) == 0);
    CHECK(t, access(path, F_OK) != 0);

    const char body[] = "{\"schema\":\"ntm.sync.v1\",\"batch_id\":\"gw-test:42\",\"seq\":42,"
                        "\"commune\":{\"name\":\"Hoằng Giang\"}}";
    struct ntm_batch b = {42, "gw-test:42", body, sizeof body - 1};
    struct ntm_batch b2 = {43, "gw-test:43", body, sizeof body - 1};
    memset(&t->got, 0, sizeof t->got);
    CHECK(t, ntm_uplink_send(up[0], &b) == 0);
    /* the plugin completed inside send(): passed on only from the loop */
    CHECK(t, t->got.count == 0);
    /* max_in_flight 1, and the outcome is not passed on yet */
    CHECK(t, ntm_uplink_send(up[0], &b2) == -1);
    run_loop(t);
    CHECK(t, t->got.count == 1);
    CHECK(t, t->got.seq == 42);
    CHECK(t, t->got.result == NTM_SEND_DELIVERED);

    snprintf(path, sizeof path, "%s/gw-test_42.json", t->out_dir);
    size_t len = 0;
    char *got = read_file(path, &len);
    CHECK(t, got != NULL && len == sizeof body - 1 && memcmp(got, body, len) == 0);
    free(got);
    CHECK(t, count_tmp_files(t->out_dir) == 0);

    /* the same batch again: already there, delivered */
    memset(&t->got, 0, sizeof t->got);
    CHECK(t, ntm_uplink_send(up[0], &b) == 0);
    run_loop(t);
    CHECK(t, t->got.count == 1 && t->got.result == NTM_SEND_DELIVERED);

    /* another content under the same id: never overwritten */
    struct ntm_batch other = {42, "gw-test:42", "{}", 2};
    memset(&t->got, 0, sizeof t->got);
    CHECK(t, ntm_uplink_send(up[0], &other) == 0);
    run_loop(t);
    CHECK(t, t->got.count == 1 && t->got.result == NTM_SEND_REJECT);
    CHECK_HAS(t, t->got.reason, "already exists with different content");
    got = read_file(path, &len);
    CHECK(t, got != NULL && len == sizeof body - 1 && memcmp(got, body, len) == 0);
    free(got);

    /* the directory gone (the stick pulled out): retry, with a reason */
    snprintf(path, sizeof path, "%s/gw-test_42.json", t->out_dir);
    char moved[256];
    snprintf(moved, sizeof moved, "%s.away", t->out_dir);
    CHECK(t, rename(t->out_dir, moved) == 0);
    memset(&t->got, 0, sizeof t->got);
    CHECK(t, ntm_uplink_send(up[0], &b2) == 0);
    run_loop(t);
    CHECK(t, t->got.count == 1 && t->got.result == NTM_SEND_RETRY);
    CHECK_HAS(t, t->got.reason, "No such file or directory");
    CHECK(t, rename(moved, t->out_dir) == 0);
    memset(&t->got, 0, sizeof t->got);
    CHECK(t, ntm_uplink_send(up[0], &b2) == 0);
    run_loop(t);
    CHECK(t, t->got.count == 1 && t->got.seq == 43 && t->got.result == NTM_SEND_DELIVERED);
    CHECK(t, count_tmp_files(t->out_dir) == 0);

    /* freed with a completion still to pass on: nothing is passed on, nothing leaks */
    memset(&t->got, 0, sizeof t->got);
    struct ntm_batch b3 = {44, "gw-test:44", body, sizeof body - 1};
    CHECK(t, ntm_uplink_send(up[0], &b3) == 0);
    ntm_uplinks_free(up, n);
    run_loop(t);
    CHECK(t, t->got.count == 0);
}

static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int port = 9;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0)
        close(s);
    return port;
}

static void test_bookkeeping(struct t *t)
{
    struct ntm_uplink **up;
    size_t n;
    struct ntm_batch b = {7, "gw-test:7", "{}", 2};
    struct ntm_batch b8 = {8, "gw-test:8", "{}", 2};
    struct ntm_batch b9 = {9, "gw-test:9", "{}", 2};

    /* a second complete() is ignored */
    CHECK(t, load(t, "  - plugin: probe\n    mode: twice\n", &up, &n) == 0);
    if (n == 1) {
        uint64_t lines = t->log.lines;
        memset(&t->got, 0, sizeof t->got);
        CHECK(t, ntm_uplink_send(up[0], &b) == 0);
        CHECK(t, t->log.lines > lines); /* the plugin bug is logged */
        run_loop(t);
        CHECK(t, t->got.count == 1 && t->got.result == NTM_SEND_DELIVERED);
        CHECK(t, strcmp(t->got.reason, "first") == 0);
        ntm_uplinks_free(up, n);
    }

    /* complete() and then -1: the outcome stands, send says 0 */
    CHECK(t, load(t, "  - plugin: probe\n    mode: complete-then-fail\n", &up, &n) == 0);
    if (n == 1) {
        memset(&t->got, 0, sizeof t->got);
        CHECK(t, ntm_uplink_send(up[0], &b) == 0);
        run_loop(t);
        CHECK(t, t->got.count == 1 && t->got.result == NTM_SEND_RETRY);
        CHECK(t, t->got.retry_after_ms == 1500);
        ntm_uplinks_free(up, n);
    }

    /* -1 without complete(): the slot is free again */
    CHECK(t, load(t, "  - plugin: probe\n    mode: fail\n", &up, &n) == 0);
    if (n == 1) {
        CHECK(t, ntm_uplink_send(up[0], &b) == -1);
        CHECK(t, ntm_uplink_send(up[0], &b) == -1);
        CHECK(t, ntm_uplink_send(up[0], &b8) == -1);
        ntm_uplinks_free(up, n);
    }

    /* HTTP through the host: max_in_flight 2, the same seq never twice at once,
     * and a transport failure comes back with curl's words */
    char u[256];
    snprintf(u, sizeof u, "  - plugin: probe\n    mode: http\n    url: http://127.0.0.1:%d/\n",
             closed_port());
    CHECK(t, load(t, u, &up, &n) == 0);
    if (n == 1) {
        memset(&t->got, 0, sizeof t->got);
        CHECK(t, ntm_uplink_send(up[0], &b) == 0);
        CHECK(t, ntm_uplink_send(up[0], &b) == -1);
        CHECK(t, ntm_uplink_send(up[0], &b8) == 0);
        CHECK(t, ntm_uplink_send(up[0], &b9) == -1);
        run_loop(t);
        CHECK(t, t->got.count == 2 && t->got.result == NTM_SEND_RETRY);
        CHECK_HAS(t, t->got.reason, "status 0: ");
        CHECK_HAS(t, t->got.reason, "Couldn't connect to server");
        /* curl's error buffer or its error text, not both */
        const char *first = strstr(t->got.reason, "Couldn't connect to server");
        CHECK(t, first && !strstr(first + 1, "Couldn't connect to server"));
        /* freed while a request is in flight: its answer is dropped, nothing leaks */
        memset(&t->got, 0, sizeof t->got);
        CHECK(t, ntm_uplink_send(up[0], &b9) == 0);
        ntm_uplinks_free(up, n);
        run_loop(t);
        CHECK(t, t->got.count == 0);
    }

    /* ntm_http_free cancels what is in flight: "cancelled", once */
    CHECK(t, load(t, u, &up, &n) == 0);
    if (n == 1) {
        memset(&t->got, 0, sizeof t->got);
        CHECK(t, ntm_uplink_send(up[0], &b) == 0);
        ntm_http_free(t->http);
        CHECK(t, t->got.count == 1 && t->got.result == NTM_SEND_RETRY);
        CHECK_HAS(t, t->got.reason, "status 0: cancelled");
        ntm_uplinks_free(up, n);
        run_loop(t);
        CHECK(t, ntm_http_new(&t->http, &t->loop, &t->log, &t->clock) == 0);
    }
}

static int symlink_plugin(struct t *t, const char *target, const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.so", t->plugin_dir, name);
    if (symlink(target, path) != 0) {
        fprintf(stderr, "symlink %s -> %s: %s\n", path, target, strerror(errno));
        return -1;
    }
    return 0;
}

static void cleanup(struct t *t)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", t->root);
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: %s file.so provincial-http.so bad-abi.so noname.so probe.so\n",
                argv[0]);
        return 2;
    }
    struct t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return 2;
    snprintf(t->root, sizeof t->root, "/tmp/ntm-plugin-host-XXXXXX");
    if (mkdtemp(t->root) == NULL) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(t->plugin_dir, sizeof t->plugin_dir, "%s/plugins", t->root);
    snprintf(t->out_dir, sizeof t->out_dir, "%s/out", t->root);
    const char *names[5] = {"file", "provincial-http", "bad-abi", "noname", "probe"};
    int rc = mkdir(t->plugin_dir, 0755) | mkdir(t->out_dir, 0755);
    for (int i = 0; i < 5 && rc == 0; i++) {
        char abs[4096];
        if (realpath(argv[i + 1], abs) == NULL) {
            fprintf(stderr, "%s: %s\n", argv[i + 1], strerror(errno));
            rc = -1;
            break;
        }
        rc = symlink_plugin(t, abs, names[i]);
    }
    if (rc != 0) {
        cleanup(t);
        return 2;
    }
    ntm_log_init(&t->log, "test_plugin_host", LOG_DEBUG);
    ntm_clock_init(&t->clock);
    uv_loop_init(&t->loop);
    if (ntm_http_new(&t->http, &t->loop, &t->log, &t->clock) != 0) {
        fprintf(stderr, "ntm_http_new failed\n");
        return 2;
    }

    test_load_errors(t);
    test_names_and_options(t);
    test_file_delivery(t);
    test_bookkeeping(t);

    ntm_http_free(t->http);
    run_loop(t);
    CHECK(t, uv_loop_close(&t->loop) == 0); /* every handle was closed */
    cleanup(t);
    int failed = t->failed;
    printf("%d passed, %d failed\n", t->passed, t->failed);
    free(t);
    return failed == 0 ? 0 : 1;
}
