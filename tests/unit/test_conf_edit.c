/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_conf_edit.c: the line edits of `ntmctl device` (ctl_conf_edit.c) on
 * the forms a devices: list takes, each result read back by the daemon's
 * parser; the forms it must refuse leave no output. No files. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "ctl/ctl_conf_edit.h"

#define HEAD                                                                                       \
    "# head\ngateway:\n  id: gw-1\ncommune:\n  code: \"16279\"\n  province_code: \"38\"\n"         \
    "villages:\n  - {id: xom-a}\n"
#define TAIL "mqtt:\n  host: 127.0.0.1\nuplinks: []\n"
#define ITEM "{id: spk-09, kind: speaker, village: xom-a}"

static char *add(const char *text)
{
    char why[256] = "";
    size_t n;
    return ntm_conf_add_device(text, strlen(text), ITEM, &n, why, sizeof why);
}

static char *del(const char *text, const char *id)
{
    char why[256] = "";
    size_t n;
    return ntm_conf_remove_device(text, strlen(text), id, &n, why, sizeof why);
}

/* Parses; returns the number of devices, -1 on errors. */
static int devices(const char *text)
{
    char err[1024];
    struct ntm_config *c = ntm_config_parse("t.yaml", text, strlen(text), err, sizeof err);
    if (!c) {
        fprintf(stderr, "%s\n---\n%s\n", err, text);
        return -1;
    }
    int n = (int)c->n_devices;
    ntm_config_free(c);
    return n;
}

static void check_add(const char *in, const char *want)
{
    char *out = add(in);
    CHECK(out != NULL);
    if (!out)
        return;
    CHECK(strcmp(out, want) == 0);
    if (strcmp(out, want) != 0)
        fprintf(stderr, "got:\n%s\nwant:\n%s\n", out, want);
    CHECK(devices(out) == devices(in) + 1);
    char *back = del(out, "spk-09");
    CHECK(back && strcmp(back, in) == 0); /* remove gives the file back */
    free(back);
    free(out);
}

int main(void)
{
    /* a block list, comments inside and after kept */
    check_add(HEAD "devices:\n  - {id: a1, kind: wifi, village: xom-a}  # one\n  # note\n" TAIL,
              HEAD "devices:\n  - {id: a1, kind: wifi, village: xom-a}  # one\n"
                   "  - " ITEM "\n  # note\n" TAIL);
    /* items at column 0, and a block-form item before */
    check_add(HEAD "devices:\n- id: a1\n  kind: wifi\n  village: xom-a\n" TAIL,
              HEAD "devices:\n- id: a1\n  kind: wifi\n  village: xom-a\n- " ITEM "\n" TAIL);
    /* devices: [] with a comment: the comment stays on the key's line */
    {
        const char *in = HEAD "devices: []   # none yet\n  # - {id: x}\n" TAIL;
        char *out = add(in);
        CHECK(out &&
              strcmp(out, HEAD "devices: # none yet\n  - " ITEM "\n  # - {id: x}\n" TAIL) == 0);
        CHECK(out && devices(out) == 1);
        char *back = out ? del(out, "spk-09") : NULL;
        CHECK(back && devices(back) == 0);
        free(back);
        free(out);
    }
    /* no devices: at all, last line without a newline */
    {
        const char *in = HEAD "mqtt:\n  host: 127.0.0.1\nuplinks: []";
        char *out = add(in);
        CHECK(out && strcmp(out, HEAD "mqtt:\n  host: 127.0.0.1\nuplinks: []\ndevices:\n  - " ITEM
                                      "\n") == 0);
        CHECK(out && devices(out) == 1);
        free(out);
    }
    /* the last one removed: devices: [] again */
    {
        char *out = del(HEAD "devices:\n  - {id: \"a1\", kind: wifi, village: xom-a}\n" TAIL, "a1");
        CHECK(out && strcmp(out, HEAD "devices: []\n" TAIL) == 0);
        CHECK(out && devices(out) == 0);
        free(out);
    }
    /* an id that only starts like another is not it */
    CHECK(del(HEAD "devices:\n  - {id: a10, kind: wifi, village: xom-a}\n" TAIL, "a1") == NULL);
    /* refused: a flow list on the key's line, a block-form item, an id elsewhere */
    CHECK(add(HEAD "devices: [{id: a1, kind: wifi, village: xom-a}]\n" TAIL) == NULL);
    CHECK(del(HEAD "devices:\n  - id: a1\n    kind: wifi\n    village: xom-a\n" TAIL, "a1") ==
          NULL);
    CHECK(del(HEAD "devices:\n  - {id: a2, kind: wifi, village: xom-a}\n"
                   "other:\n  - {id: a1}\n" TAIL,
              "a1") == NULL);
    /* a line that only looks like the list (devices_x:) is not it */
    {
        char *out = add(HEAD "devices_x: 1\n" TAIL);
        CHECK(out && strstr(out, "devices_x: 1\n") && strstr(out, "\ndevices:\n  - " ITEM));
        free(out);
    }
    printf("conf_edit: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
