/*
 * SHA-256 by libcrypto's EVP interface (see sha256.h). The EVP calls fail
 * only when memory runs out or the library is broken, so a failure aborts
 * like xmalloc's out of memory: callers carry no error path for a hash.
 */
#include "lib/sha256.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/banned.h"

static void fatal(const char *what)
{
	fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"sha256: %s failed\"}\n", what);
	abort();
}

void sha256_init(struct sha256 *s)
{
	s->ctx = EVP_MD_CTX_new();
	if (!s->ctx)
		fatal("EVP_MD_CTX_new");
	if (EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) != 1)
		fatal("EVP_DigestInit_ex");
}

void sha256_update(struct sha256 *s, const void *data, size_t n)
{
	if (n && EVP_DigestUpdate(s->ctx, data, n) != 1)
		fatal("EVP_DigestUpdate");
}

void sha256_final(struct sha256 *s, unsigned char out[32])
{
	unsigned int len = 0;

	if (EVP_DigestFinal_ex(s->ctx, out, &len) != 1 || len != SHA256_DIGEST_LEN)
		fatal("EVP_DigestFinal_ex");
	EVP_MD_CTX_free(s->ctx);
	s->ctx = NULL;
}

void sha256_hex(const void *data, size_t n, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[SHA256_DIGEST_LEN];
	unsigned int len = 0;

	if (EVP_Digest(n ? data : "", n, d, &len, EVP_sha256(), NULL) != 1 || len != SHA256_DIGEST_LEN)
		fatal("EVP_Digest");
	for (int i = 0; i < SHA256_DIGEST_LEN; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 0xf];
	}
	out[64] = '\0';
}
