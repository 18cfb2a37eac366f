/*
 * test_preview.c: POST /v1/sms/preview against the send path, property-tested.
 *
 * The preview handler is request_parse_send (the parser send uses) and then
 * preview_json (src/preview.c); this file runs those two calls, the parse a
 * bulk item gets (request_parse_bulk) and an independent model written here
 * (TS 23.038/23.040 packing over the GSM 03.38 alphabet of
 * segment_corpus.h, and the smart encoding table applied code point by code
 * point) on:
 *  - every row of the segment corpus (segment_corpus.h), with and without
 *    smartEncoding;
 *  - random bodies over the GSM basic and extension alphabets, characters
 *    outside GSM 03.38, surrogate pairs and the smart encoding table's
 *    characters, of lengths around the segment boundaries, in each
 *    requested encoding, with and without smartEncoding.
 * For each: send, bulk and preview give the same result (the same errors,
 * or the same body, encoding, units and segments), the model agrees with
 * them, the preview answer has exactly the documented members, and
 * charactersRemaining is exactly what still fits: that many more one-unit
 * characters keep the segment count, one more adds a segment.
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
#include <json-c/json.h>

#include "lib/buf.h"
#include "preview.h"
#include "request.h"
#include "segment_corpus.h"
#include "segments.h"
#include "smart_encoding.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_CHARS 2048

static const char *const ENCODING_MEMBER[] = {
	[SMS_ENC_AUTO] = "", [SMS_ENC_GSM7] = ",\"encoding\":\"gsm7\"", [SMS_ENC_UCS2] = ",\"encoding\":\"ucs2\"",
};

/* ---- UTF-8 --------------------------------------------------------------- */


/* The code points of valid UTF-8 s (at most max); their count. */
static size_t decode_all(const char *s, size_t len, uint32_t *out, size_t max)
{
	size_t pos = 0, n = 0;
	while (pos < len && n < max) {
		uint32_t c;
		assert_int_equal(utf8_decode(s, len, &pos, &c), 0);
		out[n++] = c;
	}
	assert_true(pos == len);
	return n;
}

/* ---- The model -------------------------------------------------------------- */

static uint32_t gsm7_basic[128], gsm7_ext[16];
static size_t n_basic, n_ext;

static int load_alphabet(void **state)
{
	(void)state;
	n_basic = decode_all(GSM7_ALPHABET, strlen(GSM7_ALPHABET), gsm7_basic, ARRAY_SIZE(gsm7_basic));
	n_ext = decode_all(GSM7_EXTENSION, strlen(GSM7_EXTENSION), gsm7_ext, ARRAY_SIZE(gsm7_ext));
	return n_basic == 127 && n_ext == 10 ? 0 : -1;
}

static unsigned model_septets(uint32_t c)
{
	for (size_t i = 0; i < n_basic; i++)
		if (gsm7_basic[i] == c)
			return 1;
	for (size_t i = 0; i < n_ext; i++)
		if (gsm7_ext[i] == c)
			return 2;
	return 0;
}

/* What a body must give: the model's answer. */
struct model {
	const char *code; /* the body's error code, or NULL */
	uint32_t text[MAX_CHARS * 3];
	size_t n;         /* characters after smart encoding */
	unsigned replaced;
	enum sms_encoding encoding;
	unsigned units, segments, per_segment, remaining;
	uint32_t non_gsm7[MAX_CHARS];
	size_t n_non_gsm7;
};

/* Packs characters of cost[] into parts: 1 segment when the total fits single, else parts of multi, none split. */
static void model_pack(const unsigned *cost, size_t n, unsigned single, unsigned multi, struct model *m)
{
	unsigned total = 0, parts = 0, fill = 0;
	for (size_t i = 0; i < n; i++) {
		total += cost[i];
		if (parts == 0 || fill + cost[i] > multi) {
			parts++;
			fill = 0;
		}
		fill += cost[i];
	}
	m->units = total;
	if (total <= single) {
		m->segments = 1;
		m->per_segment = single;
		m->remaining = single - total;
	} else {
		m->segments = parts;
		m->per_segment = multi;
		m->remaining = multi - fill;
	}
}

