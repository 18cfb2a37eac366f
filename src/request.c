/*
 * Request parsing and validation (see request.h). json-c does the JSON in
 * strict mode, after a pre-scan refuses what json-c would silently rewrite:
 * an unpaired UTF-16 surrogate escape (json-c makes it U+FFFD), \u0000 in a
 * member name (json-c cuts the name there, so "from\u0000x" would replace
 * "from"), raw control characters in strings (RFC 8259 forbids them), and
 * the numbers and words json-c takes even in strict mode though JSON has
 * none of them (NaN, Infinity, 1., 1.e5, -01).
 * Every string value is then checked as bytes, so what reaches the database
 * is valid UTF-8 with no NUL.
 */
#include "request.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/sha256.h"
#include "lib/xmalloc.h"
#include "smart_encoding.h"
#include "lib/timeutil.h"
#include "lib/banned.h"

static void add_error(struct sms_item *it, const char *field, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_error(struct sms_item *it, const char *field, const char *code, const char *fmt, ...)
{
	if (it->nerrors == ITEM_MAX_ERRORS)
		return;
	struct field_error *e = &it->errors[it->nerrors++];
	snprintf(e->field, sizeof(e->field), "%s", field);
	e->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
}

/* Unicode characters in valid UTF-8. */
static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

bool sender_valid(const char *s, size_t len, char *out, size_t outlen)
{
	size_t digits = 0, letters = 0, others = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isdigit(c))
			digits++;
		else if (isalpha(c))
			letters++;
		else if (c != ' ')
			others++;
	}
	if (len >= 1 && len <= 11 && letters > 0 && others == 0) {
		snprintf(out, outlen, "%.*s", (int)len, s);
		return true;
	}
	if (digits == len && len >= 3 && len <= 8) {
		snprintf(out, outlen, "%.*s", (int)len, s);
		return true;
	}
	char e164[E164_OUT_SIZE], detail[8];
	if (len > 0 && (s[0] == '+' || (len > 1 && s[0] == '0' && s[1] == '0')) &&
	    e164_normalize(s, len, e164, detail, sizeof(detail)) == E164_OK) {
		snprintf(out, outlen, "%s", e164);
		return true;
	}
	return false;
}

bool idempotency_key_valid(const char *key, size_t len)
{
	bool ok = len >= 1 && len <= IDEMPOTENCY_KEY_MAX;
	for (size_t i = 0; ok && i < len; i++)
		ok = key[i] > 0x20 && key[i] < 0x7f;
	return ok;
}

/* Reads a string member; false (with an error) when present with another type. */
static bool get_string(struct sms_item *it, json_object *obj, const char *key, const char **s, size_t *len)
{
	json_object *v;
	*s = NULL;
	*len = 0;
	if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
		return true;
	if (!json_object_is_type(v, json_type_string)) {
		add_error(it, key, "invalid_type", "%s must be a string", key);
		return false;
	}
	*s = json_object_get_string(v);
	*len = (size_t)json_object_get_string_len(v);
	return true;
}

static void check_to(struct sms_item *it, json_object *obj)
{
	const char *s;
	size_t len;
	if (!get_string(it, obj, "to", &s, &len))
		return;
	if (!s) {
		add_error(it, "to", "missing_field", "to is required");
		return;
	}
	char detail[120];
	if (e164_normalize(s, len, it->to, detail, sizeof(detail)) != E164_OK)
		add_error(it, "to", "invalid_to", "%s", detail);
}

static void check_from(struct sms_item *it, json_object *obj)
{
	const char *s;
	size_t len;
	if (!get_string(it, obj, "from", &s, &len))
		return;
	if (!s) {
		add_error(it, "from", "missing_field", "from is required");
		return;
	}
	char norm[E164_OUT_SIZE + 8];
	if (!sender_valid(s, len, norm, sizeof(norm))) {
		add_error(it, "from", "invalid_from",
			  "must be 1-11 characters of A-Z a-z 0-9 and space with a letter, a 3-8 digit short code, "
			  "or an E.164 number");
		return;
	}
	it->from = xstrdup(norm);
}

