/*
 * test_e164.c: unit tests for src/e164.c, the `to` rule of the send API,
 * and for the country code table generated from data/country_calling_codes.txt.
 *
 * Table-driven: each row of norm_cases is one cmocka test, named after the
 * row. Inputs are copied to a heap buffer of exactly their length, with no
 * NUL after it, so that a sanitizer build catches any read past `len`.
 *
 * CMOCKA_MESSAGE_OUTPUT=TAP makes the output TAP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e164.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A string literal and its length, embedded NUL bytes included. */
#define LIT(s) (s), (sizeof(s) - 1)

struct norm_case {
	const char *name;       /* the test's name; no '#', which TAP reads as a directive */
	const char *in;
	size_t len;
	enum e164_result want;
	const char *want_out;    /* E164_OK: the normalized number */
	const char *want_detail; /* otherwise: the exact detail, or NULL not to check it */
};

static struct norm_case norm_cases[] = {
	/* accepted */
	{ "plain +E.164 (UK)", LIT("+442079460958"), E164_OK, "+442079460958", NULL },
	{ "NANP country code 1", LIT("+14155550100"), E164_OK, "+14155550100", NULL },
	{ "country code 7", LIT("+74951234567"), E164_OK, "+74951234567", NULL },
	{ "00 prefix", LIT("00442079460958"), E164_OK, "+442079460958", NULL },
	{ "spaces", LIT("+44 20 7946 0958"), E164_OK, "+442079460958", NULL },
	{ "parentheses and dash", LIT("+1 (415) 555-0100"), E164_OK, "+14155550100", NULL },
	{ "dots", LIT("+33.1.23.45.67.89"), E164_OK, "+33123456789", NULL },
	{ "separators before +", LIT(" (+44) 20 7946 0958"), E164_OK, "+442079460958", NULL },
	{ "separators around 00", LIT("(00) 44-20-7946-0958 "), E164_OK, "+442079460958", NULL },
	{ "separator between the zeros of 00", LIT("0-0 44 20 7946 0958"), E164_OK,
	  "+442079460958", NULL },
	{ "separator after +", LIT("+ 44 20 7946 0958"), E164_OK, "+442079460958", NULL },
	{ "3-digit code 880 (Bangladesh)", LIT("+8801712345678"), E164_OK, "+8801712345678",
	  NULL },
	{ "3-digit code 971 (UAE)", LIT("+971 50 123 4567"), E164_OK, "+971501234567", NULL },
	{ "GMSS 881", LIT("+881 6 3123 4567"), E164_OK, "+881631234567", NULL },
	{ "International Networks 882", LIT("+882 16 1234 5678"), E164_OK, "+8821612345678",
	  NULL },
	{ "International Networks 883", LIT("+883 5100 1234 5678"), E164_OK,
	  "+883510012345678", NULL },
	{ "International Freephone 800", LIT("+800 1234 5678"), E164_OK, "+80012345678", NULL },
	{ "Taiwan 886", LIT("+886 912 345 678"), E164_OK, "+886912345678", NULL },
	{ "Kosovo 383", LIT("+383 44 123 456"), E164_OK, "+38344123456", NULL },
	{ "7 digits, the minimum", LIT("+1234567"), E164_OK, "+1234567", NULL },
	{ "7 digits with a 3-digit code", LIT("+3531234"), E164_OK, "+3531234", NULL },
	{ "15 digits, the maximum", LIT("+123456789012345"), E164_OK, "+123456789012345", NULL },
	{ "15 digits after 00", LIT("00123456789012345"), E164_OK, "+123456789012345", NULL },

	/* length */
	{ "6 digits", LIT("+123456"), E164_TOO_SHORT, NULL, "7 to 15 digits are required, got 6" },
	{ "5 digits", LIT("+44 123"), E164_TOO_SHORT, NULL, "7 to 15 digits are required, got 5" },
	{ "16 digits", LIT("+1234567890123456"), E164_TOO_LONG, NULL,
	  "7 to 15 digits are required, got 16" },
	{ "16 digits after 00", LIT("001234567890123456"), E164_TOO_LONG, NULL,
	  "7 to 15 digits are required, got 16" },
	{ "40 digits", LIT("+4420794609584420794609584420794609584420"), E164_TOO_LONG, NULL,
	  "7 to 15 digits are required, got 40" },
	{ "+ alone", LIT("+"), E164_TOO_SHORT, NULL, "7 to 15 digits are required, got 0" },
	{ "00 alone", LIT("00"), E164_TOO_SHORT, NULL, "7 to 15 digits are required, got 0" },
	{ "short and unassigned: length first", LIT("+99912"), E164_TOO_SHORT, NULL,
	  "7 to 15 digits are required, got 5" },

