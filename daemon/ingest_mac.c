/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ingest_mac.c: client MAC addresses in Wi-Fi reports: their text form, and the
 * keyed hash that replaces them on arrival (SipHash-2-4, siphash.c). It never
 * keeps a MAC; the day's key is the caller's. */
#include "ingest.h"
#include "siphash.h"

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20; /* lower case */
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int ntm_mac_parse(const char *s, size_t len, uint8_t mac[6])
{
    if (s == NULL || len != 17)
        return -1;
    const char sep = s[2];
    if (sep != ':' && sep != '-')
        return -1;
    for (int i = 0; i < 6; i++) {
        const char *p = s + 3 * i;
        if (i > 0 && p[-1] != sep)
            return -1;
        int hi = hexval((unsigned char)p[0]), lo = hexval((unsigned char)p[1]);
        if (hi < 0 || lo < 0)
            return -1;
        mac[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

uint64_t ntm_mac_hash(const uint8_t key[16], const uint8_t mac[6])
{
    return ntm_siphash24(key, mac, 6);
}