static enum sms_encoding_req check_encoding(struct sms_item *it, json_object *obj)
{
	const char *s;
	size_t len;
	if (!get_string(it, obj, "encoding", &s, &len) || !s || (len == 4 && !memcmp(s, "auto", 4)))
		return SMS_ENC_AUTO;
	if (len == 4 && !memcmp(s, "gsm7", 4))
		return SMS_ENC_GSM7;
	if (len == 4 && !memcmp(s, "ucs2", 4))
		return SMS_ENC_UCS2;
	add_error(it, "encoding", "invalid_encoding", "must be auto, gsm7 or ucs2");
	return SMS_ENC_AUTO;
}

/* smartEncoding: true, false, or absent (null) for false. */
static void check_smart(struct sms_item *it, json_object *obj)
{
	json_object *v;
	if (!json_object_object_get_ex(obj, "smartEncoding", &v) || json_object_is_type(v, json_type_null))
		return;
	if (!json_object_is_type(v, json_type_boolean)) {
		add_error(it, "smartEncoding", "invalid_type", "smartEncoding must be true or false");
		return;
	}
	it->smart = json_object_get_boolean(v);
}

/*
 * The body rules. With smart encoding, the text the rules and the segment
 * count apply to is the replaced one, but only once it is text at all: an
 * empty body, invalid UTF-8 or a NUL is reported on the body as sent.
 */
static void check_body(struct sms_item *it, json_object *obj, enum sms_encoding_req req, int64_t max_segments)
{
	static const char *const codes[] = {
		[SEG_EMPTY] = "empty_body", [SEG_INVALID_UTF8] = "invalid_utf8",
		[SEG_NUL] = "nul_character", [SEG_NOT_GSM7] = "not_gsm7",
	};
	const char *s;
	size_t len;
	if (!get_string(it, obj, "body", &s, &len))
		return;
	if (!s) {
		add_error(it, "body", "missing_field", "body is required");
		return;
	}
	struct buf replaced;
	buf_init(&replaced);
	if (it->smart && len > 0 && utf8_valid(s, len) && !memchr(s, '\0', len)) {
		it->replaced = (unsigned)smart_encode(s, len, &replaced);
		s = replaced.data;
		len = replaced.len;
	}
	struct seg_info info;
	char detail[120];
	enum seg_result r = sms_segments(s, len, req, &info, detail, sizeof(detail));
	if (r == SEG_EMPTY && it->replaced) {
		add_error(it, "body", codes[r], "body is empty once smart encoding removed its %u zero-width character%s",
			  it->replaced, it->replaced == 1 ? "" : "s");
	} else if (r != SEG_OK) {
		add_error(it, "body", codes[r], "%s%s", detail,
			  r == SEG_NOT_GSM7 && it->replaced ? " (index in the text after smart encoding)" : "");
	} else if (info.segments > (unsigned)max_segments) {
		add_error(it, "body", "too_many_segments", "the body takes %u %s segments; at most %lld are allowed%s",
			  info.segments, sms_encoding_name(info.encoding), (long long)max_segments,
			  it->replaced ? " (after smart encoding)" : "");
	} else {
		it->body = xstrndup(s, len);
		it->body_len = len;
		it->encoding = info.encoding;
		it->segments = info.segments;
		it->units = info.units;
		it->per_segment = info.per_segment;
		it->remaining = info.remaining;
	}
	buf_release(&replaced);
}

static void check_client_reference(struct sms_item *it, json_object *obj)
{
	const char *s;
	size_t len;
	if (!get_string(it, obj, "clientReference", &s, &len) || !s)
		return;
	if (!utf8_valid(s, len) || memchr(s, '\0', len) || utf8_chars(s, len) > 64) {
		add_error(it, "clientReference", "invalid_client_reference",
			  "must be valid UTF-8 text of at most 64 characters without NUL");
		return;
	}
	it->client_reference = xstrndup(s, len);
}

