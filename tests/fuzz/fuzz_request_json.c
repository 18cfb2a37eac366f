/*
 * Fuzz target: the JSON layer under the send and bulk parsers (input: a raw
 * body), i.e. request.c's pre-scan (raw control characters, unpaired
 * surrogate escapes, \u0000 in member names), json-c in strict mode and the
 * duplicate member check, compared with a reference written here from
 * RFC 8259 that decodes every member name and looks for twins itself.
 *
 * The verdict the reference expects:
 *   not JSON                        -> rc -1
 *   JSON with a pre-scan problem    -> rc -1 naming the first one in the text
 *   JSON, not an object             -> rc -1 "must be a JSON object"
 *   an object with a name twice     -> rc -1 "appears twice"
 *   any other object                -> rc 0 or 1 (the fields are checked)
 * Inputs nested near json-c's depth limit (32) or with numbers json-c may
 * refuse as out of range are only checked not to crash. Send and bulk share
 * the JSON layer, so they must also agree on rc -1 and its detail.
 */
#include <stdbool.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "request.h"
#include "util.h"
#include "lib/banned.h"

#define DEPTH_SKIP 28 /* json-c refuses 32 levels; stay clear of its exact rule */

enum issue { ISSUE_NONE, ISSUE_CTRL, ISSUE_LONE, ISSUE_NUL_NAME };

static const char *const issue_text[] = {
	[ISSUE_CTRL] = "a control character inside a string",
	[ISSUE_LONE] = "an unpaired UTF-16 surrogate escape",
	[ISSUE_NUL_NAME] = "a member name contains \\u0000",
};

struct ref {
	const uint8_t *p, *end;
	int depth;
	enum issue issue; /* the first in the text */
	bool dup;         /* some object has a member name twice */
	bool uncertain;   /* too deep, or a number json-c may find out of range */
};

static void note(struct ref *r, enum issue i)
{
	if (r->issue == ISSUE_NONE)
		r->issue = i;
}

static void skip_ws(struct ref *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int hex4(const uint8_t *p, const uint8_t *end)
{
	int v = 0;
	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int c = p[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static void add_utf8(struct buf *b, unsigned c)
{
	char u[4];
	size_t n;
	if (c < 0x80) {
		u[0] = (char)c, n = 1;
	} else if (c < 0x800) {
		u[0] = (char)(0xC0 | c >> 6), u[1] = (char)(0x80 | (c & 0x3F)), n = 2;
	} else if (c < 0x10000) {
		u[0] = (char)(0xE0 | c >> 12), u[1] = (char)(0x80 | ((c >> 6) & 0x3F)),
		u[2] = (char)(0x80 | (c & 0x3F)), n = 3;
	} else {
		u[0] = (char)(0xF0 | c >> 18), u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((c >> 6) & 0x3F)), u[3] = (char)(0x80 | (c & 0x3F)), n = 4;
	}
	buf_add(b, u, n);
}

/* A string, after its opening quote, decoded into out. */
static bool ref_string(struct ref *r, struct buf *out, bool *has_nul)
{
	*has_nul = false;
	while (r->p < r->end) {
		uint8_t c = *r->p;
		if (c == '"') {
			r->p++;
			return true;
		}
		if (c != '\\') {
			if (c < 0x20)
				note(r, ISSUE_CTRL); /* RFC 8259 forbids it; the pre-scan names it */
			buf_addc(out, (char)c);
			r->p++;
			continue;
		}
		if (r->end - r->p < 2)
			return false;
		static const char simple[] = "\"\\/bfnrt", decoded[] = "\"\\/\b\f\n\r\t";
		const char *s = memchr(simple, r->p[1], 8);
		if (s) {
			buf_addc(out, decoded[s - simple]);
			r->p += 2;
			continue;
		}
		if (r->p[1] != 'u')
			return false;
		int v = hex4(r->p + 2, r->end);
		if (v < 0)
			return false;
		r->p += 6;
		if (v >= 0xDC00 && v <= 0xDFFF) {
			note(r, ISSUE_LONE);
			continue;
		}
		if (v >= 0xD800 && v <= 0xDBFF) {
			int low = r->end - r->p >= 6 && r->p[0] == '\\' && r->p[1] == 'u' ? hex4(r->p + 2, r->end) : -1;
			if (low < 0xDC00 || low > 0xDFFF) {
				note(r, ISSUE_LONE);
				continue;
			}
			r->p += 6;
			add_utf8(out, 0x10000 + (((unsigned)v - 0xD800) << 10) + ((unsigned)low - 0xDC00));
			continue;
		}
		*has_nul |= v == 0;
		add_utf8(out, (unsigned)v);
	}
	return false;
}

static bool ref_digits(struct ref *r, size_t *n)
{
	const uint8_t *start = r->p;
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
		r->p++;
	*n = (size_t)(r->p - start);
	return *n > 0;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool ref_number(struct ref *r)
{
	const uint8_t *start = r->p;
	size_t n;
	if (*r->p == '-')
		r->p++;
	if (r->p < r->end && *r->p == '0') {
		r->p++;
	} else if (!ref_digits(r, &n)) {
		return false;
	} else if (n > 18) {
		r->uncertain = true; /* beyond int64: json-c may take it or refuse it */
	}
	if (r->p < r->end && *r->p == '.') {
		r->p++;
		if (!ref_digits(r, &n))
			return false;
	}
	if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
		r->p++;
		if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
			r->p++;
		if (!ref_digits(r, &n))
			return false;
		if (n > 2)
			r->uncertain = true; /* may overflow or underflow a double */
	}
	if (r->p - start > 30)
		r->uncertain = true;
	return true;
}

static bool ref_literal(struct ref *r, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n))
		return false;
	r->p += n;
	return true;
}

