/*
 * Fuzz target: http_request_id_valid (http.c), the client's X-Request-ID
 * or Kong-Request-ID (input: the header value). Differential: the rule
 * written here (1-79 bytes of 0x21-0x7E), and the Idempotency-Key check
 * that allows the same characters must agree within 79 bytes. A kept id
 * must fit the request's buffer with its NUL.
 */
#include "http.h"
#include "request.h"
#include "util.h"
#include "lib/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *id = (const char *)data;
	bool want = size >= 1 && size <= 79;
	for (size_t i = 0; want && i < size; i++)
		want = data[i] >= 0x21 && data[i] <= 0x7E;
	bool got = http_request_id_valid(id, size);
	FUZZ_CHECK(got == want, "http_request_id_valid says %d for %zu bytes", got, size);
	FUZZ_CHECK(!got || size + 1 <= HTTP_REQUEST_ID_MAX + 1, "a kept id of %zu bytes does not fit", size);
	if (size <= HTTP_REQUEST_ID_MAX)
		FUZZ_CHECK(idempotency_key_valid(id, size) == got, "the two header checks disagree on %zu bytes", size);
	return 0;
}
