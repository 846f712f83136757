/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_camera_config.c: the camera source's configuration (daemon/sources/
 * camera.c): inconsistent device lists are refused with a reason a person
 * reads and change nothing; a reload keeps the streams whose settings did not
 * change; and the password file reader (password_file.c). Streams point at a
 * closed loopback port, so their attempts fail at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "check.h"
#include "sources/camera.h"
#include "sources/password_file.h"

static char dir[] = "/tmp/ntm-test-camera-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[8][256];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

static bool has(const char *s, const char *needle)
{
    if (strstr(s, needle))
        return true;
    fprintf(stderr, "'%s' lacks '%s'\n", s, needle);
    return false;
}

static void test_password_file(void)
{
    char pw[NTM_PASSWORD_MAX], err[300];
    const char *f = write_file("two", "other:x\r\nntm:pa:ss\n\n");
    CHECK_INT(ntm_password_file_read(f, "ntm", pw, sizeof pw, err, sizeof err), 0);
    CHECK(strcmp(pw, "pa:ss") == 0);
    CHECK_INT(ntm_password_file_read(f, "other", pw, sizeof pw, err, sizeof err), 0);
    CHECK(strcmp(pw, "x") == 0);
    CHECK_INT(ntm_password_file_read(f, "nobody", pw, sizeof pw, err, sizeof err), -1);
    CHECK(has(err, "has no line \"nobody:...\"") && !strstr(err, "pa:ss") && pw[0] == '\0');
    f = write_file("one", "just-the-password\n");
    CHECK_INT(ntm_password_file_read(f, "ntm", pw, sizeof pw, err, sizeof err), 0);
    CHECK(strcmp(pw, "just-the-password") == 0);
    f = write_file("colon", "a:b\n");
    CHECK_INT(ntm_password_file_read(f, "ntm", pw, sizeof pw, err, sizeof err), -1);
    CHECK(has(err, "no line \"ntm:...\"") && !strstr(err, "a:b"));
    f = write_file("empty", "\n\n");
    CHECK_INT(ntm_password_file_read(f, "ntm", pw, sizeof pw, err, sizeof err), -1);
    CHECK(has(err, "is empty"));
    CHECK_INT(ntm_password_file_read("/nonexistent/pass", "ntm", pw, sizeof pw, err, sizeof err),
              -1);
    CHECK(has(err, "/nonexistent/pass: No such file or directory"));
    char big[400];
    memset(big, 'p', sizeof big - 2);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    f = write_file("long", big);
    CHECK_INT(ntm_password_file_read(f, "ntm", pw, sizeof pw, err, sizeof err), -1);
    CHECK(has(err, "too long"));
}

static void on_emit(void *arg, const char *device, enum ntm_channel ch, const char *payload,
                    size_t len, unsigned flags)
{
    (void)device, (void)ch, (void)payload, (void)len, (void)flags;
    (*(int *)arg)++;
}

static struct ntm_camera_device cam(const char *id, const char *host, const char *user, int channel,
                                    const char *pwfile)
{
    return (struct ntm_camera_device){.device = id,
                                      .village = "thon-1",
                                      .api = NTM_CAMERA_DAHUA,
                                      .host = host,
                                      .port = 1, /* nothing listens: refused at once */
                                      .user = user,
                                      .password_file = pwfile,
                                      .channel = channel};
}

/* Runs the loop until `device` has a last error (its first attempt failed). */
static bool wait_error(uv_loop_t *loop, struct ntm_cameras *c, const char *device)
{
    struct ntm_camera_state st;
    for (int i = 0; i < 400; i++) {
        if (ntm_cameras_state(c, device, &st) == 0 && st.last_error[0] != '\0')
            return true;
        uv_run(loop, UV_RUN_NOWAIT);
        usleep(5000);
    }
    return false;
}