/* The model on a valid, NUL-free, non-empty text of n code points. */
static void model_run(const uint32_t *in, size_t n, enum sms_encoding_req req, bool smart, unsigned max_segments,
		      struct model *m)
{
	static unsigned cost[MAX_CHARS * 3];
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		const char *to = smart ? smart_encoding_of(in[i]) : NULL;
		if (!to) {
			m->text[m->n++] = in[i];
			continue;
		}
		m->replaced++;
		for (const char *p = to; *p; p++)
			m->text[m->n++] = (unsigned char)*p;
	}
	if (m->n == 0) {
		m->code = "empty_body";
		return;
	}
	bool all_gsm7 = true;
	for (size_t i = 0; i < m->n; i++) {
		if (model_septets(m->text[i]))
			continue;
		all_gsm7 = false;
		bool seen = false;
		for (size_t k = 0; k < m->n_non_gsm7 && !seen; k++)
			seen = m->non_gsm7[k] == m->text[i];
		if (!seen)
			m->non_gsm7[m->n_non_gsm7++] = m->text[i];
	}
	if (req == SMS_ENC_GSM7 && !all_gsm7) {
		m->code = "not_gsm7";
		return;
	}
	if (req != SMS_ENC_UCS2 && all_gsm7) {
		m->encoding = SMS_GSM7;
		for (size_t i = 0; i < m->n; i++)
			cost[i] = model_septets(m->text[i]);
		model_pack(cost, m->n, 160, 153, m);
	} else {
		m->encoding = SMS_UCS2;
		for (size_t i = 0; i < m->n; i++)
			cost[i] = m->text[i] > 0xFFFF ? 2 : 1;
		model_pack(cost, m->n, 70, 67, m);
	}
	if (m->segments > max_segments)
		m->code = "too_many_segments";
}

/* ---- The three paths ---------------------------------------------------------- */