static void check_validity(struct sms_item *it, json_object *obj)
{
	json_object *v;
	it->validity_s = VALIDITY_DEFAULT_S;
	if (!json_object_object_get_ex(obj, "validityPeriod", &v) || json_object_is_type(v, json_type_null))
		return;
	int64_t n = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
	if (n < VALIDITY_MIN_S || n > VALIDITY_MAX_S) {
		add_error(it, "validityPeriod", "invalid_validity_period", "must be an integer number of seconds, %d to %d",
			  VALIDITY_MIN_S, VALIDITY_MAX_S);
		return;
	}
	it->validity_s = n;
}

/* https://host[...]: no spaces, no control or non-ASCII bytes, a host. */
static bool https_url(const char *s, size_t len)
{
	if (len > 2048 || len <= 8 || strncasecmp(s, "https://", 8) != 0)
		return false;
	if (s[8] == '/' || s[8] == '?' || s[8] == '#' || s[8] == ':')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

static void check_callback(struct sms_item *it, json_object *obj)
{
	const char *s;
	size_t len;
	if (!get_string(it, obj, "callbackUrl", &s, &len) || !s)
		return;
	if (!https_url(s, len)) {
		add_error(it, "callbackUrl", "invalid_callback_url", "must be an https:// URL of at most 2048 characters");
		return;
	}
	it->callback_url = xstrndup(s, len);
}

static void check_priority(struct sms_item *it, json_object *obj)
{
	const char *s;
	size_t len;
	if (!get_string(it, obj, "priority", &s, &len) || !s)
		return;
	if (len == 4 && !memcmp(s, "high", 4))
		it->high = true;
	else if (!(len == 6 && !memcmp(s, "normal", 6)))
		add_error(it, "priority", "invalid_priority", "must be \"normal\" or \"high\"");
}

static void check_send_at(struct sms_item *it, json_object *obj, int64_t now_ms)
{
	const char *s;
	size_t len;
	if (!get_string(it, obj, "sendAt", &s, &len) || !s)
		return;
	int64_t at;
	if (rfc3339_parse_ms(s, len, &at) != 0) {
		add_error(it, "sendAt", "invalid_send_at",
			  "must be an RFC 3339 time with an offset, e.g. 2026-11-24T10:00:00Z or 2026-11-24T12:00:00+02:00");
		return;
	}
	if (now_ms <= 0)
		now_ms = wall_ms();
	if (at < now_ms - SEND_AT_SKEW_S * 1000) {
		add_error(it, "sendAt", "invalid_send_at", "is more than %d minutes in the past", SEND_AT_SKEW_S / 60);
		it->send_at_ms = at; /* for the fingerprint of a retry (item_only_stale_send_at) */
		it->send_at_stale = true;
		return;
	}
	if (at > now_ms + (int64_t)SEND_AT_MAX_AHEAD_S * 1000) {
		add_error(it, "sendAt", "invalid_send_at", "is more than %d days ahead", SEND_AT_MAX_AHEAD_S / 86400);
		return;
	}
	it->send_at_ms = at;
	it->scheduled = at > now_ms;
}

static void check_unknown(struct sms_item *it, json_object *obj)
{
	static const char *const known[] = { "to", "from", "body", "encoding", "clientReference", "validityPeriod",
					     "callbackUrl", "priority", "sendAt", "smartEncoding" };
	json_object_object_foreach(obj, key, val) {
		(void)val;
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]) && !ok; i++)
			ok = !strcmp(key, known[i]);
		if (!ok) {
			char shown[48];
			size_t n = 0;
			for (const char *p = key; *p && n + 1 < sizeof(shown); p++)
				shown[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
			shown[n] = '\0';
			add_error(it, shown, "unknown_field", "unknown field \"%s\"", shown);
		}
	}
}

