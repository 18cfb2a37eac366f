/*
 * Unit tests for segments.c. The segment corpus (segment_corpus.h) gives,
 * for each body, the result, encoding, units and segments it must produce;
 * each row runs as its own test so a failure names the case, and also has
 * its room (units per segment, what is left in the last one) checked
 * against the packing rules.
 * Further tests check strict UTF-8, that the GSM 03.38 alphabet is exact,
 * and the detail text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "utf8_encode.h"

#include "segments.h"
#include "segment_corpus.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The room of a counted body: one segment holds 160 septets or 70 units and
 * what is left is the rest; more segments hold 153 or 67 a part, the last
 * part has at least one unit, and the room left empty at the end of earlier
 * parts (a pair that did not fit moved on) is at most one unit per part.
 */
static void check_room(const struct seg_info *info)
{
	bool gsm7 = info->encoding == SMS_GSM7;

	if (info->segments == 1) {
		assert_int_equal(info->per_segment, gsm7 ? 160 : 70);
		assert_int_equal(info->remaining, info->per_segment - info->units);
		return;
	}
	assert_int_equal(info->per_segment, gsm7 ? 153 : 67);
	assert_true(info->remaining < info->per_segment);
	unsigned long capacity = (unsigned long)info->segments * info->per_segment;
	assert_true(capacity >= (unsigned long)info->units + info->remaining);
	assert_true(capacity - info->units - info->remaining <= info->segments - 1);
}

static void run_case(void **state)
{
	const struct seg_case *tc = *state;
	static char body[8192];
	char detail[128];
	struct seg_info info;
	size_t len = corpus_body(tc, body, sizeof(body));

	assert_true(len != SIZE_MAX);

	enum seg_result r = sms_segments(body, len, tc->req, &info, detail, sizeof(detail));
	assert_int_equal(r, tc->result);
	if (r != SEG_OK) {
		assert_true(detail[0] != '\0');
		assert_int_equal(info.segments, 0);
		return;
	}
	assert_string_equal(detail, "");
	assert_string_equal(sms_encoding_name(info.encoding), sms_encoding_name(tc->encoding));
	assert_int_equal(info.units, tc->units);
	assert_int_equal(info.segments, tc->segments);
	check_room(&info);
}

struct utf8_case {
	const char *bytes;
	size_t len;
	bool valid;
};

#define U(s, v) { (s), sizeof(s) - 1, (v) }

static void test_utf8_valid(void **state)
{
	static const struct utf8_case cases[] = {
		U("", true),
		U("plain ascii", true),
		U("\0", true), /* NUL is valid UTF-8; sms_segments refuses it */
		U("\xC2\x80", true),             /* U+0080, smallest 2-byte */
		U("\xDF\xBF", true),             /* U+07FF */
		U("\xE0\xA0\x80", true),         /* U+0800, smallest 3-byte */
		U("\xED\x9F\xBF", true),         /* U+D7FF, just below surrogates */
		U("\xEE\x80\x80", true),         /* U+E000, just above */
		U("\xEF\xBF\xBF", true),         /* U+FFFF */
		U("\xF0\x90\x80\x80", true),     /* U+10000, smallest 4-byte */
		U("\xF4\x8F\xBF\xBF", true),     /* U+10FFFF, the largest */
		U("\xC0\x80", false),            /* overlong NUL */
		U("\xC1\xBF", false),            /* overlong U+007F */
		U("\xE0\x9F\xBF", false),        /* overlong U+07FF */
		U("\xF0\x8F\xBF\xBF", false),    /* overlong U+FFFF */
		U("\xED\xA0\x80", false),        /* U+D800 */
		U("\xED\xBF\xBF", false),        /* U+DFFF */
		U("\xED\xA0\xBD\xED\xB8\x80", false), /* CESU-8 style surrogate pair */
		U("\xF4\x90\x80\x80", false),    /* U+110000 */
		U("\xF5\x80\x80\x80", false),
		U("\xF8\x88\x80\x80\x80", false), /* 5-byte form */
		U("\xE2\x82", false),            /* truncated at the end */
		U("\xE2\x82" "a", false),        /* truncated before ASCII */
		U("\xF0\x9F\x98", false),        /* emoji cut short */
		U("\x80", false),                /* lone continuation */
		U("\xFE", false),
		U("\xFF", false),
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (utf8_valid(cases[i].bytes, cases[i].len) != cases[i].valid)
			fail_msg("utf8_valid case %zu: expected %s", i,
				 cases[i].valid ? "valid" : "invalid");
	}
	assert_true(utf8_valid(NULL, 0));
}