static bool ref_value(struct ref *r, bool *is_object);

/* An object, after its '{': member names decoded and compared pairwise. */
static bool ref_object(struct ref *r)
{
	struct buf *names = NULL;
	size_t n = 0;
	bool ok = false, has_nul, obj;

	skip_ws(r);
	if (r->p < r->end && *r->p == '}') {
		r->p++;
		return true;
	}
	for (;;) {
		skip_ws(r);
		if (r->p == r->end || *r->p != '"')
			goto out;
		r->p++;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		buf_init(&names[n]);
		if (!ref_string(r, &names[n++], &has_nul))
			goto out;
		if (has_nul)
			note(r, ISSUE_NUL_NAME);
		for (size_t i = 0; i + 1 < n; i++)
			r->dup |= names[i].len == names[n - 1].len &&
				  !memcmp(names[i].data, names[n - 1].data, names[i].len);
		skip_ws(r);
		if (r->p == r->end || *r->p++ != ':')
			goto out;
		if (!ref_value(r, &obj))
			goto out;
		skip_ws(r);
		if (r->p == r->end)
			goto out;
		if (*r->p == '}') {
			r->p++;
			ok = true;
			goto out;
		}
		if (*r->p++ != ',')
			goto out;
	}
out:
	for (size_t i = 0; i < n; i++)
		buf_release(&names[i]);
	free(names);
	return ok;
}

static bool ref_array(struct ref *r)
{
	bool obj;
	skip_ws(r);
	if (r->p < r->end && *r->p == ']') {
		r->p++;
		return true;
	}
	for (;;) {
		if (!ref_value(r, &obj))
			return false;
		skip_ws(r);
		if (r->p == r->end)
			return false;
		if (*r->p == ']') {
			r->p++;
			return true;
		}
		if (*r->p++ != ',')
			return false;
	}
}

static bool ref_value(struct ref *r, bool *is_object)
{
	*is_object = false;
	skip_ws(r);
	if (r->p == r->end)
		return false;
	uint8_t c = *r->p;
	if (c == '{' || c == '[') {
		if (++r->depth >= DEPTH_SKIP) {
			r->uncertain = true;
			return false;
		}
		r->p++;
		bool ok = c == '{' ? ref_object(r) : ref_array(r);
		r->depth--;
		*is_object = c == '{';
		return ok;
	}
	if (c == '"') {
		struct buf s;
		bool has_nul, ok;
		r->p++;
		buf_init(&s);
		ok = ref_string(r, &s, &has_nul);
		buf_release(&s);
		return ok;
	}
	if (c == '-' || (c >= '0' && c <= '9'))
		return ref_number(r);
	return ref_literal(r, "true") || ref_literal(r, "false") || ref_literal(r, "null");
}

static const struct request_limits LIMITS = { .max_segments = 10, .bulk_max = 1000 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ref r = { .p = data, .end = data + size };
	bool is_object;
	bool valid = ref_value(&r, &is_object);
	skip_ws(&r);
	valid = valid && r.p == r.end;

	struct sms_item it;
	char detail[160], bdetail[160];
	int rc = request_parse_send((const char *)data, size, &LIMITS, &it, detail, sizeof(detail));
	item_release(&it);
	struct sms_item *items;
	size_t n;
	int brc = request_parse_bulk((const char *)data, size, &LIMITS, &items, &n, bdetail, sizeof(bdetail));
	if (brc == 0)
		items_free(items, n);

	/* One JSON layer under both parsers. */
	FUZZ_CHECK((rc == -1) == (brc == -1), "send rc %d (%s), bulk rc %d (%s)", rc, rc == -1 ? detail : "", brc,
		   brc == -1 ? bdetail : "");
	if (rc == -1)
		FUZZ_CHECK(!strcmp(detail, bdetail), "send says \"%s\", bulk says \"%s\"", detail, bdetail);
	if (r.uncertain)
		return 0;
	if (!valid) {
		FUZZ_CHECK(rc == -1, "not JSON by RFC 8259, yet the parser took it (rc %d)", rc);
		return 0;
	}
	if (r.issue != ISSUE_NONE) {
		FUZZ_CHECK(rc == -1 && strstr(detail, issue_text[r.issue]), "want \"%s\", got rc %d (%s)",
			   issue_text[r.issue], rc, rc == -1 ? detail : "");
		return 0;
	}
	if (!is_object) {
		FUZZ_CHECK(rc == -1 && strstr(detail, "must be a JSON object"), "JSON but no object: rc %d (%s)", rc,
			   rc == -1 ? detail : "");
		return 0;
	}
	if (r.dup) {
		FUZZ_CHECK(rc == -1 && strstr(detail, "appears twice"), "a member name twice: rc %d (%s)", rc,
			   rc == -1 ? detail : "");
		return 0;
	}
	FUZZ_CHECK(rc != -1, "a JSON object without twins refused: %s", detail);
	return 0;
}
