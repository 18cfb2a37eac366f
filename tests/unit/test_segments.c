/*
 * Unit tests for segments.c. The main table gives, for each body, the
 * result, encoding, units and segments it must produce; each row runs as its
 * own test so a failure names the case. Long bodies are written as pieces
 * repeated N times ("152 x 'a', then '€'") rather than as literals.
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

#include "segments.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Sample characters, as UTF-8. */
#define EURO "\xE2\x82\xAC"          /* U+20AC, GSM extension table */
#define ZHE "\xD0\xB6"               /* U+0436 Cyrillic, UCS-2 only */
#define EMOJI "\xF0\x9F\x98\x80"     /* U+1F600, a surrogate pair in UTF-16 */

/* The GSM 03.38 default alphabet (127 characters, without the escape). */
static const char GSM7_ALPHABET[] =
	"@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/* The extension table (10 characters, two septets each). */
static const char GSM7_EXTENSION[] = "\f^{}\\[~]|€";

/* `bytes` (len bytes, may hold NUL) repeated `times` times. */
struct piece {
	const char *bytes;
	size_t len;
	unsigned times;
};

#define P(s, n) { (s), sizeof(s) - 1, (n) }
#define ONE(s) { P(s, 1) }

struct seg_case {
	const char *name;
	struct piece body[3]; /* concatenated; unused pieces stay zero */
	enum sms_encoding_req req;
	enum seg_result result;
	enum sms_encoding encoding; /* this and below checked on SEG_OK only */
	unsigned units;
	unsigned segments;
};

#define AUTO SMS_ENC_AUTO
#define GSM7 SMS_ENC_GSM7
#define UCS2 SMS_ENC_UCS2