static void validate_item(json_object *obj, const struct request_limits *lim, struct sms_item *it)
{
	memset(it, 0, sizeof(*it));
	if (!json_object_is_type(obj, json_type_object)) {
		add_error(it, "(item)", "invalid_type", "a message must be a JSON object");
		return;
	}
	check_unknown(it, obj);
	check_to(it, obj);
	check_from(it, obj);
	enum sms_encoding_req req = check_encoding(it, obj);
	check_smart(it, obj);
	check_body(it, obj, req, lim->max_segments);
	check_client_reference(it, obj);
	check_validity(it, obj);
	check_callback(it, obj);
	check_priority(it, obj);
	check_send_at(it, obj, lim->now_ms);
}

static int hex4(const char *p, const char *end)
{
	if (end - p < 4)
		return -1;
	int v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + d;
	}
	return v;
}

/*
 * Scans one string token starting after its opening quote; returns a pointer
 * after the closing quote, or NULL with detail. *has_nul tells whether it
 * holds a \u0000 escape.
 */
static const char *scan_string(const char *p, const char *end, bool *has_nul, char *detail, size_t dlen)
{
	*has_nul = false;
	while (p < end && *p != '"') {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20) {
			snprintf(detail, dlen, "the body is not valid JSON: a control character inside a string");
			return NULL;
		}
		if (c != '\\') {
			p++;
			continue;
		}
		if (end - p < 2)
			return end; /* a lone backslash at the end: json-c reports it */
		if (p[1] != 'u') {
			p += 2;
			continue;
		}
		int u = hex4(p + 2, end);
		if (u < 0)
			return p + 2; /* json-c reports the bad escape */
		p += 6;
		*has_nul |= u == 0;
		if (u >= 0xDC00 && u <= 0xDFFF)
			goto lone;
		if (u >= 0xD800 && u <= 0xDBFF) {
			int low = (end - p >= 6 && p[0] == '\\' && p[1] == 'u') ? hex4(p + 2, end) : -1;
			if (low < 0xDC00 || low > 0xDFFF)
				goto lone;
			p += 6;
		}
	}
	return p < end ? p + 1 : end;
lone:
	snprintf(detail, dlen, "the body is not valid JSON: an unpaired UTF-16 surrogate escape");
	return NULL;
}

static bool token_char(char c) { return isalnum((unsigned char)c) || c == '+' || c == '-' || c == '.'; }

static size_t skip_digits(const char *p, size_t n, size_t i)
{
	while (i < n && isdigit((unsigned char)p[i]))
		i++;
	return i;
}

/* A token outside strings: true, false, null, or -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? (RFC 8259). */
static bool json_token(const char *p, size_t n)
{
	if ((n == 4 && !memcmp(p, "true", 4)) || (n == 5 && !memcmp(p, "false", 5)) ||
	    (n == 4 && !memcmp(p, "null", 4)))
		return true;
	size_t i = n && p[0] == '-', d;
	if (i < n && p[i] == '0')
		i++;
	else if ((d = skip_digits(p, n, i)) > i)
		i = d;
	else
		return false;
	if (i < n && p[i] == '.') {
		if ((d = skip_digits(p, n, i + 1)) == i + 1)
			return false;
		i = d;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i += i + 1 < n && (p[i + 1] == '+' || p[i + 1] == '-') ? 2 : 1;
		if ((d = skip_digits(p, n, i)) == i)
			return false;
		i = d;
	}
	return i == n;
}

/*
 * The pre-scan of the file comment. 0, or -1 with detail. Counts the member
 * names in *names (a string followed by ':'), so that the caller can tell a
 * duplicated name, which json-c keeps silently (the last one wins).
 */
