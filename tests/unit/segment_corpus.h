/*
 * The segment test corpus: bodies with the result, encoding, units and
 * segments sms_segments must give for them (3GPP TS 23.038 / 23.040),
 * written as pieces repeated N times ("152 x 'a', then '€'") rather than
 * as literals, and the GSM 03.38 alphabet as UTF-8. Shared by
 * tests/unit/test_segments.c (each row is a test), test_preview.c (send,
 * bulk and preview agree on each row) and tests/tools/segcorpus.c (the same
 * rows as request bodies for tests/integration/19_preview.sh). No cmocka
 * here, so the tool can include it too.
 */
#ifndef ORCH_TEST_SEGMENT_CORPUS_H
#define ORCH_TEST_SEGMENT_CORPUS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "segments.h"

/* Sample characters, as UTF-8. */
#define EURO "\xE2\x82\xAC"          /* U+20AC, GSM extension table */
#define ZHE "\xD0\xB6"               /* U+0436 Cyrillic, UCS-2 only */
#define EMOJI "\xF0\x9F\x98\x80"     /* U+1F600, a surrogate pair in UTF-16 */

/* The GSM 03.38 default alphabet (127 characters, without the escape). */
static const char GSM7_ALPHABET[] __attribute__((unused)) =
	"@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/* The extension table (10 characters, two septets each). */
static const char GSM7_EXTENSION[] __attribute__((unused)) = "\f^{}\\[~]|€";

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

static const struct seg_case SEGMENT_CORPUS[] = {
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

#undef AUTO
#undef GSM7
#undef UCS2

#define SEGMENT_CORPUS_LEN (sizeof(SEGMENT_CORPUS) / sizeof(SEGMENT_CORPUS[0]))

/* Concatenates the pieces of a corpus body into buf; its length, or SIZE_MAX when cap is too small. */
static inline size_t corpus_body(const struct seg_case *tc, char *buf, size_t cap)
{
	size_t len = 0;

	for (size_t i = 0; i < sizeof(tc->body) / sizeof(tc->body[0]); i++) {
		for (unsigned t = 0; t < tc->body[i].times; t++) {
			if (len + tc->body[i].len > cap)
				return SIZE_MAX;
			memcpy(buf + len, tc->body[i].bytes, tc->body[i].len);
			len += tc->body[i].len;
		}
	}
	return len;
}

#endif