static const struct seg_case CASES[] = {
	/* GSM-7: 160 septets alone, 153 per part. */
	{ "gsm7 short text", ONE("Hello, world!"), AUTO, SEG_OK, SMS_GSM7, 13, 1 },
	{ "gsm7 160 septets, 1 segment", { P("a", 160) }, AUTO, SEG_OK, SMS_GSM7, 160, 1 },
	{ "gsm7 161 septets, 2 segments", { P("a", 161) }, AUTO, SEG_OK, SMS_GSM7, 161, 2 },
	{ "gsm7 306 septets, 2 segments", { P("a", 306) }, AUTO, SEG_OK, SMS_GSM7, 306, 2 },
	{ "gsm7 307 septets, 3 segments", { P("a", 307) }, AUTO, SEG_OK, SMS_GSM7, 307, 3 },
	{ "gsm7 1530 septets, 10 segments", { P("a", 1530) }, AUTO, SEG_OK, SMS_GSM7, 1530, 10 },
	{ "gsm7 1531 septets, 11 segments", { P("a", 1531) }, AUTO, SEG_OK, SMS_GSM7, 1531, 11 },
	/* Escape pairs. */
	{ "gsm7 form feed is 2 septets", ONE("\f"), AUTO, SEG_OK, SMS_GSM7, 2, 1 },
	{ "gsm7 every extension char", ONE("\f^{}\\[~]|" EURO), AUTO, SEG_OK, SMS_GSM7, 20, 1 },
	{ "gsm7 152 + euro fits one message", { P("a", 152), P(EURO, 1) },
	  AUTO, SEG_OK, SMS_GSM7, 154, 1 },
	{ "gsm7 152 + euro + 151, pair fits part 2", { P("a", 152), P(EURO, 1), P("a", 151) },
	  AUTO, SEG_OK, SMS_GSM7, 305, 2 },
	{ "gsm7 152 + euro + 152, pair not split", { P("a", 152), P(EURO, 1), P("a", 152) },
	  AUTO, SEG_OK, SMS_GSM7, 306, 3 },
	{ "gsm7 151 + euro + 153, pair ends part 1", { P("a", 151), P(EURO, 1), P("a", 153) },
	  AUTO, SEG_OK, SMS_GSM7, 306, 2 },
	{ "gsm7 158 + brace, 160 septets", { P("a", 158), P("{", 1) },
	  AUTO, SEG_OK, SMS_GSM7, 160, 1 },
	{ "gsm7 159 + brace, 161 septets", { P("a", 159), P("{", 1) },
	  AUTO, SEG_OK, SMS_GSM7, 161, 2 },
	{ "gsm7 80 braces, 160 septets", { P("{", 80) }, AUTO, SEG_OK, SMS_GSM7, 160, 1 },
	{ "gsm7 81 braces, 162 septets", { P("{", 81) }, AUTO, SEG_OK, SMS_GSM7, 162, 2 },
	{ "gsm7 152 brackets, 76 pairs a part", { P("[", 152) }, AUTO, SEG_OK, SMS_GSM7, 304, 2 },
	{ "gsm7 153 brackets, 306 septets, 3 parts", { P("[", 153) },
	  AUTO, SEG_OK, SMS_GSM7, 306, 3 },
	{ "gsm7 765 tildes, 1530 septets, 11 parts", { P("~", 765) },
	  AUTO, SEG_OK, SMS_GSM7, 1530, 11 },
	/* The alphabet's non-ASCII characters cost one septet each. */
	{ "gsm7 whole default alphabet", ONE(GSM7_ALPHABET), GSM7, SEG_OK, SMS_GSM7, 127, 1 },
	{ "gsm7 greek capitals", ONE("ΔΦΓΛΩΠΨΣΘΞ"), AUTO, SEG_OK, SMS_GSM7, 10, 1 },
	/* What is not in GSM 03.38 makes AUTO pick UCS-2. */
	{ "auto backtick is ucs2", ONE("`"), AUTO, SEG_OK, SMS_UCS2, 1, 1 },
	{ "auto lowercase c-cedilla is ucs2", ONE("ç"), AUTO, SEG_OK, SMS_UCS2, 1, 1 },
	{ "auto tab is ucs2", ONE("a\tb"), AUTO, SEG_OK, SMS_UCS2, 3, 1 },
	{ "auto escape control is ucs2", ONE("\x1B"), AUTO, SEG_OK, SMS_UCS2, 1, 1 },
	{ "auto U+FFFF is ucs2", ONE("\xEF\xBF\xBF"), AUTO, SEG_OK, SMS_UCS2, 1, 1 },
	{ "auto 159 ascii + one cyrillic", { P("a", 159), P(ZHE, 1) },
	  AUTO, SEG_OK, SMS_UCS2, 160, 3 },
	/* UCS-2: 70 units alone, 67 per part. */
	{ "ucs2 70 units, 1 segment", { P(ZHE, 70) }, AUTO, SEG_OK, SMS_UCS2, 70, 1 },
	{ "ucs2 71 units, 2 segments", { P(ZHE, 71) }, AUTO, SEG_OK, SMS_UCS2, 71, 2 },
	{ "ucs2 134 units, 2 segments", { P(ZHE, 134) }, AUTO, SEG_OK, SMS_UCS2, 134, 2 },
	{ "ucs2 135 units, 3 segments", { P(ZHE, 135) }, AUTO, SEG_OK, SMS_UCS2, 135, 3 },
	{ "ucs2 670 units, 10 segments", { P(ZHE, 670) }, AUTO, SEG_OK, SMS_UCS2, 670, 10 },
	{ "ucs2 671 units, 11 segments", { P(ZHE, 671) }, AUTO, SEG_OK, SMS_UCS2, 671, 11 },
	/* Surrogate pairs. */
	{ "ucs2 emoji is 2 units", ONE(EMOJI), AUTO, SEG_OK, SMS_UCS2, 2, 1 },
	{ "ucs2 U+10FFFF is 2 units", ONE("\xF4\x8F\xBF\xBF"), AUTO, SEG_OK, SMS_UCS2, 2, 1 },
	{ "ucs2 66 + emoji fits one message", { P(ZHE, 66), P(EMOJI, 1) },
	  AUTO, SEG_OK, SMS_UCS2, 68, 1 },
	{ "ucs2 66 + emoji + 65, pair fits part 2", { P(ZHE, 66), P(EMOJI, 1), P(ZHE, 65) },
	  AUTO, SEG_OK, SMS_UCS2, 133, 2 },
	{ "ucs2 66 + emoji + 66, pair not split", { P(ZHE, 66), P(EMOJI, 1), P(ZHE, 66) },
	  AUTO, SEG_OK, SMS_UCS2, 134, 3 },
	{ "ucs2 68 + emoji ends at 70", { P(ZHE, 68), P(EMOJI, 1) },
	  AUTO, SEG_OK, SMS_UCS2, 70, 1 },
	{ "ucs2 69 + emoji crosses 70", { P(ZHE, 69), P(EMOJI, 1) },
	  AUTO, SEG_OK, SMS_UCS2, 71, 2 },
	{ "ucs2 35 emoji, 70 units", { P(EMOJI, 35) }, AUTO, SEG_OK, SMS_UCS2, 70, 1 },
	{ "ucs2 36 emoji, 72 units", { P(EMOJI, 36) }, AUTO, SEG_OK, SMS_UCS2, 72, 2 },
	{ "ucs2 67 emoji, 33 a part", { P(EMOJI, 67) }, AUTO, SEG_OK, SMS_UCS2, 134, 3 },
	/* Forced encodings. */
	{ "forced gsm7 on gsm text", ONE("hello"), GSM7, SEG_OK, SMS_GSM7, 5, 1 },
	{ "forced gsm7 with c-cedilla", ONE("ça va"), GSM7, SEG_NOT_GSM7, 0, 0, 0 },
	{ "forced gsm7 with backtick", ONE("a`b"), GSM7, SEG_NOT_GSM7, 0, 0, 0 },
	{ "forced gsm7 with emoji", ONE("hi " EMOJI), GSM7, SEG_NOT_GSM7, 0, 0, 0 },
	{ "forced ucs2 on ascii", ONE("hello"), UCS2, SEG_OK, SMS_UCS2, 5, 1 },
	{ "forced ucs2 on 160 ascii", { P("a", 160) }, UCS2, SEG_OK, SMS_UCS2, 160, 3 },
	{ "forced ucs2 on euro", ONE(EURO), UCS2, SEG_OK, SMS_UCS2, 1, 1 },
	/* Bodies that are refused. */
	{ "empty", { { "", 0, 1 } }, AUTO, SEG_EMPTY, 0, 0, 0 },
	{ "empty forced gsm7", { { "", 0, 1 } }, GSM7, SEG_EMPTY, 0, 0, 0 },
	{ "utf8 overlong C0 80", ONE("\xC0\x80"), AUTO, SEG_INVALID_UTF8, 0, 0, 0 },
	{ "utf8 overlong E0 80 AF", ONE("\xE0\x80\xAF"), AUTO, SEG_INVALID_UTF8, 0, 0, 0 },
	{ "utf8 surrogate ED A0 80", ONE("\xED\xA0\x80"), AUTO, SEG_INVALID_UTF8, 0, 0, 0 },
	{ "utf8 above U+10FFFF", ONE("\xF4\x90\x80\x80"), AUTO, SEG_INVALID_UTF8, 0, 0, 0 },
	{ "utf8 truncated E2 82", ONE("\xE2\x82"), AUTO, SEG_INVALID_UTF8, 0, 0, 0 },
	{ "utf8 truncated E2 82 then ascii", ONE("\xE2\x82" "a"), AUTO, SEG_INVALID_UTF8, 0, 0, 0 },
	{ "utf8 stray continuation", ONE("a\x80"), AUTO, SEG_INVALID_UTF8, 0, 0, 0 },
	{ "utf8 FF byte", ONE("\xFF"), AUTO, SEG_INVALID_UTF8, 0, 0, 0 },
	{ "utf8 invalid forced ucs2", ONE("\xC0\x80"), UCS2, SEG_INVALID_UTF8, 0, 0, 0 },
	{ "nul inside", ONE("ab\0cd"), AUTO, SEG_NUL, 0, 0, 0 },
	{ "nul alone", ONE("\0"), UCS2, SEG_NUL, 0, 0, 0 },
	{ "invalid utf8 before nul wins", ONE("\0\xC0\x80"), AUTO, SEG_INVALID_UTF8, 0, 0, 0 },
	{ "nul before non-gsm7 wins", ONE("\xC3\xA7\0"), GSM7, SEG_NUL, 0, 0, 0 },
};

