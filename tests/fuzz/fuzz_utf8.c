/*
 * Fuzz target: utf8_valid (segments.c), strict UTF-8 (input: any bytes).
 * Differential: it must agree with the reference of util.c (Unicode table
 * 3-7, byte ranges instead of decoding) and with sms_segments' own verdict
 * (SEG_INVALID_UTF8 or not) in each of the three encodings, and a valid
 * input must stay valid on both sides when cut at a character boundary.
 */
#include <string.h>

#include "segments.h"
#include "util.h"
#include "lib/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	bool valid = utf8_valid(s, size);

	FUZZ_CHECK(valid == fuzz_utf8_ref(data, size), "utf8_valid says %d, the reference %d", valid, !valid);
	for (int req = SMS_ENC_AUTO; req <= SMS_ENC_UCS2; req++) {
		struct seg_info info;
		enum seg_result r = sms_segments(s, size, (enum sms_encoding_req)req, &info, NULL, 0);
		if (size == 0)
			FUZZ_CHECK(r == SEG_EMPTY, "empty body: %d", r);
		else
			FUZZ_CHECK((r == SEG_INVALID_UTF8) == !valid, "utf8_valid %d but sms_segments (req %d) says %d",
				   valid, req, r);
	}
	/* Cuts at character boundaries: every one in a short input, about 16 spread over a long one. */
	size_t step = size <= 256 ? 1 : size / 16;
	for (size_t i = 1; valid && i < size; i += step) {
		size_t cut = i;
		while (cut < size && (data[cut] & 0xC0) == 0x80)
			cut++;
		FUZZ_CHECK(utf8_valid(s, cut) && utf8_valid(s + cut, size - cut), "valid, but not once cut at %zu",
			   cut);
	}
	return 0;
}