/* {"to":...,"from":...,"body":<body>,<members>} */
static void send_json(struct buf *json, const char *body, size_t len, const char *members)
{
	buf_reset(json);
	buf_adds(json, "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":");
	buf_add_json_str(json, body, len);
	buf_adds(json, members);
	buf_addc(json, '}');
}

/* What a case is called in a failure message. */
static char case_name[160];

static void same_item(const struct sms_item *a, const struct sms_item *b, const char *what)
{
	if (a->nerrors != b->nerrors)
		fail_msg("%s: %d errors in send, %d in %s", case_name, a->nerrors, b->nerrors, what);
	for (int i = 0; i < a->nerrors; i++) {
		if (strcmp(a->errors[i].field, b->errors[i].field) || strcmp(a->errors[i].code, b->errors[i].code) ||
		    strcmp(a->errors[i].detail, b->errors[i].detail))
			fail_msg("%s: send says %s %s (%s), %s says %s %s (%s)", case_name, a->errors[i].field,
				 a->errors[i].code, a->errors[i].detail, what, b->errors[i].field, b->errors[i].code,
				 b->errors[i].detail);
	}
	if (a->nerrors)
		return;
	if (a->encoding != b->encoding || a->segments != b->segments || a->units != b->units ||
	    a->per_segment != b->per_segment || a->remaining != b->remaining || a->replaced != b->replaced ||
	    a->smart != b->smart || a->body_len != b->body_len || memcmp(a->body, b->body, a->body_len) != 0)
		fail_msg("%s: send gives %s %u units %u segments, %s gives %s %u units %u segments", case_name,
			 sms_encoding_name(a->encoding), a->units, a->segments, what, sms_encoding_name(b->encoding),
			 b->units, b->segments);
}

/* The same item as the only message of a bulk request. */
static void check_bulk(const char *item_json, size_t len, const struct request_limits *lim,
		       const struct sms_item *sent)
{
	struct buf json;
	struct sms_item *items;
	size_t n;
	char detail[200];

	buf_init(&json);
	buf_adds(&json, "{\"messages\":[");
	buf_add(&json, item_json, len);
	buf_adds(&json, "]}");
	assert_int_equal(request_parse_bulk(json.data, json.len, lim, &items, &n, detail, sizeof(detail)), 0);
	assert_int_equal(n, 1);
	same_item(sent, &items[0], "bulk");
	items_free(items, n);
	buf_release(&json);
}

static json_object *member(json_object *o, const char *name)
{
	json_object *v;
	if (!json_object_object_get_ex(o, name, &v))
		fail_msg("%s: the preview has no %s", case_name, name);
	return v;
}

static int64_t int_member(json_object *o, const char *name)
{
	json_object *v = member(o, name);
	if (!json_object_is_type(v, json_type_int))
		fail_msg("%s: preview %s is not an integer", case_name, name);
	return json_object_get_int64(v);
}

/* The preview answer of a valid item: its members, and each agrees with the item. */
static void check_preview(const struct sms_item *it, const struct model *m)
{
	struct buf b;
	buf_init(&b);
	preview_json(it, &b);
	json_tokener *tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *o = json_tokener_parse_ex(tok, b.data, (int)b.len);
	if (!o || json_tokener_get_parse_end(tok) != b.len)
		fail_msg("%s: the preview is not one JSON value: %.200s", case_name, b.data);
	json_tokener_free(tok);

	static const char *const documented[] = { "to", "from", "encoding", "segments", "characters",
						  "charactersPerSegment", "charactersRemaining", "nonGsmCharacters",
						  "replacedCharacters", "body" };
	json_object_object_foreach(o, key, val) {
		(void)val;
		bool known = false;
		for (size_t i = 0; i < ARRAY_SIZE(documented) && !known; i++)
			known = !strcmp(key, documented[i]);
		if (!known)
			fail_msg("%s: the preview has an undocumented member %s", case_name, key);
	}
	assert_int_equal(json_object_object_length(o), ARRAY_SIZE(documented) - (it->smart ? 0 : 1));
	assert_string_equal(json_object_get_string(member(o, "to")), it->to);
	assert_string_equal(json_object_get_string(member(o, "from")), it->from);
	assert_string_equal(json_object_get_string(member(o, "encoding")), sms_encoding_name(it->encoding));
	assert_int_equal(int_member(o, "segments"), it->segments);
	assert_int_equal(int_member(o, "characters"), it->units);
	assert_int_equal(int_member(o, "charactersPerSegment"), it->per_segment);
	assert_int_equal(int_member(o, "charactersRemaining"), it->remaining);
	if (it->smart)
		assert_int_equal(int_member(o, "replacedCharacters"), it->replaced);
	json_object *body = member(o, "body");
	assert_int_equal(json_object_get_string_len(body), it->body_len);
	assert_memory_equal(json_object_get_string(body), it->body, it->body_len);

	json_object *list = member(o, "nonGsmCharacters");
	assert_true(json_object_is_type(list, json_type_array));
	if (json_object_array_length(list) != m->n_non_gsm7)
		fail_msg("%s: %zu nonGsmCharacters, the model finds %zu", case_name, json_object_array_length(list),
			 m->n_non_gsm7);
	for (size_t i = 0; i < m->n_non_gsm7; i++) {
		json_object *e = json_object_array_get_idx(list, i);
		uint32_t c[2];
		assert_int_equal(decode_all(json_object_get_string(e), (size_t)json_object_get_string_len(e), c, 2), 1);
		if (c[0] != m->non_gsm7[i])
			fail_msg("%s: nonGsmCharacters[%zu] is U+%04X, the model says U+%04X", case_name, i, (unsigned)c[0],
				 (unsigned)m->non_gsm7[i]);
	}
	if (it->encoding == SMS_GSM7)
		assert_int_equal(m->n_non_gsm7, 0);
	json_object_put(o);
	buf_release(&b);
}

/* The item agrees with the model. */
static void check_model(const struct sms_item *it, const struct model *m)
{
	if (m->code) {
		if (it->nerrors != 1 || strcmp(it->errors[0].code, m->code) != 0)
			fail_msg("%s: want %s, got %d errors (%s)", case_name, m->code, it->nerrors,
				 it->nerrors ? it->errors[0].code : "none");
		return;
	}
	if (it->nerrors)
		fail_msg("%s: %s (%s), the model accepts it", case_name, it->errors[0].code, it->errors[0].detail);
	uint32_t *got = malloc(sizeof(uint32_t) * (it->body_len + 1));
	assert_non_null(got);
	size_t n = decode_all(it->body, it->body_len, got, it->body_len + 1);
	bool same_text = n == m->n && memcmp(got, m->text, n * sizeof(uint32_t)) == 0;
	free(got);
	if (!same_text)
		fail_msg("%s: the stored body is not the model's text", case_name);
	if (it->encoding != m->encoding || it->units != m->units || it->segments != m->segments ||
	    it->per_segment != m->per_segment || it->remaining != m->remaining || it->replaced != m->replaced)
		fail_msg("%s: %s %u units, %u segments of %u, %u left, %u replaced; the model: %s %u, %u of %u, %u left, "
			 "%u replaced",
			 case_name, sms_encoding_name(it->encoding), it->units, it->segments, it->per_segment,
			 it->remaining, it->replaced, sms_encoding_name(m->encoding), m->units, m->segments,
			 m->per_segment, m->remaining, m->replaced);
}

/* The segments of body + extra 'a' characters through the send parser, with room for up to 255 segments. */
static unsigned segments_with(const char *body, size_t len, size_t extra, const char *members)
{
	struct request_limits lim = { 255, 1000, 0 };
	struct buf json, longer;
	struct sms_item it;
	char detail[200];

	buf_init(&json);
	buf_init(&longer);
	buf_add(&longer, body, len);
	for (size_t i = 0; i < extra; i++)
		buf_addc(&longer, 'a');
	send_json(&json, longer.data, longer.len, members);
	if (request_parse_send(json.data, json.len, &lim, &it, detail, sizeof(detail)) != 0)
		fail_msg("%s: with %zu more characters the body is refused", case_name, extra);
	unsigned segments = it.segments;
	item_release(&it);
	buf_release(&json);
	buf_release(&longer);
	return segments;
}

/*
 * One body through send, bulk and preview, in one requested encoding, with
 * or without smartEncoding. text[0..n) is its code points when it is valid,
 * NUL-free text (the model runs), else NULL.
 */
static void check_body(const char *body, size_t len, const uint32_t *text, size_t n, enum sms_encoding_req req,
		       bool smart, unsigned max_segments)
{
	struct request_limits lim = { max_segments, 1000, 0 };
	struct buf json, members;
	struct sms_item it;
	char detail[200];

	buf_init(&json);
	buf_init(&members);
	buf_adds(&members, ENCODING_MEMBER[req]);
	if (smart)
		buf_adds(&members, ",\"smartEncoding\":true");
	send_json(&json, body, len, members.data);
	int rc = request_parse_send(json.data, json.len, &lim, &it, detail, sizeof(detail));
	if (rc < 0)
		fail_msg("%s: not JSON: %s", case_name, detail);
	check_bulk(json.data, json.len, &lim, &it);
	if (text) {
		static struct model m;
		model_run(text, n, req, smart, max_segments, &m);
		check_model(&it, &m);
		if (rc == 0)
			check_preview(&it, &m);
	}
	if (rc == 0) {
		unsigned same = segments_with(body, len, it.remaining, members.data);
		unsigned more = segments_with(body, len, it.remaining + 1, members.data);
		if (same != it.segments || more != it.segments + 1)
			fail_msg("%s: %u segments, %u left; with %u more: %u segments, with %u more: %u", case_name,
				 it.segments, it.remaining, it.remaining, same, it.remaining + 1, more);
	}
	item_release(&it);
	buf_release(&members);
	buf_release(&json);
}

/* ---- The corpus ------------------------------------------------------------------ */

static void test_corpus(void **state)
{
	static char body[8192];
	static uint32_t text[8192];

	(void)state;
	for (size_t i = 0; i < SEGMENT_CORPUS_LEN; i++) {
		const struct seg_case *tc = &SEGMENT_CORPUS[i];
		size_t len = corpus_body(tc, body, sizeof(body));
		assert_true(len != SIZE_MAX);
		bool is_text = tc->result == SEG_OK || tc->result == SEG_NOT_GSM7 || tc->result == SEG_EMPTY;
		size_t n = is_text ? decode_all(body, len, text, ARRAY_SIZE(text)) : 0;
		for (int smart = 0; smart <= 1; smart++) {
			snprintf(case_name, sizeof(case_name), "corpus \"%s\"%s", tc->name, smart ? ", smartEncoding" : "");
			/* the corpus counts up to 11 segments: room for them, then the default of 10 */
			check_body(body, len, is_text ? text : NULL, n, tc->req, smart, 20);
			check_body(body, len, is_text ? text : NULL, n, tc->req, smart, 10);
		}
		/* the corpus's own expectations, through the send parser */
		struct request_limits lim = { 20, 1000, 0 };
		struct buf json;
		struct sms_item it;
		char detail[200];
		buf_init(&json);
		send_json(&json, body, len, ENCODING_MEMBER[tc->req]);
		int rc = request_parse_send(json.data, json.len, &lim, &it, detail, sizeof(detail));
		if (tc->result == SEG_OK) {
			if (rc != 0 || it.encoding != tc->encoding || it.units != tc->units || it.segments != tc->segments)
				fail_msg("corpus \"%s\": rc %d, %s %u units %u segments; want %s %u %u", tc->name, rc,
					 sms_encoding_name(it.encoding), it.units, it.segments,
					 sms_encoding_name(tc->encoding), tc->units, tc->segments);
		} else {
			assert_int_equal(rc, 1);
		}
		item_release(&it);
		buf_release(&json);
	}
}

/* ---- Random bodies ------------------------------------------------------------------ */

static uint64_t rng = 0x9E3779B97F4A7C15u; /* fixed: a failure names its case number and repeats */

static uint32_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static uint32_t pick(const uint32_t *set, size_t n) { return set[next_random() % n]; }

static const uint32_t BASIC[] = { 'a', 'b', 'z', 'A', 'Q', '0', '7', ' ', '.', ',', '!', '?', '\'', '"', '-', '@',
				  '\n', '\r', 0x00E9, 0x00A3, 0x0394, 0x00BF, 0x00C4, 0x00DF, 0x00E0, 0x00A4 };
static const uint32_t EXTENSION[] = { '^', '{', '}', '\\', '[', '~', ']', '|', 0x20AC, 0x000C };
static const uint32_t NON_GSM7[] = { 0x0436, 0x00E7, 0x0060, 0x4E2D, 0x00E1, '\t', 0x00FF, 0xFFFD, 0x1B };
static const uint32_t ASTRAL[] = { 0x1F600, 0x10FFFF, 0x1D11E, 0x1F44D };

/* One character of the profile's classes: bit 0 basic, 1 extension, 2 smart table, 3 non-GSM, 4 astral. */
static uint32_t random_char(unsigned profile)
{
	for (;;) {
		unsigned cls = next_random() % 8; /* basic twice as likely as each other class */
		if (cls >= 5)
			cls = 0;
		if (!(profile & (1u << cls)))
			continue;
		switch (cls) {
		case 0:
			return pick(BASIC, ARRAY_SIZE(BASIC));
		case 1:
			return pick(EXTENSION, ARRAY_SIZE(EXTENSION));
		case 2:
			return smart_encoding_table[next_random() % smart_encoding_table_len].from;
		case 3:
			return pick(NON_GSM7, ARRAY_SIZE(NON_GSM7));
		default:
			return pick(ASTRAL, ARRAY_SIZE(ASTRAL));
		}
	}
}

/* Mostly lengths near the boundaries: 70, 134, 160, 306, 1530 (10 segments), or anything. */
static size_t random_length(void)
{
	static const unsigned near[] = { 5, 67, 70, 134, 153, 160, 306, 459, 670, 1530 };
	unsigned r = next_random() % 12;
	if (r == 0)
		return next_random() % 1700;
	if (r == 1)
		return next_random() % 12;
	size_t base = near[next_random() % ARRAY_SIZE(near)];
	return base - 6 + next_random() % 13;
}

static void test_random_bodies(void **state)
{
	/* basic; +extension; +smart; +extension+smart; everything; +non-GSM; +astral+smart; only smart */
	static const unsigned profiles[] = { 0x01, 0x03, 0x05, 0x07, 0x1F, 0x09, 0x15, 0x04 };
	static uint32_t text[MAX_CHARS];
	static char body[MAX_CHARS * 4];

	(void)state;
	for (unsigned round = 0; round < 1200; round++) {
		unsigned profile = profiles[next_random() % ARRAY_SIZE(profiles)];
		size_t n = random_length(), len = 0;
		if (n > MAX_CHARS)
			n = MAX_CHARS;
		for (size_t i = 0; i < n; i++) {
			text[i] = random_char(profile);
			len += utf8_encode(text[i], body + len);
		}
		for (int req = SMS_ENC_AUTO; req <= SMS_ENC_UCS2; req++) {
			for (int smart = 0; smart <= 1; smart++) {
				snprintf(case_name, sizeof(case_name),
					 "random body %u (%zu characters, profile %#x), encoding %d%s", round, n, profile, req,
					 smart ? ", smartEncoding" : "");
				check_body(body, len, text, n, (enum sms_encoding_req)req, smart, 10);
			}
		}
	}
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_random_bodies),
	};
	return cmocka_run_group_tests_name("preview", tests, load_alphabet, NULL);
}