static void test_configure(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct ntm_log log;
    ntm_log_init(&log, "test", LOG_CRIT); /* the failures are expected: keep them quiet */
    struct ntm_clock clock;
    ntm_clock_init(&clock);
    struct ntm_http *http;
    CHECK_INT(ntm_http_new(&http, &loop, &log, &clock), 0);
    int emitted = 0;
    struct ntm_cameras *c;
    struct ntm_camera_tuning t = {.backoff_min_ms = 60000}; /* one attempt in this test */
    CHECK_INT(ntm_cameras_new(&c, &loop, http, &log, &clock, &t, on_emit, &emitted), 0);
    const char *pw = write_file("pass", "ntm:secret\n");
    char err[400];
    struct ntm_camera_state st;

    struct ntm_camera_device a[3] = {cam("cam-a", "127.0.0.1", "ntm", 1, pw),
                                     cam("cam-b", "127.0.0.1", "ntm", 2, pw),
                                     cam("cam-c", "127.0.0.1", "viewer", 1, pw)};
    CHECK_INT(ntm_cameras_configure(c, a, 1, err, sizeof err), 0);
    CHECK(wait_error(&loop, c, "cam-a"));
    CHECK_INT(ntm_cameras_state(c, "cam-a", &st), 0);
    CHECK(has(st.last_error, "cannot connect"));
    CHECK(strcmp(st.stream, "dahua 127.0.0.1:1") == 0);
    CHECK(!st.connected && st.since_ms > 0);

    /* refused lists change nothing */
    struct ntm_camera_device bad[2] = {cam("cam-a", "127.0.0.1", "ntm", 1, pw),
                                       cam("cam-b", "127.0.0.1", "ntm", 1, pw)};
    CHECK_INT(ntm_cameras_configure(c, bad, 2, err, sizeof err), -1);
    CHECK(has(err, "cameras cam-a and cam-b are both on channel 1 of 127.0.0.1"));
    bad[1].channel = 2;
    bad[1].api = NTM_CAMERA_HIKVISION;
    CHECK_INT(ntm_cameras_configure(c, bad, 2, err, sizeof err), -1);
    CHECK(has(err, "cam-a and cam-b share one event stream (same host, port and user) but not its "
                   "api, https, ca_file, password_file or keepalive_s"));
    bad[1] = cam("cam-b", "127.0.0.1/x?y", "ntm", 2, pw);
    CHECK_INT(ntm_cameras_configure(c, bad, 2, err, sizeof err), -1);
    CHECK(has(err, "camera cam-b: events host is missing or not a host name or address"));
    bad[1] = cam("cam-b", "127.0.0.1", "nt:m", 2, pw);
    CHECK_INT(ntm_cameras_configure(c, bad, 2, err, sizeof err), -1);
    CHECK(has(err, "camera cam-b: events needs a user"));
    bad[1] = cam("cam a", "127.0.0.1", "ntm", 2, pw);
    CHECK_INT(ntm_cameras_configure(c, bad, 2, err, sizeof err), -1);
    CHECK(has(err, "malformed device or village id"));
    bad[1] = cam("cam-a", "10.0.0.9", "ntm", 2, pw);
    CHECK_INT(ntm_cameras_configure(c, bad, 2, err, sizeof err), -1);
    CHECK(has(err, "camera cam-a is listed twice"));
    bad[1] = cam("cam-b", "10.0.0.9", "ntm", 5000, pw);
    CHECK_INT(ntm_cameras_configure(c, bad, 2, err, sizeof err), -1);
    CHECK(has(err, "out of range"));
    CHECK_INT(ntm_cameras_state(c, "cam-b", &st), -1); /* still the first list */
    CHECK_INT(ntm_cameras_state(c, "cam-a", &st), 0);
    CHECK(has(st.last_error, "cannot connect"));

    /* a reload: cam-a's stream (same settings) is kept with what it knew;
     * cam-b joins it; cam-c (another user) has a stream of its own */
    CHECK_INT(ntm_cameras_configure(c, a, 3, err, sizeof err), 0);
    CHECK_INT(ntm_cameras_state(c, "cam-a", &st), 0);
    CHECK(has(st.last_error, "cannot connect")); /* kept, not reconnected */
    CHECK_INT(ntm_cameras_state(c, "cam-b", &st), 0);
    CHECK(has(st.last_error, "cannot connect")); /* the same stream */
    CHECK(wait_error(&loop, c, "cam-c"));
    /* a changed setting is a new stream */
    a[0].keepalive_s = a[1].keepalive_s = 10;
    CHECK_INT(ntm_cameras_configure(c, a, 2, err, sizeof err), 0);
    CHECK_INT(ntm_cameras_state(c, "cam-a", &st), 0);
    CHECK(st.last_error[0] == '\0' && st.since_ms == 0); /* a fresh stream, not tried yet */
    CHECK_INT(ntm_cameras_state(c, "cam-c", &st), -1);
    CHECK_INT(emitted, 0); /* nothing heard from a closed port */

    ntm_cameras_free(c);
    ntm_http_free(http);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT(uv_loop_close(&loop), 0);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    test_password_file();
    test_configure();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("camera_config: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
