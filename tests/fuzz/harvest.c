/* SPDX-License-Identifier: GPL-3.0-or-later */
/* harvest.c: collects seed inputs for the fuzz targets from the unit tests.
 * make_corpus.sh links a unit test (tests/unit/test_*.c) with the daemon
 * sources, this file and -Wl,--wrap=<function>, so that every call the test
 * makes to a parser also writes the parser's input, in the fuzz target's input
 * format, as one file into $NTM_HARVEST_DIR/<target>/ (named by a hash of the
 * content, so repeats collapse). Built with one of HARVEST_INGEST,
 * HARVEST_CONFIG, HARVEST_AGG, HARVEST_RETRY_AFTER. Not part of any build. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void save(const char *target, const void *head, size_t hn, const void *data, size_t n)
{
    const char *dir = getenv("NTM_HARVEST_DIR");
    if (dir == NULL)
        return;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < hn; i++)
        h = (h ^ ((const uint8_t *)head)[i]) * 0x100000001b3ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const uint8_t *)data)[i]) * 0x100000001b3ULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/unit-%016llx", dir, target, (unsigned long long)h);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return;
    if (hn)
        fwrite(head, 1, hn, f);
    if (n)
        fwrite(data, 1, n, f);
    fclose(f);
}

#ifdef HARVEST_INGEST
#include "ingest.h"

enum ntm_reject __real_ntm_topic_parse(const char *topic, size_t len, struct ntm_topic *out,
                                       char *why, size_t whylen);
enum ntm_reject __wrap_ntm_topic_parse(const char *topic, size_t len, struct ntm_topic *out,
                                       char *why, size_t whylen)
{
    if (topic != NULL)
        save("fuzz_topic", NULL, 0, topic, len);
    return __real_ntm_topic_parse(topic, len, out, why, whylen);
}

enum ntm_reject __real_ntm_payload_parse(const struct ntm_topic *topic, const void *payload,
                                         size_t len, int64_t now_ms,
                                         const struct ntm_ingest_opts *opts, struct ntm_record *out,
                                         char *why, size_t whylen);
enum ntm_reject __wrap_ntm_payload_parse(const struct ntm_topic *topic, const void *payload,
                                         size_t len, int64_t now_ms,
                                         const struct ntm_ingest_opts *opts, struct ntm_record *out,
                                         char *why, size_t whylen)
{
    /* fuzz_payload's format: kind, channel, options (0: the default clock), payload */
    uint8_t head[3] = {topic->kind, topic->channel, 0};
    if (payload != NULL && len <= 20000)
        save("fuzz_payload", head, 3, payload, len);
    return __real_ntm_payload_parse(topic, payload, len, now_ms, opts, out, why, whylen);
}
#endif

#ifdef HARVEST_CONFIG
#include "config.h"

struct ntm_config *__real_ntm_config_parse(const char *name, const char *text, size_t len,
                                           char *err, size_t errlen);
struct ntm_config *__wrap_ntm_config_parse(const char *name, const char *text, size_t len,
                                           char *err, size_t errlen)
{
    if (text != NULL && len <= 65536)
        save("fuzz_config", NULL, 0, text, len);
    return __real_ntm_config_parse(name, text, len, err, errlen);
}

struct ntm_config *__real_ntm_config_load(const char *path, char *err, size_t errlen);
struct ntm_config *__wrap_ntm_config_load(const char *path, char *err, size_t errlen)
{
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (f != NULL) {
        static char buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        if (n < sizeof buf)
            save("fuzz_config", NULL, 0, buf, n);
    }
    return __real_ntm_config_load(path, err, errlen);
}
#endif

#ifdef HARVEST_AGG
#include "aggregate.h"

/* fuzz_agg_state's format: a mode byte (0: the header is fixed up, which keeps
 * a valid one as it is; 1: loaded as is), then the blob */
int __real_ntm_agg_load(struct ntm_agg *a, const void *blob, size_t len, int64_t mono_ms);
int __wrap_ntm_agg_load(struct ntm_agg *a, const void *blob, size_t len, int64_t mono_ms)
{
    if (blob != NULL) {
        uint8_t mode = 1;
        save("fuzz_agg_state", &mode, 1, blob, len);
    }
    return __real_ntm_agg_load(a, blob, len, mono_ms);
}

int __real_ntm_agg_save(const struct ntm_agg *a, void **blob, size_t *len);
int __wrap_ntm_agg_save(const struct ntm_agg *a, void **blob, size_t *len)
{
    int rc = __real_ntm_agg_save(a, blob, len);
    if (rc == 0) {
        uint8_t mode = 0;
        save("fuzz_agg_state", &mode, 1, *blob, *len);
    }
    return rc;
}
#endif

#ifdef HARVEST_RETRY_AFTER
#include "retry_after.h"

/* fuzz_retry_after's format: "now" as 8 bytes, little endian, then the value */
int64_t __real_ntm_retry_after_ms(const char *value, int64_t now_ms);
int64_t __wrap_ntm_retry_after_ms(const char *value, int64_t now_ms)
{
    if (value != NULL && strlen(value) <= 120) {
        uint8_t now[8];
        for (int i = 0; i < 8; i++)
            now[i] = (uint8_t)((uint64_t)now_ms >> (8 * i));
        save("fuzz_retry_after", now, 8, value, strlen(value));
    }
    return __real_ntm_retry_after_ms(value, now_ms);
}
#endif
