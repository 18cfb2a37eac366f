/* Helpers of the fuzz targets (see util.h). */
#include "util.h"

#include <json-c/json.h>
#include <string.h>
#include <strings.h>

#include "e164.h"
#include "lib/sha256.h"
#include "lib/timeutil.h"
#include "lib/xmalloc.h"
#include "preview.h"
#include "segments.h"
#include "smart_encoding.h"
#include "lib/banned.h"

char *fuzz_cstr(const uint8_t *data, size_t size) { return xstrndup((const char *)data, size); }

char **fuzz_split_lines(const uint8_t *data, size_t size, size_t *n)
{
	size_t count = 1;
	for (size_t i = 0; i < size; i++)
		count += data[i] == '\n';
	char **v = xcalloc(count + 1, sizeof(*v));
	size_t start = 0, k = 0;
	for (size_t i = 0; i <= size; i++) {
		if (i == size || data[i] == '\n') {
			v[k++] = xstrndup((const char *)data + start, i - start);
			start = i + 1;
		}
	}
	*n = k;
	return v;
}

void fuzz_strv_free(char **v)
{
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* Unicode table 3-7: the lead byte gives the range of the second byte; the others are 80..BF. */
bool fuzz_utf8_ref(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t b = s[i];
		size_t n;
		uint8_t lo = 0x80, hi = 0xBF;
		if (b <= 0x7F) {
			i++;
			continue;
		} else if (b >= 0xC2 && b <= 0xDF) {
			n = 2;
		} else if (b == 0xE0) {
			n = 3, lo = 0xA0;
		} else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
			n = 3;
		} else if (b == 0xED) {
			n = 3, hi = 0x9F;
		} else if (b == 0xF0) {
			n = 4, lo = 0x90;
		} else if (b >= 0xF1 && b <= 0xF3) {
			n = 4;
		} else if (b == 0xF4) {
			n = 4, hi = 0x8F;
		} else {
			return false;
		}
		if (len - i < n || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k < n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xBF)
				return false;
		i += n;
	}
	return true;
}

bool fuzz_terminated(const char *s, size_t len) { return memchr(s, '\0', len) != NULL; }

