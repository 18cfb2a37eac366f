/*
 * test_smart_encoding.c: unit tests for smart encoding (src/smart_encoding.c
 * and its table, generated from data/smart_encoding.txt), on its own and
 * through request_parse_send, the path of send, bulk and preview.
 *
 * - The generated table is exactly api.md's list (transcribed below with the
 *   characters api.md shows): every character named there, with its
 *   replacement, and nothing else.
 * - Every entry is replaced inside a text and through a send body; every
 *   other Unicode scalar value is kept; replacing twice changes nothing more.
 * - Texts that stay UCS-2 after replacement, segment boundaries that move
 *   because of it (both ways, GSM-7 and UCS-2), and the body errors.
 * Each row of the request table is its own test, named after it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "utf8_encode.h"

#include "lib/buf.h"
#include "request.h"
#include "segments.h"
#include "smart_encoding.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define EURO "\xE2\x82\xAC"      /* U+20AC, GSM extension table */
#define ZHE "\xD0\xB6"           /* U+0436 Cyrillic, UCS-2 only */
#define EMOJI "\xF0\x9F\x98\x80" /* U+1F600, a surrogate pair in UTF-16 */
#define LDQ "\xE2\x80\x9C"       /* U+201C “ */
#define RDQ "\xE2\x80\x9D"       /* U+201D ” */
#define RSQ "\xE2\x80\x99"       /* U+2019 ’ */
#define ELLIPSIS "\xE2\x80\xA6"  /* U+2026 … */
#define EN_DASH "\xE2\x80\x93"   /* U+2013 – */
#define NBSP "\xC2\xA0"          /* U+00A0 */
#define ZWSP "\xE2\x80\x8B"      /* U+200B */
#define ZWJ "\xE2\x80\x8D"       /* U+200D */
#define BOM "\xEF\xBB\xBF"       /* U+FEFF */
#define FW_LBRACE "\xEF\xBD\x9B" /* U+FF5B ｛ */
#define FW_GRAVE "\xEF\xBD\x80"  /* U+FF40 ｀ */
#define FW_A "\xEF\xBC\xA1"      /* U+FF21 Ａ */


/* The code point of a one-character UTF-8 string. */
static uint32_t code_point(const char *s)
{
	size_t pos = 0;
	uint32_t c = 0;
	assert_int_equal(utf8_decode(s, strlen(s), &pos, &c), 0);
	assert_int_equal(pos, strlen(s));
	return c;
}

/*
 * api.md, "Smart encoding": "curly single and double quotes and primes
 * (‘ ’ ‚ ‛ ′ “ ” „ ‟ ″ -> ' or "), dashes (‐ ‑ ‒ – — ― -> -), the ellipsis
 * … -> ..., no-break, thin and other Unicode spaces -> space, • -> -, the
 * full-width forms of ASCII letters, digits and punctuation -> ASCII, and
 * zero-width characters (U+200B-U+200D, U+2060, U+FEFF) removed."
 * The characters below are copied from that text.
 */
static const struct {
	const char *from, *to;
} API_MD_NAMED[] = {
	{ "‘", "'" }, { "’", "'" }, { "‚", "'" }, { "‛", "'" }, { "′", "'" },
	{ "“", "\"" }, { "”", "\"" }, { "„", "\"" }, { "‟", "\"" }, { "″", "\"" },
	{ "‐", "-" }, { "‑", "-" }, { "‒", "-" }, { "–", "-" }, { "—", "-" }, { "―", "-" },
	{ "…", "..." },
	{ "•", "-" },
};

/*
 * "no-break, thin and other Unicode spaces": the space separators (Unicode
 * general category Zs) but U+0020 itself and U+1680 OGHAM SPACE MARK (a
 * stroke in Ogham text, not a blank).
 */
static const uint32_t API_MD_SPACES[] = {
	0x00A0, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007,
	0x2008, 0x2009, 0x200A, 0x202F, 0x205F, 0x3000,
};

