/* siphash.h: SipHash-2-4 (Aumasson & Bernstein, 2012), 64-bit output.
 * Used for keyed hashes of client MAC addresses (ntm_mac_hash). */
#ifndef NTM_SIPHASH_H
#define NTM_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of `len` bytes at `data` under the 16-byte `key`. The key and
 * the message are read as little-endian 64-bit words, as in the paper. */
uint64_t ntm_siphash24(const uint8_t key[16], const void *data, size_t len);

#endif
