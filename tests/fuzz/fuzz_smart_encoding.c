/*
 * Fuzz target: smart_encode (smart_encoding.c), the replacement of
 * api.md's look-alikes in a body (input: the body's bytes).
 *
 * Properties, on valid UTF-8 (the contract): the output is what a reference
 * written here makes (each character decoded by the Unicode byte ranges,
 * looked up by a linear scan of the table, replaced or copied), the count is
 * the number of characters the reference replaced, the output is valid
 * UTF-8 and no longer than the input, and encoding it again changes nothing.
 * On any bytes: no crash, and the output is no longer than the input. Then
 * the same bytes as the body of a send with smartEncoding: a valid item
 * holds exactly the encoded body and the count.
 */
#include <string.h>

#include "lib/buf.h"
#include "request.h"
#include "smart_encoding.h"
#include "util.h"
#include "lib/banned.h"

static const struct request_limits LIMITS = { .max_segments = 255, .bulk_max = 1000 };

/* The length of the valid character at s[i] (s is strict UTF-8) and its value. */
static size_t decode(const uint8_t *s, size_t i, uint32_t *c)
{
	uint8_t b = s[i];
	size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
	*c = n == 1 ? b : (uint32_t)(b & (0x7F >> n));
	for (size_t k = 1; k < n; k++)
		*c = *c << 6 | (s[i + k] & 0x3F);
	return n;
}

static const char *lookup(uint32_t c)
{
	for (size_t i = 0; i < smart_encoding_table_len; i++)
		if (smart_encoding_table[i].from == c)
			return smart_encoding_table[i].to;
	return NULL;
}

static void check_send(const uint8_t *data, size_t size, const struct buf *want, size_t replaced)
{
	struct buf json;
	struct sms_item it;
	char detail[160];

	buf_init(&json);
	buf_adds(&json, "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"smartEncoding\":true,\"body\":");
	buf_add_json_str(&json, (const char *)data, size);
	buf_addc(&json, '}');
	int rc = request_parse_send(json.data, json.len, &LIMITS, &it, detail, sizeof(detail));
	FUZZ_CHECK(rc == 0 || rc == 1, "a send with this body: rc %d (%s)", rc, detail);
	if (rc == 0) {
		FUZZ_CHECK(it.smart && it.replaced == replaced, "the item counts %u replaced, smart_encode %zu",
			   it.replaced, replaced);
		FUZZ_CHECK(it.body_len == want->len && !memcmp(it.body, want->data, want->len),
			   "the item's body is not the encoded body");
		fuzz_check_item(&it, &LIMITS);
		fuzz_check_preview(&it);
	}
	item_release(&it);
	buf_release(&json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out, ref, again;
	const char *s = (const char *)data;

	buf_init(&out);
	size_t replaced = smart_encode(s, size, &out);
	FUZZ_CHECK(out.len <= size, "%zu bytes became %zu", size, out.len);
	if (!fuzz_utf8_ref(data, size)) {
		buf_release(&out);
		return 0;
	}
	buf_init(&ref);
	size_t want = 0;
	for (size_t i = 0; i < size;) {
		uint32_t c;
		size_t n = decode(data, i, &c);
		const char *to = lookup(c);
		if (to) {
			buf_adds(&ref, to);
			want++;
		} else {
			buf_add(&ref, s + i, n);
		}
		i += n;
	}
	FUZZ_CHECK(replaced == want, "%zu replaced, the reference replaces %zu", replaced, want);
	FUZZ_CHECK(out.len == ref.len && !memcmp(out.data, ref.data, ref.len), "the output is not the reference's");
	FUZZ_CHECK(fuzz_utf8_ref((const uint8_t *)out.data, out.len), "the output is not valid UTF-8");
	buf_init(&again);
	FUZZ_CHECK(smart_encode(out.data, out.len, &again) == 0 && again.len == out.len &&
			   !memcmp(again.data, out.data, out.len),
		   "encoding the output again changes it");
	check_send(data, size, &out, replaced);
	buf_release(&again);
	buf_release(&ref);
	buf_release(&out);
	return 0;
}
