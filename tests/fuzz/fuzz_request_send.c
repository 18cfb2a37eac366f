/*
 * Fuzz target: request_parse_send, the body of POST /v1/sms/send (input:
 * the raw body). Properties: the result code and detail are well formed; a
 * valid item is normalized (util.c); re-serialized with json-c and parsed
 * again it gives the same item and fingerprint; and the same body as the
 * only message of a bulk request gives the same item, errors included; the
 * preview answer of a valid item (preview_json) is strict JSON that agrees
 * with it.
 */
#include <string.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "request.h"
#include "util.h"
#include "lib/banned.h"

static const struct request_limits LIMITS = { .max_segments = 10, .bulk_max = 1000 };

/* {"messages":[<body>]} parsed as a bulk request: its only item must be the send's item. */
static void check_as_bulk(const uint8_t *data, size_t size, const struct sms_item *send)
{
	struct buf b;
	struct sms_item *items;
	size_t n;
	char detail[160];

	buf_init(&b);
	buf_adds(&b, "{\"messages\":[");
	buf_add(&b, data, size);
	buf_adds(&b, "]}");
	int rc = request_parse_bulk(b.data, b.len, &LIMITS, &items, &n, detail, sizeof(detail));
	buf_release(&b);
	if (rc == -1 && strstr(detail, "nesting too deep"))
		return; /* two levels deeper than the send body: json-c's depth limit */
	FUZZ_CHECK(rc == 0 && n == 1, "the send body as a bulk item: rc %d, %zu items (%s)", rc, n, detail);
	fuzz_check_same_item(send, &items[0], "send body vs the same as a bulk item");
	items_free(items, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sms_item it;
	char detail[160];

	memset(detail, 'x', sizeof(detail));
	int rc = request_parse_send((const char *)data, size, &LIMITS, &it, detail, sizeof(detail));
	FUZZ_CHECK(rc >= -1 && rc <= 1, "rc %d", rc);
	if (rc == -1) {
		FUZZ_CHECK(fuzz_terminated(detail, sizeof(detail)) && detail[0], "rc -1 without a detail");
		FUZZ_CHECK(fuzz_utf8_ref((const uint8_t *)detail, strlen(detail)), "detail is not UTF-8: %s", detail);
		FUZZ_CHECK(it.nerrors == 0 && !it.from && !it.body, "rc -1 with an item");
		return 0;
	}
	FUZZ_CHECK((rc == 0) == (it.nerrors == 0), "rc %d with %d errors", rc, it.nerrors);
	fuzz_check_item(&it, &LIMITS);
	if (rc == 0) {
		fuzz_check_roundtrip(&it, &LIMITS);
		fuzz_check_preview(&it);
	}
	check_as_bulk(data, size, &it);
	item_release(&it);
	return 0;
}
