/* SPDX-License-Identifier: GPL-3.0-or-later */
/* test_ingest_fields.c: unit tests of the payload field lookup
 * (daemon/ingest_payload.c): ntm_ingest_field_index, a switch on the first byte,
 * must answer as a plain search of the field names does, for every name, every
 * prefix and extension of one, and every one-byte change of one. */
#include <stdio.h>
#include <string.h>

#include "ingest_impl.h"

#include "check.h"

static int plain_search(const char *k)
{
    for (int f = 0; f < NTM_FIELD_COUNT; f++)
        if (strcmp(k, ntm_ingest_field_names[f]) == 0)
            return f;
    return -1;
}

static int differ;

static void same_answer(const char *k)
{
    int got = ntm_ingest_field_index(k), want = plain_search(k);
    if (got != want && differ++ < 5)
        fprintf(stderr, "field_index(\"%s\") = %d, the names say %d\n", k, got, want);
}

int main(void)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz_ABCSTZ0189\x7f\xc3";
    for (int f = 0; f < NTM_FIELD_COUNT; f++) {
        const char *name = ntm_ingest_field_names[f];
        CHECK(name != NULL);
        CHECK_INT(ntm_ingest_field_index(name), f);
        char k[64];
        size_t n = strlen(name);
        for (size_t i = 0; i <= n; i++) { /* prefixes, "" included */
            memcpy(k, name, i);
            k[i] = '\0';
            same_answer(k);
        }
        for (size_t a = 0; a < sizeof alphabet - 1; a++) {
            snprintf(k, sizeof k, "%s%c", name, alphabet[a]); /* extended */
            same_answer(k);
            for (size_t i = 0; i < n; i++) { /* one byte changed */
                memcpy(k, name, n + 1);
                k[i] = alphabet[a];
                same_answer(k);
            }
        }
    }
    CHECK_INT(differ, 0);
    CHECK_INT(ntm_ingest_field_index(NULL), -1);
    printf("ingest_fields: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