/* Septets a one-character body costs when GSM7 is forced; 0 when refused. */
static unsigned septets_of(const char *utf8, size_t len)
{
	struct seg_info info;

	if (sms_segments(utf8, len, SMS_ENC_GSM7, &info, NULL, 0) != SEG_OK)
		return 0;
	return info.units;
}

/* Each character of a UTF-8 string costs `expected` septets on its own. */
static void check_each_costs(const char *s, unsigned expected)
{
	size_t pos = 0, len = strlen(s);

	while (pos < len) {
		/* the length of one character, from its lead byte */
		size_t n = 1;
		while (pos + n < len && ((unsigned char)s[pos + n] & 0xC0) == 0x80)
			n++;
		if (septets_of(s + pos, n) != expected)
			fail_msg("character at byte %zu of the table costs %u septets, expected %u",
				 pos, septets_of(s + pos, n), expected);
		pos += n;
	}
}

/*
 * Every Unicode scalar value, one at a time: exactly the 127 characters of
 * the default alphabet cost one septet and the 10 of the extension table
 * two. With check_each_costs this proves the table is neither short nor
 * long by a single character.
 */
static void test_gsm7_alphabet_exact(void **state)
{
	unsigned basic = 0, extension = 0;
	char buf[4];

	(void)state;
	check_each_costs(GSM7_ALPHABET, 1);
	check_each_costs(GSM7_EXTENSION, 2);
	for (uint32_t c = 0; c <= 0x10FFFF; c++) {
		if (c >= 0xD800 && c <= 0xDFFF)
			continue;
		unsigned septets = septets_of(buf, utf8_encode(c, buf));
		basic += septets == 1;
		extension += septets == 2;
	}
	assert_int_equal(basic, 127);
	assert_int_equal(extension, 10);
}

static void test_not_gsm7_detail(void **state)
{
	struct seg_info info;
	char detail[128];

	(void)state;
	/* indexes count characters, not bytes: é and € are multi-byte */
	const char *body = "é€`ç";
	assert_int_equal(sms_segments(body, strlen(body), SMS_ENC_GSM7, &info, detail,
				      sizeof(detail)),
			 SEG_NOT_GSM7);
	assert_string_equal(detail, "character U+0060 at index 2 is not in the GSM 03.38 alphabet");

	body = "ok " EMOJI;
	assert_int_equal(sms_segments(body, strlen(body), SMS_ENC_GSM7, &info, detail,
				      sizeof(detail)),
			 SEG_NOT_GSM7);
	assert_string_equal(detail, "character U+1F600 at index 3 is not in the GSM 03.38 alphabet");
}

static void test_error_details(void **state)
{
	struct seg_info info;
	char detail[128];

	(void)state;
	assert_int_equal(sms_segments("ab\xE2\x82", 4, SMS_ENC_AUTO, &info, detail, sizeof(detail)),
			 SEG_INVALID_UTF8);
	assert_string_equal(detail, "invalid UTF-8 at byte 2");
	assert_int_equal(sms_segments("\xC3\xA9x\0", 4, SMS_ENC_AUTO, &info, detail, sizeof(detail)),
			 SEG_NUL);
	assert_string_equal(detail, "NUL character (U+0000) at index 2");
	assert_int_equal(sms_segments("", 0, SMS_ENC_AUTO, &info, detail, sizeof(detail)),
			 SEG_EMPTY);
	assert_string_equal(detail, "body is empty");
	assert_int_equal(sms_segments(NULL, 0, SMS_ENC_AUTO, &info, NULL, 0), SEG_EMPTY);
}

