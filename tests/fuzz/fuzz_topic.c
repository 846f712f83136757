/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fuzz_topic.c: libFuzzer target for ntm_topic_parse (daemon/ingest_topic.c).
 * The input is the topic, given without a NUL terminator in a block of exactly
 * its size. Checked: no memory error, `why` always terminated, empty on
 * acceptance and non-empty on rejection, and an accepted topic's fields are
 * what the contract allows (ids of the right syntax, known kind and channel). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "fuzz_common.h"
#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *topic = fuzz_dup(data, size);
    struct ntm_topic t;
    char why[256];
    memset(why, 'X', sizeof why);
    enum ntm_reject r = ntm_topic_parse(topic, size, &t, why, sizeof why);
    FUZZ_ASSERT(fuzz_terminated(why, sizeof why));
    FUZZ_ASSERT(r == NTM_ACCEPT || r == NTM_REJ_TOPIC || r == NTM_REJ_CHANNEL);
    FUZZ_ASSERT(ntm_reject_name(r) != NULL);
    if (r == NTM_ACCEPT) {
        FUZZ_ASSERT(why[0] == '\0');
        size_t vl = strnlen(t.village, sizeof t.village), dl = strnlen(t.device, sizeof t.device);
        FUZZ_ASSERT(vl < sizeof t.village && dl < sizeof t.device);
        FUZZ_ASSERT(ntm_valid_village_id(t.village, vl));
        FUZZ_ASSERT(ntm_valid_device_id(t.device, dl));
        FUZZ_ASSERT(t.kind < NTM_KIND_COUNT && t.channel < NTM_CH_COUNT);
        /* the topic is ntm/v1/<village>/<kind>/<device>/<channel>, nothing else */
        char back[256];
        int n = snprintf(back, sizeof back, "ntm/v1/%s/%s/%s/%s", t.village, ntm_kind_name(t.kind),
                         t.device, ntm_channel_name(t.channel));
        FUZZ_ASSERT(n > 0 && (size_t)n == size && memcmp(back, topic, size) == 0);
    } else {
        FUZZ_ASSERT(why[0] != '\0');
    }
    /* a NULL or zero-sized `why` is allowed */
    (void)ntm_topic_parse(topic, size, &t, NULL, 0);
    free(topic);
    return 0;
}