static size_t chars_of(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

static void check_valid_item(const struct sms_item *it, const struct request_limits *lim)
{
	char norm[E164_OUT_SIZE + 8], detail[128];

	/* to: "+" and 7-15 digits, and normalizing it again changes nothing */
	FUZZ_CHECK(fuzz_terminated(it->to, sizeof(it->to)), "to not terminated");
	FUZZ_CHECK(e164_normalize(it->to, strlen(it->to), norm, detail, sizeof(detail)) == E164_OK &&
			   !strcmp(norm, it->to),
		   "normalized to \"%s\" does not normalize to itself (\"%s\", %s)", it->to, norm, detail);
	FUZZ_CHECK(it->from, "valid item without from");
	FUZZ_CHECK(sender_valid(it->from, strlen(it->from), norm, sizeof(norm)) && !strcmp(norm, it->from),
		   "normalized from \"%s\" is not its own normal form \"%s\"", it->from, norm);

	FUZZ_CHECK(it->body && it->body_len > 0, "valid item without body");
	FUZZ_CHECK(!memchr(it->body, '\0', it->body_len), "body holds NUL");
	FUZZ_CHECK(it->body[it->body_len] == '\0', "body not terminated at body_len");
	FUZZ_CHECK(fuzz_utf8_ref((const uint8_t *)it->body, it->body_len), "body is not strict UTF-8");
	struct seg_info info;
	enum sms_encoding_req req = it->encoding == SMS_GSM7 ? SMS_ENC_GSM7 : SMS_ENC_UCS2;
	FUZZ_CHECK(it->encoding == SMS_GSM7 || it->encoding == SMS_UCS2, "encoding %d", (int)it->encoding);
	FUZZ_CHECK(sms_segments(it->body, it->body_len, req, &info, NULL, 0) == SEG_OK &&
			   info.encoding == it->encoding && info.segments == it->segments && info.units == it->units &&
			   info.per_segment == it->per_segment && info.remaining == it->remaining,
		   "body recounted in %s gives %u segments, the item says %u", sms_encoding_name(it->encoding),
		   info.segments, it->segments);
	/* smart encoding: what is stored has nothing left to replace */
	if (it->smart) {
		struct buf again;
		buf_init(&again);
		FUZZ_CHECK(smart_encode(it->body, it->body_len, &again) == 0, "a smart-encoded body has more to replace");
		buf_release(&again);
	} else {
		FUZZ_CHECK(it->replaced == 0, "%u replaced without smartEncoding", it->replaced);
	}
	FUZZ_CHECK(it->segments >= 1 && (int64_t)it->segments <= lim->max_segments, "segments %u over %lld",
		   it->segments, (long long)lim->max_segments);

	if (it->client_reference) {
		size_t n = strlen(it->client_reference);
		FUZZ_CHECK(fuzz_utf8_ref((const uint8_t *)it->client_reference, n) &&
				   chars_of(it->client_reference, n) <= 64,
			   "clientReference \"%s\" breaks its rule", it->client_reference);
	}
	if (it->callback_url) {
		size_t n = strlen(it->callback_url);
		FUZZ_CHECK(n > 8 && n <= 2048 && !strncasecmp(it->callback_url, "https://", 8), "callbackUrl \"%s\"",
			   it->callback_url);
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK((unsigned char)it->callback_url[i] > 0x20 &&
					   (unsigned char)it->callback_url[i] < 0x7f,
				   "callbackUrl byte 0x%02x", (unsigned char)it->callback_url[i]);
	}
	FUZZ_CHECK(it->validity_s >= VALIDITY_MIN_S && it->validity_s <= VALIDITY_MAX_S, "validity %lld",
		   (long long)it->validity_s);
}

/* What the API answers with: strict JSON, valid UTF-8, one object per error. */
static void check_errors_json(const struct sms_item *it)
{
	struct buf b;
	buf_init(&b);
	item_errors_json(it, &b);
	FUZZ_CHECK(fuzz_utf8_ref((const uint8_t *)b.data, b.len), "errors JSON is not UTF-8: %s", b.data);
	json_tokener *tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *arr = json_tokener_parse_ex(tok, b.data, (int)b.len);
	FUZZ_CHECK(arr && json_tokener_get_error(tok) == json_tokener_success &&
			   json_tokener_get_parse_end(tok) == b.len && json_object_is_type(arr, json_type_array) &&
			   json_object_array_length(arr) == (size_t)it->nerrors,
		   "errors JSON does not parse back: %s", b.data);
	json_tokener_free(tok);
	json_object_put(arr);
	buf_release(&b);
}

void fuzz_check_item(const struct sms_item *it, const struct request_limits *lim)
{
	FUZZ_CHECK(it->nerrors >= 0 && it->nerrors <= ITEM_MAX_ERRORS, "nerrors %d", it->nerrors);
	for (int i = 0; i < it->nerrors; i++) {
		const struct field_error *e = &it->errors[i];
		FUZZ_CHECK(e->code && e->code[0], "error %d without code", i);
		FUZZ_CHECK(fuzz_terminated(e->field, sizeof(e->field)) && fuzz_terminated(e->detail, sizeof(e->detail)),
			   "error %d not terminated", i);
	}
	check_errors_json(it);
	if (it->nerrors == 0)
		check_valid_item(it, lim);
}

char *fuzz_item_json(const struct sms_item *it, size_t *len)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "to", json_object_new_string(it->to));
	json_object_object_add(o, "from", json_object_new_string(it->from));
	json_object_object_add(o, "body", json_object_new_string_len(it->body, (int)it->body_len));
	json_object_object_add(o, "encoding", json_object_new_string(it->encoding == SMS_GSM7 ? "gsm7" : "ucs2"));
	if (it->client_reference)
		json_object_object_add(o, "clientReference", json_object_new_string(it->client_reference));
	json_object_object_add(o, "validityPeriod", json_object_new_int64(it->validity_s));
	if (it->callback_url)
		json_object_object_add(o, "callbackUrl", json_object_new_string(it->callback_url));
	if (it->high)
		json_object_object_add(o, "priority", json_object_new_string("high"));
	if (it->send_at_ms) {
		char at[40];
		rfc3339_ms(it->send_at_ms, at, sizeof(at));
		json_object_object_add(o, "sendAt", json_object_new_string(at));
	}
	/* the body is already replaced: smart encoding again replaces nothing, and the fingerprint keeps the flag */
	if (it->smart)
		json_object_object_add(o, "smartEncoding", json_object_new_boolean(1));
	size_t n;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &n);
	char *out = xmalloc(n + 1);
	memcpy(out, s, n + 1);
	json_object_put(o);
	*len = n;
	return out;
}

