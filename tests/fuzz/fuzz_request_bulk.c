/*
 * Fuzz target: request_parse_bulk, the body of POST /v1/sms/bulk (input:
 * the raw body). Properties: the result code, detail and item count are
 * well formed (1 to bulk_max items on 0, none otherwise); every item keeps
 * the item properties of util.c, and every valid one survives
 * re-serialization as a send body unchanged.
 */
#include <string.h>

#include "request.h"
#include "util.h"
#include "lib/banned.h"

/* A low bulk_max, so that the over-the-limit answer is reached too. */
static const struct request_limits LIMITS = { .max_segments = 10, .bulk_max = 20 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sms_item *items = (struct sms_item *)&items; /* must be replaced */
	size_t n = 12345;
	char detail[160];

	memset(detail, 'x', sizeof(detail));
	int rc = request_parse_bulk((const char *)data, size, &LIMITS, &items, &n, detail, sizeof(detail));
	FUZZ_CHECK(rc >= -1 && rc <= 1, "rc %d", rc);
	if (rc != 0) {
		FUZZ_CHECK(!items && n == 0, "rc %d with items", rc);
		FUZZ_CHECK(fuzz_terminated(detail, sizeof(detail)) && detail[0], "rc %d without a detail", rc);
		FUZZ_CHECK(fuzz_utf8_ref((const uint8_t *)detail, strlen(detail)), "detail is not UTF-8: %s", detail);
		return 0;
	}
	FUZZ_CHECK(items && n >= 1 && (int64_t)n <= LIMITS.bulk_max, "rc 0 with %zu items", n);
	for (size_t i = 0; i < n; i++) {
		fuzz_check_item(&items[i], &LIMITS);
		if (items[i].nerrors == 0)
			fuzz_check_roundtrip(&items[i], &LIMITS);
	}
	items_free(items, n);
	return 0;
}