/* Concatenates the pieces of a body into buf; returns its length. */
static size_t build_body(const struct piece *body, size_t n, char *buf, size_t cap)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		for (unsigned t = 0; t < body[i].times; t++) {
			assert_true(len + body[i].len <= cap);
			memcpy(buf + len, body[i].bytes, body[i].len);
			len += body[i].len;
		}
	}
	return len;
}

static void run_case(void **state)
{
	const struct seg_case *tc = *state;
	static char body[8192];
	char detail[128];
	struct seg_info info;
	size_t len = build_body(tc->body, ARRAY_SIZE(tc->body), body, sizeof(body));

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

/* Writes c as UTF-8 into out (4 bytes or more); returns the length. */
static size_t utf8_encode(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xC0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xE0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		out[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
	out[3] = (char)(0x80 | (c & 0x3F));
	return 4;
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
		cmocka_unit_test(test_encoding_name),
	};
	struct CMUnitTest tests[ARRAY_SIZE(CASES) + ARRAY_SIZE(others)];

	/* one named test per table row, then the others */
	for (size_t i = 0; i < ARRAY_SIZE(CASES); i++) {
		tests[i] = (struct CMUnitTest){
			.name = CASES[i].name,
			.test_func = run_case,
			.initial_state = (void *)&CASES[i],
		};
	}
	for (size_t i = 0; i < ARRAY_SIZE(others); i++)
		tests[ARRAY_SIZE(CASES) + i] = others[i];
	return cmocka_run_group_tests_name("segments", tests, NULL, NULL);
}
