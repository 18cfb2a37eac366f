/*
 * Fuzz target: sms_segments (segments.c), encoding choice and segment
 * count (input: one byte choosing the requested encoding and the detail
 * buffer's size, then the body).
 *
 * Properties: the result follows the documented order (empty, invalid
 * UTF-8, NUL, not GSM7) and agrees between the encodings (AUTO picks GSM7
 * exactly when forcing GSM7 succeeds; UCS2 counts the same whatever was
 * asked); units are recomputed character by character (UTF-16 units by
 * hand, septets by asking sms_segments about each character alone); the
 * segment count is recomputed by a packer written here from TS 23.040
 * (160/153 septets, 70/67 units, a character never split) and lies within
 * the bounds the limits give; the detail fits its buffer.
 */
#include <string.h>

#include "segments.h"
#include "util.h"
#include "lib/banned.h"

/* Decodes the valid UTF-8 character at s[*i]; moves *i past it. */
static uint32_t next_char(const uint8_t *s, size_t *i)
{
	uint8_t b = s[*i];
	size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
	uint32_t c = n == 1 ? b : (uint32_t)(b & (0x7F >> n));
	for (size_t k = 1; k < n; k++)
		c = c << 6 | (s[*i + k] & 0x3F);
	*i += n;
	return c;
}

/* Segments of a text whose characters cost cost[0..n) units. */
static unsigned pack(const unsigned *cost, size_t n, unsigned single, unsigned multi)
{
	unsigned total = 0, parts = 0, fill = 0;
	for (size_t i = 0; i < n; i++)
		total += cost[i];
	if (total <= single)
		return 1;
	for (size_t i = 0; i < n; i++) {
		if (parts == 0 || fill + cost[i] > multi)
			parts++, fill = 0;
		fill += cost[i];
	}
	return parts;
}

static void check_counts(const uint8_t *body, size_t len, const struct seg_info *gsm7, const struct seg_info *ucs2,
			 bool all_gsm7)
{
	static unsigned septets[4096], units[4096];
	size_t n = 0, i = 0;
	unsigned sum_septets = 0, sum_units = 0;

	while (i < len && n < 4096) {
		size_t start = i;
		uint32_t c = next_char(body, &i);
		struct seg_info one;
		units[n] = c > 0xFFFF ? 2 : 1;
		septets[n] = sms_segments((const char *)body + start, i - start, SMS_ENC_GSM7, &one, NULL, 0) == SEG_OK
				     ? one.units
				     : 0;
		FUZZ_CHECK(septets[n] <= 2, "a character of %u septets", septets[n]);
		sum_septets += septets[n];
		sum_units += units[n];
		n++;
	}
	if (i < len)
		return; /* longer than the table: the other checks only */
	FUZZ_CHECK(ucs2->units == sum_units, "UCS2 units %u, counted %u", ucs2->units, sum_units);
	FUZZ_CHECK(ucs2->segments == pack(units, n, 70, 67), "UCS2: %u segments, the packer says %u", ucs2->segments,
		   pack(units, n, 70, 67));
	if (all_gsm7) {
		FUZZ_CHECK(gsm7->units == sum_septets, "GSM7 septets %u, counted %u", gsm7->units, sum_septets);
		FUZZ_CHECK(gsm7->segments == pack(septets, n, 160, 153), "GSM7: %u segments, the packer says %u",
			   gsm7->segments, pack(septets, n, 160, 153));
	}
}

/* The bounds of a count: 1 when it fits alone; else at least units/multi and at most units/(multi - widest + 1). */
static void check_bounds(const struct seg_info *in, unsigned single, unsigned multi, unsigned widest)
{
	FUZZ_CHECK(in->segments >= 1, "0 segments");
	if (in->units <= single) {
		FUZZ_CHECK(in->segments == 1, "%u units in %u segments", in->units, in->segments);
		return;
	}
	unsigned least = (in->units + multi - 1) / multi, room = multi - widest + 1;
	unsigned most = (in->units + room - 1) / room;
	FUZZ_CHECK(in->segments >= least && in->segments <= most, "%u units in %u segments (%u to %u)", in->units,
		   in->segments, least, most);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	enum sms_encoding_req req = (enum sms_encoding_req)(data[0] % 3);
	size_t detail_len = data[0] / 3 % 64; /* 0 to 63: also tiny buffers */
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	char detail[64];
	struct seg_info info, a, g, u;

	memset(detail, 'x', sizeof(detail));
	enum seg_result r = sms_segments(body, len, req, &info, detail_len ? detail : NULL, detail_len);
	if (detail_len) {
		FUZZ_CHECK(fuzz_terminated(detail, detail_len), "detail overflows %zu bytes", detail_len);
		FUZZ_CHECK(detail_len == sizeof(detail) || detail[detail_len] == 'x', "detail written past %zu",
			   detail_len);
		FUZZ_CHECK((r == SEG_OK) == (detail[0] == '\0') || detail_len == 1, "result %d, detail \"%s\"", r,
			   detail);
	}
	bool valid = fuzz_utf8_ref((const uint8_t *)body, len);
	enum seg_result want = len == 0               ? SEG_EMPTY
			       : !valid               ? SEG_INVALID_UTF8
			       : memchr(body, 0, len) ? SEG_NUL
						      : SEG_OK;
	if (r != SEG_OK || want != SEG_OK) {
		FUZZ_CHECK(r == want || (want == SEG_OK && r == SEG_NOT_GSM7 && req == SMS_ENC_GSM7),
			   "result %d, want %d", r, want);
		FUZZ_CHECK(info.segments == 0 && info.units == 0, "result %d with a count", r);
		return 0;
	}

	/* A clean body: the three encodings side by side. */
	enum seg_result ra = sms_segments(body, len, SMS_ENC_AUTO, &a, NULL, 0);
	enum seg_result rg = sms_segments(body, len, SMS_ENC_GSM7, &g, NULL, 0);
	enum seg_result ru = sms_segments(body, len, SMS_ENC_UCS2, &u, NULL, 0);
	FUZZ_CHECK(ra == SEG_OK && ru == SEG_OK && (rg == SEG_OK || rg == SEG_NOT_GSM7), "results %d %d %d", ra, rg,
		   ru);
	bool all_gsm7 = rg == SEG_OK;
	FUZZ_CHECK(a.encoding == (all_gsm7 ? SMS_GSM7 : SMS_UCS2), "AUTO picked %s, forcing GSM7 gave %d",
		   sms_encoding_name(a.encoding), rg);
	FUZZ_CHECK(u.encoding == SMS_UCS2 && (!all_gsm7 || g.encoding == SMS_GSM7), "forced encodings not kept");
	const struct seg_info *want_info = req == SMS_ENC_UCS2 ? &u : req == SMS_ENC_GSM7 ? &g : &a;
	FUZZ_CHECK(!memcmp(&info, want_info, sizeof(info)), "same body and request, different answers");
	if (!all_gsm7)
		FUZZ_CHECK(!memcmp(&a, &u, sizeof(a)), "AUTO fell back to UCS2 but counted differently");
	else
		FUZZ_CHECK(!memcmp(&a, &g, sizeof(a)), "AUTO chose GSM7 but counted differently");
	check_bounds(&u, 70, 67, 2);
	if (all_gsm7)
		check_bounds(&g, 160, 153, 2);
	check_counts((const uint8_t *)body, len, &g, &u, all_gsm7);
	return 0;
}
