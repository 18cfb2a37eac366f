/*
 * SHA-256 (FIPS 180-4), written from the specification. Used to hash
 * secrets and payloads; no external crypto library is linked for it.
 *
 * Streaming use: sha256_init, any number of sha256_update, sha256_final.
 * A finalized struct must be initialized again before reuse.
 */
#ifndef ORCH_LIB_SHA256_H
#define ORCH_LIB_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN 65 /* 64 hex digits + NUL */

struct sha256 {
	uint32_t h[8];             /* chaining state */
	uint64_t len;              /* message length so far, in bytes */
	unsigned char block[64];   /* partial block not yet compressed */
	size_t fill;               /* bytes used in block */
};

void sha256_init(struct sha256 *s);
/* data is borrowed; n may be 0 (data may then be NULL). */
void sha256_update(struct sha256 *s, const void *data, size_t n);
/* Writes the 32-byte digest and wipes s. */
void sha256_final(struct sha256 *s, unsigned char out[32]);
/* Convenience: lowercase hex of SHA-256(data) into out (65 bytes incl. NUL). */
void sha256_hex(const void *data, size_t n, char out[65]);

#endif