	/* country calling code */
	{ "unassigned 999", LIT("+999 123 4567"), E164_UNASSIGNED_CC, NULL,
	  "country calling code 999 is not assigned" },
	{ "spare 28x (280)", LIT("+2801234567"), E164_UNASSIGNED_CC, NULL,
	  "country calling code 28 is not assigned" },
	{ "spare 28x (289)", LIT("+289 123 4567"), E164_UNASSIGNED_CC, NULL,
	  "country calling code 28 is not assigned" },
	{ "leading 0", LIT("+0441234567"), E164_UNASSIGNED_CC, NULL,
	  "country calling code 0 is not assigned" },
	{ "000 prefix leaves a leading 0", LIT("000441234567"), E164_UNASSIGNED_CC, NULL,
	  "country calling code 0 is not assigned" },
	{ "spare 801", LIT("+8011234567"), E164_UNASSIGNED_CC, NULL,
	  "country calling code 801 is not assigned" },
	{ "spare 210", LIT("+2101234567"), E164_UNASSIGNED_CC, NULL,
	  "country calling code 210 is not assigned" },
	{ "spare 422", LIT("+4221234567"), E164_UNASSIGNED_CC, NULL,
	  "country calling code 422 is not assigned" },
	{ "withdrawn Inmarsat 871", LIT("+871123456789"), E164_UNASSIGNED_CC, NULL,
	  "country calling code 871 is not assigned" },
	{ "reserved 969", LIT("+9691234567"), E164_UNASSIGNED_CC, NULL,
	  "country calling code 969 is not assigned" },
	{ "reserved 997", LIT("+9971234567"), E164_UNASSIGNED_CC, NULL,
	  "country calling code 997 is not assigned" },
	{ "spare 89x", LIT("+8901234567"), E164_UNASSIGNED_CC, NULL,
	  "country calling code 89 is not assigned" },

	/* prefix */
	{ "no + and no 00", LIT("442079460958"), E164_NO_PLUS, NULL, "must start with + or 00" },
	{ "national 0 only", LIT("02079460958"), E164_NO_PLUS, NULL, "must start with + or 00" },
	{ "a single 0", LIT("0"), E164_NO_PLUS, NULL, "must start with + or 00" },
	{ "011 (NANP exit code) is not 00", LIT("011 44 20 7946 0958"), E164_NO_PLUS, NULL,
	  "must start with + or 00" },

	/* characters */
	{ "letter O for zero", LIT("+44 20 7946 O958"), E164_BAD_CHAR, NULL,
	  "character 'O' at position 13 is not allowed" },
	{ "letters only", LIT("abc"), E164_BAD_CHAR, NULL,
	  "character 'a' at position 1 is not allowed" },
	{ "slash", LIT("+44/2079460958"), E164_BAD_CHAR, NULL,
	  "character '/' at position 4 is not allowed" },
	{ "second +", LIT("+44+2079460958"), E164_BAD_CHAR, NULL,
	  "'+' is only allowed at the start, found at position 4" },
	{ "+ after 00", LIT("00+442079460958"), E164_BAD_CHAR, NULL,
	  "'+' is only allowed at the start, found at position 3" },
	{ "+ after digits: bad char before no prefix", LIT("44+2079460958"), E164_BAD_CHAR, NULL,
	  "'+' is only allowed at the start, found at position 3" },
	{ "embedded NUL byte", LIT("+44 20\0 7946 0958"), E164_BAD_CHAR, NULL,
	  "byte 0x00 at position 7 is not allowed" },
	{ "tab", LIT("+44\t2079460958"), E164_BAD_CHAR, NULL,
	  "byte 0x09 at position 4 is not allowed" },
	{ "trailing newline", LIT("+442079460958\n"), E164_BAD_CHAR, NULL,
	  "byte 0x0A at position 14 is not allowed" },
	{ "no-break space (UTF-8)", LIT("+44\xC2\xA0" "2079460958"), E164_BAD_CHAR, NULL,
	  "byte 0xC2 at position 4 is not allowed" },
	{ "bad char wins over too short", LIT("+1a"), E164_BAD_CHAR, NULL,
	  "character 'a' at position 3 is not allowed" },
	{ "extension marker x", LIT("+442079460958x12"), E164_BAD_CHAR, NULL,
	  "character 'x' at position 14 is not allowed" },