static int prescan(const char *json, size_t len, size_t *names, char *detail, size_t dlen)
{
	const char *p = json, *end = json + len;
	*names = 0;
	while (p < end) {
		if (token_char(*p)) {
			const char *q = p;
			while (q < end && token_char(*q))
				q++;
			if (!json_token(p, (size_t)(q - p))) {
				snprintf(detail, dlen,
					 "the body is not valid JSON: %.*s%s is not a number, true, false or null",
					 q - p > 24 ? 24 : (int)(q - p), p, q - p > 24 ? "..." : "");
				return -1;
			}
			p = q;
			continue;
		}
		if (*p++ != '"')
			continue;
		bool has_nul;
		p = scan_string(p, end, &has_nul, detail, dlen);
		if (!p)
			return -1;
		const char *q = p;
		while (q < end && strchr(" \t\r\n", *q) && *q)
			q++;
		if (q < end && *q == ':') {
			(*names)++;
			if (has_nul) {
				snprintf(detail, dlen, "the body is not valid JSON: a member name contains \\u0000");
				return -1;
			}
		}
	}
	return 0;
}

/* Members of every object in the tree. */
static size_t count_members(json_object *o)
{
	size_t n = 0;
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, val)
		{
			(void)key;
			n += 1 + count_members(val);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			n += count_members(json_object_array_get_idx(o, i));
	}
	return n;
}

/*
 * Strict JSON with nothing but white space after the value, and no member
 * name twice in one object (api.md: a typo must not pass silently, and
 * {"to":A,"to":B} would send to B); NULL and detail when not.
 */
static json_object *parse_json(const char *json, size_t len, char *detail, size_t detail_len)
{
	size_t names;
	if (prescan(json, len, &names, detail, detail_len))
		return NULL;
	json_tokener *tok = json_tokener_new_ex(32);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *obj = len <= INT32_MAX ? json_tokener_parse_ex(tok, json, (int)len) : NULL;
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	if (!obj && err == json_tokener_continue) {
		/*
		 * json-c read every byte and waits for more: a number or literal
		 * at the very end ("5", "null") could still go on. A NUL says the
		 * body ended, so it is finished or refused as cut short.
		 */
		obj = json_tokener_parse_ex(tok, "", 1);
		err = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	if (!obj && err == json_tokener_success) { /* the value null */
		snprintf(detail, detail_len, "the body must be a JSON object");
		return NULL;
	}
	if (!obj || err != json_tokener_success) {
		snprintf(detail, detail_len, "the body is not valid JSON: %s",
			 err == json_tokener_continue || err == json_tokener_error_parse_eof
				 ? "unexpected end"
				 : json_tokener_error_desc(err));
		json_object_put(obj);
		return NULL;
	}
	while (end < len && strchr(" \t\r\n", json[end]) && json[end])
		end++;
	if (end != len) {
		snprintf(detail, detail_len, "the body is not valid JSON: unexpected data after the value");
		json_object_put(obj);
		return NULL;
	}
	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(detail, detail_len, "the body must be a JSON object");
		json_object_put(obj);
		return NULL;
	}
	if (count_members(obj) != names) {
		snprintf(detail, detail_len, "the body is not valid JSON for this API: a member name appears twice in one object");
		json_object_put(obj);
		return NULL;
	}
	return obj;
}

int request_parse_send(const char *json, size_t len, const struct request_limits *lim, struct sms_item *out,
		       char *detail, size_t detail_len)
{
	memset(out, 0, sizeof(*out));
	json_object *obj = parse_json(json, len, detail, detail_len);
	if (!obj)
		return -1;
	validate_item(obj, lim, out);
	json_object_put(obj);
	return out->nerrors ? 1 : 0;
}