/* A short detail buffer is truncated and still NUL-terminated. */
static void test_detail_truncated(void **state)
{
	struct seg_info info;
	char detail[8];

	(void)state;
	memset(detail, 'x', sizeof(detail));
	assert_int_equal(sms_segments("`", 1, SMS_ENC_GSM7, &info, detail, sizeof(detail)),
			 SEG_NOT_GSM7);
	assert_int_equal(strlen(detail), sizeof(detail) - 1);

	memset(detail, 'x', sizeof(detail));
	assert_int_equal(sms_segments("`", 1, SMS_ENC_GSM7, &info, detail, 1), SEG_NOT_GSM7);
	assert_int_equal(detail[0], '\0');
	assert_int_equal(detail[1], 'x');
}

/* What is still free in the last segment, worked out by hand from the packing rules. */
static void test_room(void **state)
{
	static const struct {
		const char *name;
		struct piece body[3];
		enum sms_encoding_req req;
		unsigned segments, per_segment, remaining;
	} cases[] = {
		{ "13 septets", { P("Hello, world!", 1) }, SMS_ENC_AUTO, 1, 160, 147 },
		{ "160 septets", { P("a", 160) }, SMS_ENC_AUTO, 1, 160, 0 },
		{ "161 septets: 8 in part 2", { P("a", 161) }, SMS_ENC_AUTO, 2, 153, 145 },
		{ "158 + brace: 160 septets", { P("a", 158), P("{", 1) }, SMS_ENC_AUTO, 1, 160, 0 },
		/* 152 | euro 151 | 1: part 1 keeps a septet empty */
		{ "152 + euro + 152", { P("a", 152), P(EURO, 1), P("a", 152) }, SMS_ENC_AUTO, 3, 153, 152 },
		{ "306 septets: 2 full parts", { P("a", 306) }, SMS_ENC_AUTO, 2, 153, 0 },
		{ "70 units", { P(ZHE, 70) }, SMS_ENC_AUTO, 1, 70, 0 },
		{ "71 units: 4 in part 2", { P(ZHE, 71) }, SMS_ENC_AUTO, 2, 67, 63 },
		/* 66 | emoji 65 | 1 */
		{ "66 + emoji + 66", { P(ZHE, 66), P(EMOJI, 1), P(ZHE, 66) }, SMS_ENC_AUTO, 3, 67, 66 },
		{ "forced ucs2, 160 ascii: 67 67 26", { P("a", 160) }, SMS_ENC_UCS2, 3, 67, 41 },
	};
	char body[4096];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct seg_case tc = { .name = cases[i].name };
		struct seg_info info;
		memcpy(tc.body, cases[i].body, sizeof(tc.body));
		size_t len = corpus_body(&tc, body, sizeof(body));
		assert_true(len != SIZE_MAX);
		assert_int_equal(sms_segments(body, len, cases[i].req, &info, NULL, 0), SEG_OK);
		if (info.segments != cases[i].segments || info.per_segment != cases[i].per_segment ||
		    info.remaining != cases[i].remaining)
			fail_msg("%s: %u segments of %u, %u left; want %u of %u, %u left", cases[i].name, info.segments,
				 info.per_segment, info.remaining, cases[i].segments, cases[i].per_segment,
				 cases[i].remaining);
		check_room(&info);
	}
}

static void test_encoding_name(void **state)
{
	(void)state;
	assert_string_equal(sms_encoding_name(SMS_GSM7), "GSM7");
	assert_string_equal(sms_encoding_name(SMS_UCS2), "UCS2");
}

int main(void)
{
	static const struct CMUnitTest others[] = {
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_gsm7_alphabet_exact),
		cmocka_unit_test(test_not_gsm7_detail),
		cmocka_unit_test(test_error_details),
		cmocka_unit_test(test_detail_truncated),
		cmocka_unit_test(test_room),
		cmocka_unit_test(test_encoding_name),
	};
	struct CMUnitTest tests[SEGMENT_CORPUS_LEN + ARRAY_SIZE(others)];

	/* one named test per table row, then the others */
	for (size_t i = 0; i < SEGMENT_CORPUS_LEN; i++) {
		tests[i] = (struct CMUnitTest){
			.name = SEGMENT_CORPUS[i].name,
			.test_func = run_case,
			.initial_state = (void *)&SEGMENT_CORPUS[i],
		};
	}
	for (size_t i = 0; i < ARRAY_SIZE(others); i++)
		tests[SEGMENT_CORPUS_LEN + i] = others[i];
	return cmocka_run_group_tests_name("segments", tests, NULL, NULL);
}
