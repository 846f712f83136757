/* SPDX-License-Identifier: GPL-3.0-or-later */
/* camera_fixture.h: loads a camera stream fixture of tests/fixtures/cameras:
 * comment lines "# ..." and "#content-type: VALUE" (the HTTP response's
 * Content-Type), then "#---", then the stream's bytes exactly. */
#ifndef NTM_TEST_CAMERA_FIXTURE_H
#define NTM_TEST_CAMERA_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    char content_type[128];
    char *data;
    size_t len;
};

static inline int fixture_load(struct fixture *fx, const char *name)
{
    const char *root = getenv("NTM_SOURCE_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/cameras/%s", root ? root : "../..", name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open fixture %s\n", path);
        return -1;
    }
    static char all[1 << 20];
    size_t n = fread(all, 1, sizeof all, f);
    fclose(f);
    memset(fx, 0, sizeof *fx);
    const char *p = all, *e = all + n;
    while (p < e && *p == '#') {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        if (nl == NULL)
            return -1;
        if (strncmp(p, "#content-type: ", 15) == 0)
            snprintf(fx->content_type, sizeof fx->content_type, "%.*s", (int)(nl - p - 15), p + 15);
        bool last = strncmp(p, "#---", 4) == 0;
        p = nl + 1;
        if (last)
            break;
    }
    fx->len = (size_t)(e - p);
    fx->data = malloc(fx->len ? fx->len : 1);
    if (fx->data == NULL)
        return -1;
    memcpy(fx->data, p, fx->len);
    return 0;
}

#endif
