/* SPDX-License-Identifier: GPL-3.0-or-later */
/* agg_config.h: the configuration the aggregation tests share (test_aggregate.c,
 * test_agg_state.c and tests/fuzz/fuzz_agg_state.c, whose seed corpus is the
 * states those tests save): two villages, six declared devices, grace 120 s. */
#ifndef NTM_TEST_AGG_CONFIG_H
#define NTM_TEST_AGG_CONFIG_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* village indexes */
#define VA 0 /* thon-a: spk-1, spk-2 (speakers), cam-1 (camera) */
#define VB 1 /* thon-b: ap-1, ap-2 (wifi), cam-2 (camera) */

static const char agg_config_text[] = "gateway:\n"
                                      "  id: gw-test\n"
                                      "commune:\n"
                                      "  code: \"16279\"\n"
                                      "  province_code: \"38\"\n"
                                      "villages:\n"
                                      "  - {id: thon-a, name: \"Thôn A\"}\n"
                                      "  - {id: thon-b, name: \"Thôn B\"}\n"
                                      "devices:\n"
                                      "  - {id: spk-1, kind: speaker, village: thon-a}\n"
                                      "  - {id: spk-2, kind: speaker, village: thon-a}\n"
                                      "  - {id: cam-1, kind: camera, village: thon-a}\n"
                                      "  - {id: ap-1, kind: wifi, village: thon-b}\n"
                                      "  - {id: ap-2, kind: wifi, village: thon-b}\n"
                                      "  - {id: cam-2, kind: camera, village: thon-b}\n"
                                      "sync:\n"
                                      "  grace_s: 120\n";

/* The configuration parsed; exits when it does not parse. */
static inline struct ntm_config *agg_config(void)
{
    char err[1024];
    struct ntm_config *cfg =
        ntm_config_parse("agg.yaml", agg_config_text, sizeof agg_config_text - 1, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "config: %s\n", err);
        exit(1);
    }
    return cfg;
}

#endif