	/* empty */
	{ "empty", LIT(""), E164_EMPTY, NULL, "must not be empty" },
	{ "spaces only", LIT("   "), E164_EMPTY, NULL, "must not be empty" },
	{ "separators only", LIT("( - . )"), E164_EMPTY, NULL, "must not be empty" },

	/* len is respected: the bytes after it are not part of the input */
	{ "len shorter than the string", "+442079460958999", 13, E164_OK, "+442079460958", NULL },
	{ "len cuts into the prefix", "00442079460958", 1, E164_NO_PLUS, NULL,
	  "must start with + or 00" },
};

static const char *result_name(enum e164_result r)
{
	switch (r) {
	case E164_OK: return "E164_OK";
	case E164_EMPTY: return "E164_EMPTY";
	case E164_BAD_CHAR: return "E164_BAD_CHAR";
	case E164_NO_PLUS: return "E164_NO_PLUS";
	case E164_TOO_SHORT: return "E164_TOO_SHORT";
	case E164_TOO_LONG: return "E164_TOO_LONG";
	case E164_UNASSIGNED_CC: return "E164_UNASSIGNED_CC";
	}
	return "unknown";
}

/* An exact-size heap copy with no NUL after it; caller frees. */
static char *copy_input(const char *in, size_t len)
{
	char *copy = malloc(len > 0 ? len : 1);

	assert_non_null(copy);
	memcpy(copy, in, len);
	return copy;
}

static void run_norm_case(void **state)
{
	const struct norm_case *tc = *state;
	char out[E164_OUT_SIZE];
	char detail[128];
	char *in = copy_input(tc->in, tc->len);
	enum e164_result r;

	memset(out, 'X', sizeof(out));
	memset(detail, 'X', sizeof(detail));
	r = e164_normalize(in, tc->len, out, detail, sizeof(detail));
	free(in);
	if (r != tc->want)
		fail_msg("got %s (detail \"%s\"), want %s", result_name(r),
			 memchr(detail, '\0', sizeof(detail)) ? detail : "<unterminated>",
			 result_name(tc->want));
	if (r == E164_OK) {
		assert_string_equal(out, tc->want_out);
		assert_string_equal(detail, "");
		return;
	}
	assert_string_equal(out, "");
	assert_true(strlen(detail) > 0);
	if (tc->want_detail != NULL)
		assert_string_equal(detail, tc->want_detail);
}

static void test_null_input_is_empty(void **state)
{
	char out[E164_OUT_SIZE];
	char detail[64];

	(void)state;
	assert_int_equal(e164_normalize(NULL, 0, out, detail, sizeof(detail)), E164_EMPTY);
	assert_int_equal(e164_normalize(NULL, 12, out, detail, sizeof(detail)), E164_EMPTY);
	assert_string_equal(out, "");
}

static void test_detail_truncated_and_terminated(void **state)
{
	char out[E164_OUT_SIZE];
	char detail[8];

	(void)state;
	memset(detail, 'X', sizeof(detail));
	assert_int_equal(e164_normalize(LIT("+999 123 4567"), out, detail, sizeof(detail)),
			 E164_UNASSIGNED_CC);
	assert_string_equal(detail, "country");
}

static void test_detail_not_wanted(void **state)
{
	char out[E164_OUT_SIZE];
	char detail[4] = "abc";

	(void)state;
	assert_int_equal(e164_normalize(LIT("+1"), out, NULL, 0), E164_TOO_SHORT);
	assert_int_equal(e164_normalize(LIT("+1"), out, detail, 0), E164_TOO_SHORT);
	assert_string_equal(detail, "abc");
	assert_int_equal(e164_normalize(LIT("+14155550100"), out, NULL, 0), E164_OK);
	assert_string_equal(out, "+14155550100");
}