/* "zero-width characters (U+200B-U+200D, U+2060, U+FEFF) removed" */
static const uint32_t API_MD_REMOVED[] = { 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF };

/* "the full-width forms of ASCII letters, digits and punctuation": U+FF01..U+FF5E are ! .. ~ at U+FEE0 above ASCII. */
#define FULLWIDTH_FIRST 0xFF01u
#define FULLWIDTH_LAST 0xFF5Eu
#define FULLWIDTH_OFFSET 0xFEE0u

/* What api.md says c becomes, into to (8 bytes); false when api.md does not name c. */
static bool api_md_replacement(uint32_t c, char *to)
{
	for (size_t i = 0; i < ARRAY_SIZE(API_MD_NAMED); i++) {
		if (code_point(API_MD_NAMED[i].from) == c) {
			snprintf(to, 8, "%s", API_MD_NAMED[i].to);
			return true;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(API_MD_SPACES); i++) {
		if (API_MD_SPACES[i] == c) {
			snprintf(to, 8, " ");
			return true;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(API_MD_REMOVED); i++) {
		if (API_MD_REMOVED[i] == c) {
			to[0] = '\0';
			return true;
		}
	}
	if (c >= FULLWIDTH_FIRST && c <= FULLWIDTH_LAST) {
		snprintf(to, 8, "%c", (char)(c - FULLWIDTH_OFFSET));
		return true;
	}
	return false;
}

/* Every character api.md names is in the table with api.md's replacement, and the table has nothing else. */
static void test_table_is_api_md(void **state)
{
	char to[8];
	size_t named = 0;

	(void)state;
	for (uint32_t c = 0; c <= 0x10FFFF; c++) {
		if (!api_md_replacement(c, to))
			continue;
		named++;
		const char *got = smart_encoding_of(c);
		if (!got)
			fail_msg("U+%04X is named by api.md but not in data/smart_encoding.txt", (unsigned)c);
		if (strcmp(got, to) != 0)
			fail_msg("U+%04X becomes \"%s\"; api.md says \"%s\"", (unsigned)c, got, to);
	}
	assert_int_equal(named, ARRAY_SIZE(API_MD_NAMED) + ARRAY_SIZE(API_MD_SPACES) + ARRAY_SIZE(API_MD_REMOVED) +
					(FULLWIDTH_LAST - FULLWIDTH_FIRST + 1));
	/* so nothing more: every table entry is one api.md names */
	assert_int_equal(smart_encoding_table_len, named);
	for (size_t i = 0; i < smart_encoding_table_len; i++) {
		if (!api_md_replacement(smart_encoding_table[i].from, to))
			fail_msg("U+%04X is in data/smart_encoding.txt but api.md does not name it",
				 (unsigned)smart_encoding_table[i].from);
		if (i > 0)
			assert_true(smart_encoding_table[i - 1].from < smart_encoding_table[i].from);
	}
}

/* Each entry inside a text: "a<c>b" becomes "a<replacement>b", one character replaced. */
static void test_every_entry_in_text(void **state)
{
	(void)state;
	for (size_t i = 0; i < smart_encoding_table_len; i++) {
		const struct smart_map *m = &smart_encoding_table[i];
		char in[8], want[8];
		struct buf out;
		size_t n = utf8_encode(m->from, in + 1);
		in[0] = 'a';
		in[n + 1] = 'b';
		snprintf(want, sizeof(want), "a%sb", m->to);
		buf_init(&out);
		size_t replaced = smart_encode(in, n + 2, &out);
		if (replaced != 1 || strcmp(out.data, want) != 0)
			fail_msg("U+%04X: \"%s\" (%zu replaced), want \"%s\"", (unsigned)m->from, out.data, replaced, want);
		/* the replacement is ASCII the table never touches: a second pass changes nothing */
		struct buf again;
		buf_init(&again);
		assert_int_equal(smart_encode(out.data, out.len, &again), 0);
		assert_string_equal(again.data, want);
		buf_release(&again);
		buf_release(&out);
	}
}

static void parse_body(const char *body, size_t len, const char *members, struct sms_item *it, int want_rc)
{
	struct request_limits lim = { 10, 1000, 0 };
	struct buf json;
	char detail[200];

	buf_init(&json);
	buf_adds(&json, "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":");
	buf_add_json_str(&json, body, len);
	buf_adds(&json, members);
	buf_addc(&json, '}');
	int rc = request_parse_send(json.data, json.len, &lim, it, detail, sizeof(detail));
	if (rc != want_rc)
		fail_msg("rc %d, want %d (%s): %s", rc, want_rc, json.data,
			 rc == 1 ? it->errors[0].detail : rc ? detail : "");
	buf_release(&json);
}

/*
 * Each entry through a send body with smartEncoding: the stored body is the
 * replaced one, one character is counted, and the message is GSM-7 unless
 * the replacement is not in GSM 03.38 (only ` from ｀).
 */
static void test_every_entry_through_send(void **state)
{
	(void)state;
	for (size_t i = 0; i < smart_encoding_table_len; i++) {
		const struct smart_map *m = &smart_encoding_table[i];
		char in[8], want[8];
		struct sms_item it;
		size_t n = utf8_encode(m->from, in + 1);
		in[0] = 'a';
		in[n + 1] = 'b';
		snprintf(want, sizeof(want), "a%sb", m->to);
		parse_body(in, n + 2, ",\"smartEncoding\":true", &it, 0);
		assert_true(it.smart);
		assert_int_equal(it.replaced, 1);
		assert_int_equal(it.body_len, strlen(want));
		assert_memory_equal(it.body, want, it.body_len);
		bool gsm7 = strcmp(m->to, "`") != 0;
		if ((it.encoding == SMS_GSM7) != gsm7)
			fail_msg("U+%04X: %s, want %s", (unsigned)m->from, sms_encoding_name(it.encoding),
				 gsm7 ? "GSM7" : "UCS2");
		item_release(&it);
		/* without smartEncoding the body is kept as sent */
		parse_body(in, n + 2, "", &it, 0);
		assert_false(it.smart);
		assert_int_equal(it.replaced, 0);
		assert_memory_equal(it.body, in, n + 2);
		item_release(&it);
	}
}

/* Every Unicode scalar value that api.md does not name is kept as it is. */
static void test_everything_else_kept(void **state)
{
	char in[4], to[8];
	struct buf out;

	(void)state;
	buf_init(&out);
	for (uint32_t c = 0; c <= 0x10FFFF; c++) {
		if ((c >= 0xD800 && c <= 0xDFFF) || api_md_replacement(c, to))
			continue;
		if (smart_encoding_of(c))
			fail_msg("U+%04X is replaced, but api.md does not name it", (unsigned)c);
		size_t n = utf8_encode(c, in);
		buf_reset(&out);
		if (smart_encode(in, n, &out) != 0 || out.len != n || memcmp(out.data, in, n) != 0)
			fail_msg("U+%04X is not kept as it is", (unsigned)c);
	}
	buf_release(&out);
}

/* A NUL and bytes of no valid character are copied (the body rules refuse them afterwards). */
static void test_not_text_copied(void **state)
{
	static const char in[] = "a\0" LDQ "\xFF" RDQ;
	struct buf out;

	(void)state;
	buf_init(&out);
	assert_int_equal(smart_encode(in, sizeof(in) - 1, &out), 2);
	assert_int_equal(out.len, 5);
	assert_memory_equal(out.data, "a\0\"\xFF\"", 5);
	buf_release(&out);
}

/* `bytes` repeated `times` times. */
struct piece {
	const char *bytes;
	unsigned times;
};

#define P(s, n) { (s), (n) }

struct smart_case {
	const char *name;
	struct piece body[4];
	const char *members; /* after the body, e.g. ",\"smartEncoding\":true" */
	int rc;
	/* rc 0 */
	const char *want_body; /* NULL: not checked */
	enum sms_encoding encoding;
	unsigned units, segments, replaced;
	/* rc 1: the body's error */
	const char *code, *detail;
};

#define SMART ",\"smartEncoding\":true"

static const struct smart_case smart_cases[] = {
	/* the everyday case */
	{ "curly quotes and an apostrophe become GSM7", { P(LDQ "Hi" RDQ " it" RSQ "s", 1) }, SMART, 0,
	  "\"Hi\" it's", SMS_GSM7, 9, 1, 3 },
	{ "the same without smartEncoding is UCS2", { P(LDQ "Hi" RDQ " it" RSQ "s", 1) }, "", 0,
	  LDQ "Hi" RDQ " it" RSQ "s", SMS_UCS2, 9, 1, 0 },
	{ "smartEncoding false is the same as absent", { P(LDQ "Hi" RDQ, 1) }, ",\"smartEncoding\":false", 0,
	  LDQ "Hi" RDQ, SMS_UCS2, 4, 1, 0 },
	{ "smartEncoding null is the same as absent", { P(LDQ "Hi" RDQ, 1) }, ",\"smartEncoding\":null", 0,
	  LDQ "Hi" RDQ, SMS_UCS2, 4, 1, 0 },
	{ "nothing to replace: 0 replaced", { P("plain text", 1) }, SMART, 0, "plain text", SMS_GSM7, 10, 1, 0 },
	{ "full-width letters and an en dash", { P(FW_A "BC " EN_DASH " 1" NBSP "2" ELLIPSIS, 1) }, SMART, 0,
	  "ABC - 1 2...", SMS_GSM7, 12, 1, 4 },
	{ "zero-width characters are removed", { P(BOM "a" ZWSP "b" ZWSP, 1) }, SMART, 0, "ab", SMS_GSM7, 2, 1, 3 },
	/* texts that stay UCS-2 */
	{ "Cyrillic in curly quotes stays UCS2", { P(LDQ "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82" RDQ, 1) },
	  SMART, 0, "\"\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82\"", SMS_UCS2, 8, 1, 2 },
	{ "full-width grave accent becomes a backtick, not GSM7", { P("a" FW_GRAVE "b", 1) }, SMART, 0, "a`b",
	  SMS_UCS2, 3, 1, 1 },
	{ "an emoji keeps UCS2, the dash is still replaced", { P("ok " EN_DASH " " EMOJI, 1) }, SMART, 0,
	  "ok - " EMOJI, SMS_UCS2, 7, 1, 1 },
	{ "a zero width joiner inside an emoji sequence is removed",
	  { P(EMOJI ZWJ EMOJI, 1) }, SMART, 0, EMOJI EMOJI, SMS_UCS2, 4, 1, 1 },
	/* GSM-7 boundaries that move */
	{ "158 + two curly quotes: 3 UCS2 segments without", { P("a", 158), P(LDQ RDQ, 1) }, "", 0, NULL, SMS_UCS2,
	  160, 3, 0 },
	{ "158 + two curly quotes: 1 GSM7 segment with", { P("a", 158), P(LDQ RDQ, 1) }, SMART, 0, NULL, SMS_GSM7,
	  160, 1, 2 },
	{ "158 + ellipsis: 3 dots cross 160, 2 segments", { P("a", 158), P(ELLIPSIS, 1) }, SMART, 0, NULL, SMS_GSM7,
	  161, 2, 1 },
	{ "157 + ellipsis: 160 septets, 1 segment", { P("a", 157), P(ELLIPSIS, 1) }, SMART, 0, NULL, SMS_GSM7, 160, 1,
	  1 },
	{ "160 + zero width space: 3 UCS2 segments without", { P("a", 160), P(ZWSP, 1) }, "", 0, NULL, SMS_UCS2, 161,
	  3, 0 },
	{ "160 + zero width space: 1 GSM7 segment with", { P("a", 160), P(ZWSP, 1) }, SMART, 0, NULL, SMS_GSM7, 160,
	  1, 1 },
	{ "159 + full-width brace: the brace costs 2, 161 septets", { P("a", 159), P(FW_LBRACE, 1) }, SMART, 0, NULL,
	  SMS_GSM7, 161, 2, 1 },
	{ "152 + full-width brace + 152: the escape pair is not split", { P("a", 152), P(FW_LBRACE, 1), P("a", 152) },
	  SMART, 0, NULL, SMS_GSM7, 306, 3, 1 },
	{ "151 + full-width brace + 153: the pair ends part 1", { P("a", 151), P(FW_LBRACE, 1), P("a", 153) }, SMART,
	  0, NULL, SMS_GSM7, 306, 2, 1 },
	{ "152 + en dash + 153: one septet, 2 segments", { P("a", 152), P(EN_DASH, 1), P("a", 153) }, SMART, 0, NULL,
	  SMS_GSM7, 306, 2, 1 },
	{ "1528 + two curly quotes: 10 segments with", { P("a", 1528), P(LDQ RDQ, 1) }, SMART, 0, NULL, SMS_GSM7,
	  1530, 10, 2 },
	{ "1528 + ellipsis: 11 segments with", { P("a", 1528), P(ELLIPSIS, 1) }, SMART, 1, .code = "too_many_segments",
	  .detail = "11 GSM7 segments; at most 10 are allowed (after smart encoding)" },
	/* UCS-2 boundaries that move */
	{ "70 Cyrillic + zero width space: 2 segments without", { P(ZHE, 70), P(ZWSP, 1) }, "", 0, NULL, SMS_UCS2, 71,
	  2, 0 },
	{ "70 Cyrillic + zero width space: 1 segment with", { P(ZHE, 70), P(ZWSP, 1) }, SMART, 0, NULL, SMS_UCS2, 70,
	  1, 1 },
	{ "68 Cyrillic + ellipsis: 1 segment without", { P(ZHE, 68), P(ELLIPSIS, 1) }, "", 0, NULL, SMS_UCS2, 69, 1,
	  0 },
	{ "68 Cyrillic + ellipsis: 3 dots, 2 segments with", { P(ZHE, 68), P(ELLIPSIS, 1) }, SMART, 0, NULL, SMS_UCS2,
	  71, 2, 1 },
	/* the body rules after smart encoding */
	{ "forced gsm7 with curly quotes is accepted", { P(LDQ "Hi" RDQ, 1) }, SMART ",\"encoding\":\"gsm7\"", 0,
	  "\"Hi\"", SMS_GSM7, 4, 1, 2 },
	{ "forced gsm7 with curly quotes, no smartEncoding", { P(LDQ "Hi" RDQ, 1) }, ",\"encoding\":\"gsm7\"", 1,
	  .code = "not_gsm7", .detail = "character U+201C at index 0" },
	{ "forced gsm7 with Cyrillic names the index after replacement", { P(ZWSP ZWSP LDQ ZHE, 1) },
	  SMART ",\"encoding\":\"gsm7\"", 1, .code = "not_gsm7",
	  .detail = "character U+0436 at index 1 is not in the GSM 03.38 alphabet (index in the text after smart encoding)" },
	{ "forced gsm7 with the full-width grave accent", { P(FW_GRAVE, 1) }, SMART ",\"encoding\":\"gsm7\"", 1,
	  .code = "not_gsm7", .detail = "U+0060" },
	{ "forced ucs2 still replaces", { P(LDQ "Hi" RDQ, 1) }, SMART ",\"encoding\":\"ucs2\"", 0, "\"Hi\"", SMS_UCS2,
	  4, 1, 2 },
	{ "only zero-width characters: empty once removed", { P(ZWSP BOM, 1) }, SMART, 1, .code = "empty_body",
	  .detail = "body is empty once smart encoding removed its 2 zero-width characters" },
	{ "invalid UTF-8 is reported on the body as sent", { P(LDQ "\xFF", 1) }, SMART, 1, .code = "invalid_utf8",
	  .detail = "invalid UTF-8 at byte 3" },
	{ "a NUL is reported at its index in the body as sent", { P(ZWSP ZWSP "a\\u0000", 1) }, SMART, -2,
	  .code = "nul_character", .detail = "at index 3" },
};

static void run_smart_case(void **state)
{
	const struct smart_case *tc = *state;
	struct buf body;
	struct sms_item it;

	buf_init(&body);
	for (size_t i = 0; i < ARRAY_SIZE(tc->body); i++)
		for (unsigned t = 0; t < tc->body[i].times; t++)
			buf_adds(&body, tc->body[i].bytes);
	if (tc->rc == -2) {
		/* a body written as JSON text (for an escape), parsed as it is */
		struct request_limits lim = { 10, 1000, 0 };
		struct buf json;
		char detail[200];
		buf_init(&json);
		buf_addf(&json, "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"%s\"%s}", body.data, tc->members);
		assert_int_equal(request_parse_send(json.data, json.len, &lim, &it, detail, sizeof(detail)), 1);
		buf_release(&json);
	} else {
		parse_body(body.data, body.len, tc->members, &it, tc->rc);
	}
	buf_release(&body);
	if (tc->rc != 0) {
		assert_int_equal(it.nerrors, 1);
		assert_string_equal(it.errors[0].field, "body");
		assert_string_equal(it.errors[0].code, tc->code);
		if (!strstr(it.errors[0].detail, tc->detail))
			fail_msg("detail \"%s\" does not contain \"%s\"", it.errors[0].detail, tc->detail);
		item_release(&it);
		return;
	}
	if (tc->want_body) {
		assert_int_equal(it.body_len, strlen(tc->want_body));
		assert_memory_equal(it.body, tc->want_body, it.body_len);
	}
	assert_string_equal(sms_encoding_name(it.encoding), sms_encoding_name(tc->encoding));
	assert_int_equal(it.units, tc->units);
	assert_int_equal(it.segments, tc->segments);
	assert_int_equal(it.replaced, tc->replaced);
	assert_int_equal(it.smart, strstr(tc->members, SMART) != NULL);
	/* what is stored counts as it was counted: the replaced body again, without smart encoding */
	struct seg_info info;
	enum sms_encoding_req req = it.encoding == SMS_UCS2 ? SMS_ENC_UCS2 : SMS_ENC_GSM7;
	assert_int_equal(sms_segments(it.body, it.body_len, req, &info, NULL, 0), SEG_OK);
	assert_int_equal(info.units, it.units);
	assert_int_equal(info.segments, it.segments);
	item_release(&it);
}

int main(void)
{
	static const struct CMUnitTest others[] = {
		cmocka_unit_test(test_table_is_api_md),
		cmocka_unit_test(test_every_entry_in_text),
		cmocka_unit_test(test_every_entry_through_send),
		cmocka_unit_test(test_everything_else_kept),
		cmocka_unit_test(test_not_text_copied),
	};
	struct CMUnitTest tests[ARRAY_SIZE(others) + ARRAY_SIZE(smart_cases)];
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(others); i++)
		tests[n++] = others[i];
	for (size_t i = 0; i < ARRAY_SIZE(smart_cases); i++)
		tests[n++] = (struct CMUnitTest){ .name = smart_cases[i].name, .test_func = run_smart_case,
						  .initial_state = (void *)&smart_cases[i] };
	return cmocka_run_group_tests_name("smart_encoding", tests, NULL, NULL);
}
