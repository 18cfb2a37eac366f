/*
 * SHA-256 (FIPS 180-4) through OpenSSL's libcrypto (EVP). Used to hash
 * secrets and payloads (the idempotency fingerprints); libcrypto is
 * linked anyway, by gRPC.
 *
 * Streaming use: sha256_init, any number of sha256_update, sha256_final.
 * sha256_init allocates a digest context that only sha256_final frees, so
 * every sha256_init must be followed by sha256_final. A finalized struct
 * must be initialized again before reuse. Out of memory (or a libcrypto
 * that has no SHA-256) aborts the process, as xmalloc does.
 */
#ifndef ORCH_LIB_SHA256_H
#define ORCH_LIB_SHA256_H

#include <stddef.h>

#define SHA256_DIGEST_LEN 32
#define SHA256_HEX_LEN 65 /* 64 hex digits + NUL */

struct evp_md_ctx_st; /* OpenSSL's EVP_MD_CTX */

struct sha256 {
	struct evp_md_ctx_st *ctx; /* owned: made by sha256_init, freed by sha256_final */
};

void sha256_init(struct sha256 *s);
/* data is borrowed; n may be 0 (data may then be NULL). */
void sha256_update(struct sha256 *s, const void *data, size_t n);
/* Writes the 32-byte digest, frees the context and leaves s->ctx NULL. */
void sha256_final(struct sha256 *s, unsigned char out[32]);
/* Convenience: lowercase hex of SHA-256(data) into out (65 bytes incl. NUL). */
void sha256_hex(const void *data, size_t n, char out[65]);

#endif