static void test_country_code_lookup(void **state)
{
	int len = -1;

	(void)state;
	assert_true(e164_country_code("14155550100", &len));
	assert_int_equal(len, 1);
	assert_true(e164_country_code("442079460958", &len));
	assert_int_equal(len, 2);
	assert_true(e164_country_code("8801712345678", &len));
	assert_int_equal(len, 3);
	assert_true(e164_country_code("971", &len));
	assert_int_equal(len, 3);
	assert_true(e164_country_code("881", NULL));
	assert_false(e164_country_code("", &len));
	assert_false(e164_country_code("4", &len));
	assert_false(e164_country_code("88", &len));
	assert_false(e164_country_code("0441234567", &len));
	assert_false(e164_country_code("9991234567", &len));
	assert_false(e164_country_code("2801234567", &len));
	assert_false(e164_country_code("4a", &len));
	assert_false(e164_country_code(NULL, &len));
}

/* Linear, so that the table checks do not rely on the code under test. */
static bool table_contains(unsigned v)
{
	for (size_t i = 0; i < e164_country_codes_len; i++)
		if (e164_country_codes[i] == v)
			return true;
	return false;
}

static void test_table_sorted(void **state)
{
	(void)state;
	assert_true(e164_country_codes_len > 200);
	assert_true(e164_country_codes[0] >= 1);
	assert_true(e164_country_codes[e164_country_codes_len - 1] <= 999);
	for (size_t i = 1; i < e164_country_codes_len; i++)
		if (e164_country_codes[i - 1] >= e164_country_codes[i])
			fail_msg("table not strictly ascending at index %zu: %u then %u", i,
				 (unsigned)e164_country_codes[i - 1], (unsigned)e164_country_codes[i]);
}

/* No code is the start of another one: 880 excludes 8 and 88. */
static void test_table_prefix_free(void **state)
{
	(void)state;
	for (size_t i = 0; i < e164_country_codes_len; i++) {
		unsigned code = e164_country_codes[i];

		for (unsigned p = code / 10; p > 0; p /= 10)
			if (table_contains(p))
				fail_msg("country code %u starts with country code %u", code, p);
	}
}

static void test_table_contents(void **state)
{
	static const unsigned present[] = { 1,   7,   20,  27,  44,  86,  211, 383, 388,
					    800, 808, 870, 878, 880, 881, 882, 883, 886,
					    888, 970, 971, 979, 991, 998 };
	static const unsigned absent[] = { 28,  210, 259, 280, 289, 384, 422, 671, 684, 693,
					   801, 809, 830, 871, 875, 879, 884, 890, 969, 978,
					   990, 997, 999 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(present); i++)
		if (!table_contains(present[i]))
			fail_msg("country code %u is missing", present[i]);
	for (size_t i = 0; i < ARRAY_SIZE(absent); i++)
		if (table_contains(absent[i]))
			fail_msg("country code %u is spare or reserved but in the table", absent[i]);
}

/* Every code in the table is found by e164_country_code, with its length. */
static void test_every_code_found(void **state)
{
	(void)state;
	for (size_t i = 0; i < e164_country_codes_len; i++) {
		char digits[16];
		int want = snprintf(digits, sizeof(digits), "%u", (unsigned)e164_country_codes[i]);
		int len = 0;

		snprintf(digits + want, sizeof(digits) - (size_t)want, "1234567");
		if (!e164_country_code(digits, &len) || len != want)
			fail_msg("code %u: found %d, length %d", (unsigned)e164_country_codes[i],
				 e164_country_code(digits, NULL), len);
	}
}

static const struct CMUnitTest fixed_tests[] = {
	cmocka_unit_test(test_null_input_is_empty),
	cmocka_unit_test(test_detail_truncated_and_terminated),
	cmocka_unit_test(test_detail_not_wanted),
	cmocka_unit_test(test_country_code_lookup),
	cmocka_unit_test(test_table_sorted),
	cmocka_unit_test(test_table_prefix_free),
	cmocka_unit_test(test_table_contents),
	cmocka_unit_test(test_every_code_found),
};

int main(void)
{
	struct CMUnitTest tests[ARRAY_SIZE(norm_cases) + ARRAY_SIZE(fixed_tests)];
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(norm_cases); i++) {
		tests[n] = (struct CMUnitTest){ .name = norm_cases[i].name,
						.test_func = run_norm_case,
						.initial_state = &norm_cases[i] };
		n++;
	}
	for (size_t i = 0; i < ARRAY_SIZE(fixed_tests); i++)
		tests[n++] = fixed_tests[i];
	return cmocka_run_group_tests_name("e164", tests, NULL, NULL);
}
