/*
 * Fuzz target: idempotency_key_valid (request.c), the Idempotency-Key
 * header (input: the header value). Differential: the rule written here
 * (1-255 bytes of 0x21-0x7E); the value as a C string, which is what
 * api_sms.c passes (strlen), gives the same answer when it holds no NUL;
 * and within 79 bytes the X-Request-ID check (same characters) must agree.
 */
#include <string.h>

#include "http.h"
#include "request.h"
#include "util.h"
#include "lib/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *key = (const char *)data;
	bool want = size >= 1 && size <= IDEMPOTENCY_KEY_MAX;
	for (size_t i = 0; want && i < size; i++)
		want = data[i] >= 0x21 && data[i] <= 0x7E;
	bool got = idempotency_key_valid(key, size);
	FUZZ_CHECK(got == want, "idempotency_key_valid says %d for %zu bytes", got, size);

	char *c = fuzz_cstr(data, size);
	if (strlen(c) == size)
		FUZZ_CHECK(idempotency_key_valid(c, strlen(c)) == got, "the C string answers differently");
	free(c);
	if (size <= HTTP_REQUEST_ID_MAX)
		FUZZ_CHECK(http_request_id_valid(key, size) == got, "the two header checks disagree on %zu bytes",
			   size);
	return 0;
}
