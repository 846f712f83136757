/* SPDX-License-Identifier: GPL-3.0-or-later */
/* camera_driver.c: runs the camera source (daemon/sources/camera.c) on a libuv
 * loop with the daemon's own HTTP client, for the integration tests, until
 * SIGTERM. Each emitted message is one stdout line
 *   EMIT <monotonic ms> <device> <channel> <flags> <payload>
 * SIGUSR1 prints one line per device
 *   STATE <device> connected=<0|1> since=<ms> events=N keepalives=N ignored=N
 *         malformed=N oversized=N connects=N error=<last error>
 * and the log goes to stderr, as the daemon's does off the journal.
 *
 *   camera-driver [--backoff-min-ms N] [--backoff-max-ms N] [--refused-ms N]
 *                 [--hold-ms N] [--max-part N]
 *                 --device
 * ID,VILLAGE,API,HOST,PORT,USER,PASSWORD_FILE,CHANNEL,KEEPALIVE_S[,CA_FILE]
 *                 ... (a CA_FILE makes it https) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "sources/camera.h"

#define MAX_DEV 256

static struct ntm_camera_device devs[MAX_DEV];
static size_t n_devs;
static struct ntm_cameras *cams;

static void on_emit(void *arg, const char *device, enum ntm_channel ch, const char *payload,
                    size_t len, unsigned flags)
{
    (void)arg;
    printf("EMIT %lld %s %s %u %.*s\n", (long long)ntm_clock_mono_ms(), device,
           ntm_channel_name(ch), flags, (int)len, payload);
    fflush(stdout);
}

static void print_states(void)
{
    for (size_t i = 0; i < n_devs; i++) {
        struct ntm_camera_state st;
        if (ntm_cameras_state(cams, devs[i].device, &st) != 0) {
            printf("STATE %s none\n", devs[i].device);
            continue;
        }
        printf("STATE %s connected=%d since=%lld events=%llu keepalives=%llu ignored=%llu "
               "malformed=%llu oversized=%llu connects=%llu stream=%s error=%s\n",
               devs[i].device, st.connected, (long long)st.since_ms, (unsigned long long)st.events,
               (unsigned long long)st.keepalives, (unsigned long long)st.ignored,
               (unsigned long long)st.malformed, (unsigned long long)st.oversized,
               (unsigned long long)st.connects, st.stream, st.last_error);
    }
    printf("STATES-END\n");
    fflush(stdout);
}

static void on_signal(uv_signal_t *s, int signum)
{
    if (signum == SIGUSR1) {
        print_states();
        return;
    }
    uv_stop(s->loop);
}

static int parse_device(char *spec, struct ntm_camera_device *d)
{
    char *f[10] = {0};
    int n = 0;
    for (char *tok = strtok(spec, ","); tok && n < 10; tok = strtok(NULL, ","))
        f[n++] = tok;
    if (n < 9)
        return -1;
    d->device = f[0];
    d->village = f[1];
    d->api = strcmp(f[2], "dahua") == 0 ? NTM_CAMERA_DAHUA : NTM_CAMERA_HIKVISION;
    d->host = f[3];
    d->port = atoi(f[4]);
    d->user = f[5];
    d->password_file = f[6];
    d->channel = atoi(f[7]);
    d->keepalive_s = atoi(f[8]);
    if (n == 10) {
        d->https = true;
        d->ca_file = f[9];
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct ntm_camera_tuning t = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "camera-driver: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--backoff-min-ms") == 0)
            t.backoff_min_ms = atoll(v);
        else if (strcmp(a, "--backoff-max-ms") == 0)
            t.backoff_max_ms = atoll(v);
        else if (strcmp(a, "--refused-ms") == 0)
            t.refused_retry_ms = atoll(v);
        else if (strcmp(a, "--hold-ms") == 0)
            t.hold_ms = atoll(v);
        else if (strcmp(a, "--max-part") == 0)
            t.max_part = (size_t)atoll(v);
        else if (strcmp(a, "--device") == 0 && n_devs < MAX_DEV) {
            if (parse_device(argv[i], &devs[n_devs]) != 0) {
                fprintf(stderr, "camera-driver: bad --device %s\n", v);
                return 2;
            }
            n_devs++;
        } else {
            fprintf(stderr, "camera-driver: unknown option %s\n", a);
            return 2;
        }
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct ntm_log log;
    ntm_log_init(&log, "camera-driver", LOG_DEBUG);
    struct ntm_clock clock;
    ntm_clock_init(&clock);
    struct ntm_http *http = NULL;
    if (ntm_http_new(&http, &loop, &log, &clock) != 0 ||
        ntm_cameras_new(&cams, &loop, http, &log, &clock, &t, on_emit, NULL) != 0) {
        fprintf(stderr, "camera-driver: cannot start\n");
        return 1;
    }
    char err[512];
    if (ntm_cameras_configure(cams, devs, n_devs, err, sizeof err) != 0) {
        fprintf(stderr, "camera-driver: %s\n", err);
        ntm_cameras_free(cams);
        ntm_http_free(http);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return 1;
    }
    uv_signal_t sterm, sint, susr1;
    uv_signal_init(&loop, &sterm);
    uv_signal_init(&loop, &sint);
    uv_signal_init(&loop, &susr1);
    uv_signal_start(&sterm, on_signal, SIGTERM);
    uv_signal_start(&sint, on_signal, SIGINT);
    uv_signal_start(&susr1, on_signal, SIGUSR1);
    printf("READY\n");
    fflush(stdout);
    uv_run(&loop, UV_RUN_DEFAULT);

    print_states();
    ntm_cameras_free(cams);
    ntm_http_free(http);
    uv_close((uv_handle_t *)&sterm, NULL);
    uv_close((uv_handle_t *)&sint, NULL);
    uv_close((uv_handle_t *)&susr1, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&loop);
    if (rc != 0)
        fprintf(stderr, "camera-driver: handles left open at exit\n");
    return rc == 0 ? 0 : 1;
}