/* The preview answer of a valid item: strict JSON in UTF-8 whose members say what the item holds. */
void fuzz_check_preview(const struct sms_item *it)
{
	struct buf b;
	buf_init(&b);
	preview_json(it, &b);
	json_tokener *tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *o = json_tokener_parse_ex(tok, b.data, (int)b.len), *v;
	FUZZ_CHECK(o && json_tokener_get_parse_end(tok) == b.len && json_object_is_type(o, json_type_object),
		   "the preview is not one JSON object: %s", b.data);
	json_tokener_free(tok);
	FUZZ_CHECK(json_object_object_get_ex(o, "body", &v) && (size_t)json_object_get_string_len(v) == it->body_len &&
			   !memcmp(json_object_get_string(v), it->body, it->body_len),
		   "the preview body is not the item's");
	FUZZ_CHECK(json_object_object_get_ex(o, "segments", &v) && json_object_get_int64(v) == it->segments &&
			   json_object_object_get_ex(o, "charactersRemaining", &v) &&
			   json_object_get_int64(v) == it->remaining,
		   "the preview counts differ from the item's");
	FUZZ_CHECK(json_object_object_get_ex(o, "replacedCharacters", NULL) == it->smart,
		   "replacedCharacters without smartEncoding, or missing with it");
	FUZZ_CHECK(json_object_object_get_ex(o, "nonGsmCharacters", &v) && json_object_is_type(v, json_type_array),
		   "no nonGsmCharacters array");
	size_t n = json_object_array_length(v);
	FUZZ_CHECK(it->encoding == SMS_UCS2 || n == 0, "a GSM7 message with %zu non-GSM characters", n);
	for (size_t i = 0; i < n; i++) {
		const char *c = json_object_get_string(json_object_array_get_idx(v, i));
		size_t clen = strlen(c), pos = 0;
		uint32_t cp;
		FUZZ_CHECK(utf8_decode(c, clen, &pos, &cp) == 0 && pos == clen && !sms_gsm7_septets(cp),
			   "nonGsmCharacters[%zu] is not one character outside GSM 03.38", i);
		bool found = false;
		for (size_t at = 0; at + clen <= it->body_len && !found; at++)
			found = !memcmp(it->body + at, c, clen);
		FUZZ_CHECK(found, "nonGsmCharacters[%zu] is not in the body", i);
		for (size_t k = 0; k < i; k++)
			FUZZ_CHECK(strcmp(c, json_object_get_string(json_object_array_get_idx(v, k))),
				   "nonGsmCharacters lists %s twice", c);
	}
	json_object_put(o);
	buf_release(&b);
}

static void fingerprint(const struct sms_item *it, unsigned char d[SHA256_DIGEST_LEN])
{
	struct sha256 s;
	sha256_init(&s);
	item_fingerprint(&s, it);
	sha256_final(&s, d);
}

static bool same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

void fuzz_check_same_item(const struct sms_item *a, const struct sms_item *b, const char *what)
{
	FUZZ_CHECK(a->nerrors == b->nerrors, "%s: %d errors, then %d (first: %s %s)", what, a->nerrors, b->nerrors,
		   a->nerrors ? a->errors[0].code : "-", b->nerrors ? b->errors[0].code : "-");
	for (int i = 0; i < a->nerrors; i++)
		FUZZ_CHECK(!strcmp(a->errors[i].field, b->errors[i].field) &&
				   !strcmp(a->errors[i].code, b->errors[i].code) &&
				   !strcmp(a->errors[i].detail, b->errors[i].detail),
			   "%s: error %d is %s/%s/%s, then %s/%s/%s", what, i, a->errors[i].field, a->errors[i].code,
			   a->errors[i].detail, b->errors[i].field, b->errors[i].code, b->errors[i].detail);
	if (a->nerrors)
		return;
	FUZZ_CHECK(!strcmp(a->to, b->to) && same_str(a->from, b->from), "%s: to/from %s %s, then %s %s", what, a->to,
		   a->from, b->to, b->from);
	FUZZ_CHECK(a->body_len == b->body_len && !memcmp(a->body, b->body, a->body_len), "%s: body differs", what);
	FUZZ_CHECK(a->encoding == b->encoding && a->segments == b->segments && a->units == b->units &&
			   a->remaining == b->remaining && a->per_segment == b->per_segment,
		   "%s: %s/%u, then %s/%u", what, sms_encoding_name(a->encoding), a->segments,
		   sms_encoding_name(b->encoding), b->segments);
	FUZZ_CHECK(a->smart == b->smart && a->high == b->high && a->send_at_ms == b->send_at_ms,
		   "%s: smartEncoding, priority or sendAt differ", what);
	FUZZ_CHECK(same_str(a->client_reference, b->client_reference) && same_str(a->callback_url, b->callback_url) &&
			   a->validity_s == b->validity_s,
		   "%s: clientReference, callbackUrl or validityPeriod differ", what);
	unsigned char da[SHA256_DIGEST_LEN], db[SHA256_DIGEST_LEN];
	fingerprint(a, da);
	fingerprint(b, db);
	FUZZ_CHECK(!memcmp(da, db, sizeof(da)), "%s: same fields, different fingerprints", what);
}

void fuzz_check_roundtrip(const struct sms_item *it, const struct request_limits *lim)
{
	size_t len;
	char *json = fuzz_item_json(it, &len), detail[160];
	struct sms_item again;
	int rc = request_parse_send(json, len, lim, &again, detail, sizeof(detail));
	FUZZ_CHECK(rc == 0, "the item re-serialized does not parse back (rc %d, %s, first error %s %s): %s", rc, detail,
		   again.nerrors ? again.errors[0].field : "-", again.nerrors ? again.errors[0].detail : "-", json);
	fuzz_check_same_item(it, &again, "re-serialized item");
	item_release(&again);
	free(json);
}