int request_parse_bulk(const char *json, size_t len, const struct request_limits *lim, struct sms_item **items,
		       size_t *nitems, char *detail, size_t detail_len)
{
	*items = NULL;
	*nitems = 0;
	json_object *obj = parse_json(json, len, detail, detail_len), *msgs;
	if (!obj)
		return -1;
	int rc = 1;
	if (json_object_object_length(obj) != 1 || !json_object_object_get_ex(obj, "messages", &msgs)) {
		snprintf(detail, detail_len, "the body must be {\"messages\": [...]} and nothing else");
	} else if (!json_object_is_type(msgs, json_type_array) || json_object_array_length(msgs) == 0) {
		snprintf(detail, detail_len, "messages must be a non-empty array");
	} else if ((int64_t)json_object_array_length(msgs) > lim->bulk_max) {
		snprintf(detail, detail_len, "messages has %zu items; at most %lld are allowed",
			 json_object_array_length(msgs), (long long)lim->bulk_max);
	} else {
		size_t n = json_object_array_length(msgs);
		*items = xcalloc(n, sizeof(**items));
		for (size_t i = 0; i < n; i++)
			validate_item(json_object_array_get_idx(msgs, i), lim, &(*items)[i]);
		*nitems = n;
		rc = 0;
	}
	json_object_put(obj);
	return rc;
}

void item_release(struct sms_item *it)
{
	free(it->from);
	free(it->body);
	free(it->client_reference);
	free(it->callback_url);
	it->from = it->body = it->client_reference = it->callback_url = NULL;
}

bool item_only_stale_send_at(const struct sms_item *it)
{
	return it->nerrors == 1 && it->send_at_stale && strcmp(it->errors[0].code, "invalid_send_at") == 0;
}

void items_free(struct sms_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++)
		item_release(&items[i]);
	free(items);
}

/* Length-prefixed, so no field can run into the next. */
static void fp_field(struct sha256 *s, const char *v, size_t len)
{
	char prefix[24];
	int n = v ? snprintf(prefix, sizeof(prefix), "%zu:", len) : snprintf(prefix, sizeof(prefix), "-:");
	sha256_update(s, prefix, (size_t)n);
	if (v)
		sha256_update(s, v, len);
}

void item_fingerprint(struct sha256 *s, const struct sms_item *it)
{
	char validity[24];
	snprintf(validity, sizeof(validity), "%lld", (long long)it->validity_s);
	fp_field(s, it->to, strlen(it->to));
	fp_field(s, it->from, it->from ? strlen(it->from) : 0);
	fp_field(s, it->body, it->body_len);
	fp_field(s, sms_encoding_name(it->encoding), strlen(sms_encoding_name(it->encoding)));
	fp_field(s, it->client_reference, it->client_reference ? strlen(it->client_reference) : 0);
	fp_field(s, validity, strlen(validity));
	fp_field(s, it->callback_url, it->callback_url ? strlen(it->callback_url) : 0);
	/* Added with priority and sendAt; a request without them hashes as before (old keys still replay). */
	if (it->high)
		fp_field(s, "priority:high", 13);
	if (it->send_at_ms) {
		char at[32];
		int n = snprintf(at, sizeof(at), "sendAt:%lld", (long long)it->send_at_ms);
		fp_field(s, at, (size_t)n);
	}
	/* Added with smartEncoding (the body above is the replaced one); without it, as before. */
	if (it->smart)
		fp_field(s, "smartEncoding:true", 18);
}

void field_error_json(const struct field_error *e, struct buf *out)
{
	buf_adds(out, "{\"field\":");
	buf_add_json_str(out, e->field, strlen(e->field));
	buf_adds(out, ",\"code\":");
	buf_add_json_str(out, e->code, strlen(e->code));
	buf_adds(out, ",\"detail\":");
	buf_add_json_str(out, e->detail, strlen(e->detail));
	buf_addc(out, '}');
}

void item_errors_json(const struct sms_item *it, struct buf *out)
{
	buf_addc(out, '[');
	for (int i = 0; i < it->nerrors; i++) {
		if (i)
			buf_addc(out, ',');
		field_error_json(&it->errors[i], out);
	}
	buf_addc(out, ']');
}
