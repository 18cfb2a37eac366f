/*
 * test_request.c: unit tests for src/request.c, the request bodies of
 * POST /v1/sms/send and /v1/sms/bulk (shared/spec/api.md).
 *
 * Table-driven: every row of send_cases, sender_cases, fp_cases and
 * bulk_cases is one cmocka test, named after the row. A send row gives the
 * JSON, the result it must give and then either the exact list of errors
 * (field, code, and a piece of the detail) or the normalized item. Long
 * values are written as a piece repeated N times, put where the JSON has
 * "$FILL". Every body is copied to a heap buffer of exactly its length, with
 * no NUL after it, so a sanitizer build catches any read past `len`.
 *
 * CMOCKA_MESSAGE_OUTPUT=TAP makes the output TAP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "lib/buf.h"
#include "lib/sha256.h"
#include "request.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Sample characters, as UTF-8. */
#define EURO "\xE2\x82\xAC"      /* U+20AC, GSM extension table */
#define E_ACUTE "\xC3\xA9"       /* U+00E9, 2 bytes, GSM default alphabet */
#define ZHE "\xD0\xB6"           /* U+0436 Cyrillic, UCS-2 only */
#define EMOJI "\xF0\x9F\x98\x80" /* U+1F600, a surrogate pair in UTF-16 */

/* An expected value that is only checked to be present (not NULL). */
static const char ANY[] = "<any>";

/* `bytes` repeated `times` times, put in place of "$FILL". */
struct piece {
	const char *bytes;
	unsigned times;
};

#define FILL(s, n) .fill = { (s), (n) }

struct exp_error {
	const char *field;  /* NULL: not checked */
	const char *code;
	const char *detail; /* a piece of the detail, or NULL */
};

struct send_case {
	const char *name;        /* no '#', which TAP reads as a directive */
	const char *json;        /* "$FILL" is replaced by fill */
	struct piece fill;
	size_t len;              /* 0: strlen(json) after the fill */
	int64_t max_segments;    /* 0: 10, the default of ORCH_MAX_SEGMENTS */
	int rc;
	/* rc 1: exactly these errors, in this order */
	struct exp_error errors[9];
	/* rc -1: a piece of the detail */
	const char *detail;
	/* rc 0: the normalized item; to and from NULL mean the TF values below */
	const char *to, *from;
	const char *body;        /* NULL: not checked; ANY: present */
	size_t body_len;         /* 0: not checked */
	enum sms_encoding encoding; /* 0: not checked */
	unsigned segments;       /* 0: not checked */
	const char *cref;        /* NULL: must be absent; ANY: present */
	const char *callback;    /* NULL: must be absent; ANY: present */
	int64_t validity;        /* 0: VALIDITY_DEFAULT_S */
	int priority;            /* 0: normal; 1: high */
	int64_t send_at;         /* expected send_at_ms; 0: absent */
	int scheduled;           /* 1: expected scheduled (send_at in the future) */
};

/* The "now" of every send case: 2026-11-24T10:00:00.000Z. */
#define NOW_MS 1795514400000LL

/* A valid `to` and `from`, and their normalized values. */
#define TF "\"to\":\"+14155550100\",\"from\":\"ACME\","
#define TF_TO "+14155550100"
#define TF_FROM "ACME"
/* A send body: valid to and from, then the members given. */
#define SEND(members) "{" TF members "}"
#define SEND_BODY(members) "{" TF "\"body\":\"Hi\"," members "}"
/* A send body with this to and from, and the body "Hi". */
#define HI(to, from) "{\"to\":\"" to "\",\"from\":\"" from "\",\"body\":\"Hi\"}"
#define E(f, c, d) { (f), (c), (d) }

static const struct send_case send_cases[] = {
	/* valid bodies and normalization */
	{ .name = "valid minimal body", .json = SEND("\"body\":\"Hello\""), .rc = 0, .body = "Hello",
	  .body_len = 5, .encoding = SMS_GSM7, .segments = 1 },
	{ .name = "to with spaces and parentheses", .json = HI("+1 (415) 555-0100", "ACME"),
	  .rc = 0, .to = "+14155550100" },
	{ .name = "to with 00 prefix and spaces", .json = HI("0044 20 7946 0958", "ACME"),
	  .rc = 0, .to = "+442079460958" },
	{ .name = "to with dots", .json = HI("+1.415.555.0100", "ACME"), .rc = 0,
	  .to = "+14155550100" },
	{ .name = "all optional members",
	  .json = SEND("\"body\":\"Hi\",\"encoding\":\"ucs2\",\"clientReference\":\"order-42\","
		       "\"validityPeriod\":3600,\"callbackUrl\":\"https://example.com/cb\""),
	  .rc = 0, .body = "Hi", .encoding = SMS_UCS2, .segments = 1, .cref = "order-42",
	  .callback = "https://example.com/cb", .validity = 3600 },
	{ .name = "extra white space everywhere",
	  .json = " \r\n{ \"to\" : \"+14155550100\" ,\t\"from\":\"ACME\" , \"body\" : \"Hi\" }\n\t ",
	  .rc = 0, .body = "Hi" },
	{ .name = "encoding auto picks UCS2 for Cyrillic",
	  .json = SEND("\"body\":\"\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82\""), .rc = 0,
	  .body = "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82", .encoding = SMS_UCS2, .segments = 1 },
	{ .name = "encoding auto picks GSM7 for Hello euro", .json = SEND("\"body\":\"Hello " EURO "\""), .rc = 0,
	  .body = "Hello " EURO, .encoding = SMS_GSM7, .segments = 1 },
	{ .name = "explicit encoding auto", .json = SEND_BODY("\"encoding\":\"auto\""), .rc = 0, .encoding = SMS_GSM7 },
	{ .name = "encoding gsm7 with GSM text", .json = SEND("\"body\":\"caf" E_ACUTE "\",\"encoding\":\"gsm7\""),
	  .rc = 0, .encoding = SMS_GSM7, .segments = 1 },
	{ .name = "encoding ucs2 with plain text", .json = SEND_BODY("\"encoding\":\"ucs2\""), .rc = 0,
	  .encoding = SMS_UCS2 },
	{ .name = "escaped surrogate pair is one emoji", .json = SEND("\"body\":\"\\ud83d\\ude00\""), .rc = 0,
	  .body = EMOJI, .encoding = SMS_UCS2, .segments = 1 },
	{ .name = "null optional members are absent",
	  .json = SEND_BODY("\"encoding\":null,\"clientReference\":null,\"validityPeriod\":null,\"callbackUrl\":null"),
	  .rc = 0, .encoding = SMS_GSM7 },

	/* from */
	{ .name = "from alphanumeric with a space", .json = HI("+14155550100", "My Shop 1"),
	  .rc = 0, .from = "My Shop 1" },
	{ .name = "from short code of 5 digits", .json = HI("+14155550100", "12345"), .rc = 0,
	  .from = "12345" },
	{ .name = "from E.164 number", .json = HI("+14155550100", "+447911123456"), .rc = 0,
	  .from = "+447911123456" },
	{ .name = "from 00 number with spaces becomes E.164",
	  .json = HI("+14155550100", "0044 7911 123456"), .rc = 0, .from = "+447911123456" },
	{ .name = "from empty", .json = HI("+14155550100", ""), .rc = 1,
	  .errors = { E("from", "invalid_from", NULL) } },
	{ .name = "from 12 characters", .json = HI("+14155550100", "123456789012"), .rc = 1,
	  .errors = { E("from", "invalid_from", NULL) } },
	{ .name = "from 2 digit short code", .json = HI("+14155550100", "12"), .rc = 1,
	  .errors = { E("from", "invalid_from", NULL) } },
	{ .name = "from with punctuation", .json = HI("+14155550100", "ACME!"), .rc = 1,
	  .errors = { E("from", "invalid_from", NULL) } },
	{ .name = "from only spaces", .json = HI("+14155550100", "   "), .rc = 1,
	  .errors = { E("from", "invalid_from", NULL) } },
	{ .name = "from non-ASCII letter", .json = HI("+14155550100", "\xC3\x84" "CME"),
	  .rc = 1, .errors = { E("from", "invalid_from", NULL) } },
	{ .name = "from with escaped NUL", .json = "{\"to\":\"+14155550100\",\"from\":\"AC\\u0000ME\",\"body\":\"Hi\"}",
	  .rc = 1, .errors = { E("from", "invalid_from", NULL) } },

	/* missing_field and invalid_type */
	{ .name = "empty object misses to, from and body", .json = "{}", .rc = 1,
	  .errors = { E("to", "missing_field", "to is required"), E("from", "missing_field", "from is required"),
		      E("body", "missing_field", "body is required") } },
	{ .name = "missing to", .json = "{\"from\":\"ACME\",\"body\":\"Hi\"}", .rc = 1,
	  .errors = { E("to", "missing_field", NULL) } },
	{ .name = "missing from", .json = "{\"to\":\"+14155550100\",\"body\":\"Hi\"}", .rc = 1,
	  .errors = { E("from", "missing_field", NULL) } },
	{ .name = "missing body", .json = SEND("\"encoding\":\"auto\""), .rc = 1,
	  .errors = { E("body", "missing_field", NULL) } },
	{ .name = "to null is missing", .json = "{\"to\":null,\"from\":\"ACME\",\"body\":\"Hi\"}", .rc = 1,
	  .errors = { E("to", "missing_field", NULL) } },
	{ .name = "to is a number", .json = "{\"to\":5,\"from\":\"ACME\",\"body\":\"Hi\"}", .rc = 1,
	  .errors = { E("to", "invalid_type", "to must be a string") } },
	{ .name = "from is a boolean", .json = "{\"to\":\"+14155550100\",\"from\":true,\"body\":\"Hi\"}", .rc = 1,
	  .errors = { E("from", "invalid_type", NULL) } },
	{ .name = "body is an array", .json = SEND("\"body\":[\"Hi\"]"), .rc = 1,
	  .errors = { E("body", "invalid_type", NULL) } },
	{ .name = "encoding is a number", .json = SEND_BODY("\"encoding\":7"), .rc = 1,
	  .errors = { E("encoding", "invalid_type", NULL) } },
	{ .name = "clientReference is a number", .json = SEND_BODY("\"clientReference\":42"), .rc = 1,
	  .errors = { E("clientReference", "invalid_type", NULL) } },
	{ .name = "callbackUrl is an object", .json = SEND_BODY("\"callbackUrl\":{}"), .rc = 1,
	  .errors = { E("callbackUrl", "invalid_type", NULL) } },

	/* unknown_field */
	{ .name = "unknown field is named", .json = SEND_BODY("\"bodyy\":\"x\""), .rc = 1,
	  .errors = { E("bodyy", "unknown_field", "unknown field \"bodyy\"") } },
	{ .name = "field names are case-sensitive",
	  .json = "{\"To\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"Hi\"}",
	  .rc = 1, .errors = { E("To", "unknown_field", NULL), E("to", "missing_field", NULL) } },
	{ .name = "unknown field with a control character shown as ?", .json = SEND_BODY("\"a\\u0001b\":1"), .rc = 1,
	  .errors = { E("a?b", "unknown_field", "unknown field \"a?b\"") } },
	/*
	 * json-c keeps object keys as C strings, so a key with \u0000 in it
	 * is cut at the NUL: "from\u0000x" reads as "from" and silently replaces
	 * the first from; the pre-scan refuses such a document.
	 */
	{ .name = "a member twice is refused (json-c would keep the last)",
	  .json = "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"Hi\",\"to\":\"+14155550101\"}", .rc = -1,
	  .detail = "appears twice" },
	{ .name = "a member twice in a nested value is refused too",
	  .json = SEND_BODY("\"x\":{\"a\":1,\"a\":2}"), .rc = -1, .detail = "appears twice" },
	{ .name = "a string value that looks like a member name is not counted",
	  .json = "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"to: a \\\"to\\\": b\"}", .rc = 0 },
	{ .name = "key with escaped NUL is refused as malformed",
	  .json = "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"Hi\",\"from\\u0000x\":\"EVIL\"}", .rc = -1,
	  .detail = "member name contains" },

	/* invalid_to */
	{ .name = "to unassigned country code 999", .json = HI("+999 1234567", "ACME"),
	  .rc = 1, .errors = { E("to", "invalid_to", "country calling code 999 is not assigned") } },
	{ .name = "to without + or 00", .json = HI("4155550100", "ACME"), .rc = 1,
	  .errors = { E("to", "invalid_to", "must start with + or 00") } },
	{ .name = "to too short", .json = HI("+14155", "ACME"), .rc = 1,
	  .errors = { E("to", "invalid_to", "7 to 15 digits") } },
	{ .name = "to with a letter", .json = HI("+1415555O100", "ACME"), .rc = 1,
	  .errors = { E("to", "invalid_to", NULL) } },
	{ .name = "to empty", .json = HI("", "ACME"), .rc = 1,
	  .errors = { E("to", "invalid_to", NULL) } },

	/* body */
	{ .name = "empty body", .json = SEND("\"body\":\"\""), .rc = 1, .errors = { E("body", "empty_body", NULL) } },
	{ .name = "raw invalid byte in body", .json = SEND("\"body\":\"a\xFF" "b\""), .rc = 1,
	  .errors = { E("body", "invalid_utf8", "byte 1") } },
	{ .name = "raw overlong sequence in body", .json = SEND("\"body\":\"\xC0\xAF\""), .rc = 1,
	  .errors = { E("body", "invalid_utf8", NULL) } },
	{ .name = "raw truncated sequence in body", .json = SEND("\"body\":\"ab\xE2\x82\""), .rc = 1,
	  .errors = { E("body", "invalid_utf8", NULL) } },
	/*
	 * json-c replaces an unpaired surrogate escape with U+FFFD, so the
	 * body goes out as the replacement character instead of being refused
	 * (request.c's header comment assumes json-c keeps lone surrogates).
	 */
	{ .name = "lone high surrogate escape is refused", .json = SEND("\"body\":\"a\\ud800b\""), .rc = -1,
	  .detail = "unpaired UTF-16 surrogate" },
	{ .name = "lone low surrogate escape is refused", .json = SEND("\"body\":\"\\udc00\""), .rc = -1,
	  .detail = "unpaired UTF-16 surrogate" },
	{ .name = "paired surrogate escapes are an emoji", .json = SEND("\"body\":\"\\ud83d\\ude00\""), .rc = 0 },
	{ .name = "raw newline inside a string is refused", .json = SEND("\"body\":\"a\nb\""), .rc = -1,
	  .detail = "control character" },
	{ .name = "escaped NUL in body", .json = SEND("\"body\":\"a\\u0000b\""), .rc = 1,
	  .errors = { E("body", "nul_character", "index 1") } },
	{ .name = "gsm7 with an emoji", .json = SEND("\"body\":\"ok " EMOJI "\",\"encoding\":\"gsm7\""), .rc = 1,
	  .errors = { E("body", "not_gsm7", "U+1F600") } },
	{ .name = "1530 GSM characters are 10 segments", .json = SEND("\"body\":\"$FILL\""), FILL("a", 1530), .rc = 0,
	  .body = ANY, .body_len = 1530, .encoding = SMS_GSM7, .segments = 10 },
	{ .name = "1531 GSM characters are too many segments", .json = SEND("\"body\":\"$FILL\""), FILL("a", 1531),
	  .rc = 1, .errors = { E("body", "too_many_segments", "11 GSM7 segments; at most 10") } },
	{ .name = "max_segments 1 allows 160 GSM characters", .json = SEND("\"body\":\"$FILL\""), FILL("a", 160),
	  .max_segments = 1, .rc = 0, .body = ANY, .body_len = 160, .encoding = SMS_GSM7, .segments = 1 },
	{ .name = "max_segments 1 refuses 161 GSM characters", .json = SEND("\"body\":\"$FILL\""), FILL("a", 161),
	  .max_segments = 1, .rc = 1, .errors = { E("body", "too_many_segments", "at most 1 ") } },
	{ .name = "max_segments 1 allows 70 UCS2 characters", .json = SEND("\"body\":\"$FILL\""), FILL(ZHE, 70),
	  .max_segments = 1, .rc = 0, .body = ANY, .body_len = 140, .encoding = SMS_UCS2, .segments = 1 },
	{ .name = "max_segments 1 refuses 71 UCS2 characters", .json = SEND("\"body\":\"$FILL\""), FILL(ZHE, 71),
	  .max_segments = 1, .rc = 1, .errors = { E("body", "too_many_segments", "2 UCS2 segments") } },

	/* encoding */
	{ .name = "encoding utf8", .json = SEND_BODY("\"encoding\":\"utf8\""), .rc = 1,
	  .errors = { E("encoding", "invalid_encoding", NULL) } },
	{ .name = "encoding upper case GSM7", .json = SEND_BODY("\"encoding\":\"GSM7\""), .rc = 1,
	  .errors = { E("encoding", "invalid_encoding", NULL) } },
	{ .name = "encoding empty string", .json = SEND_BODY("\"encoding\":\"\""), .rc = 1,
	  .errors = { E("encoding", "invalid_encoding", NULL) } },
	/* encoding is compared with its length, so nothing after a \u0000 is ignored. */
	{ .name = "encoding gsm7 then escaped NUL", .json = SEND_BODY("\"encoding\":\"gsm7\\u0000junk\""), .rc = 1,
	  .errors = { E("encoding", "invalid_encoding", NULL) } },

	/* clientReference */
	{ .name = "clientReference of 64 characters", .json = SEND_BODY("\"clientReference\":\"$FILL\""), FILL("a", 64),
	  .rc = 0, .cref = ANY },
	{ .name = "clientReference of 65 characters", .json = SEND_BODY("\"clientReference\":\"$FILL\""), FILL("a", 65),
	  .rc = 1, .errors = { E("clientReference", "invalid_client_reference", NULL) } },
	{ .name = "clientReference of 64 two-byte characters", .json = SEND_BODY("\"clientReference\":\"$FILL\""),
	  FILL(E_ACUTE, 64), .rc = 0, .cref = ANY },
	{ .name = "clientReference of 64 four-byte characters", .json = SEND_BODY("\"clientReference\":\"$FILL\""),
	  FILL(EMOJI, 64), .rc = 0, .cref = ANY },
	{ .name = "clientReference of 65 two-byte characters", .json = SEND_BODY("\"clientReference\":\"$FILL\""),
	  FILL(E_ACUTE, 65), .rc = 1, .errors = { E("clientReference", "invalid_client_reference", NULL) } },
	{ .name = "clientReference empty string", .json = SEND_BODY("\"clientReference\":\"\""), .rc = 0, .cref = "" },
	{ .name = "clientReference with escaped NUL", .json = SEND_BODY("\"clientReference\":\"a\\u0000\""), .rc = 1,
	  .errors = { E("clientReference", "invalid_client_reference", NULL) } },
	{ .name = "clientReference with a raw invalid byte", .json = SEND_BODY("\"clientReference\":\"a\xFE\""),
	  .rc = 1, .errors = { E("clientReference", "invalid_client_reference", NULL) } },

	/* validityPeriod */
	{ .name = "validityPeriod 60", .json = SEND_BODY("\"validityPeriod\":60"), .rc = 0, .validity = 60 },
	{ .name = "validityPeriod 259200", .json = SEND_BODY("\"validityPeriod\":259200"), .rc = 0,
	  .validity = 259200 },
	{ .name = "validityPeriod absent is 172800", .json = SEND_BODY("\"encoding\":\"auto\""), .rc = 0,
	  .validity = 172800 },
	{ .name = "validityPeriod null is 172800", .json = SEND_BODY("\"validityPeriod\":null"), .rc = 0,
	  .validity = 172800 },
	{ .name = "validityPeriod 59", .json = SEND_BODY("\"validityPeriod\":59"), .rc = 1,
	  .errors = { E("validityPeriod", "invalid_validity_period", "60 to 259200") } },
	{ .name = "validityPeriod 259201", .json = SEND_BODY("\"validityPeriod\":259201"), .rc = 1,
	  .errors = { E("validityPeriod", "invalid_validity_period", NULL) } },
	{ .name = "validityPeriod 1.5", .json = SEND_BODY("\"validityPeriod\":1.5"), .rc = 1,
	  .errors = { E("validityPeriod", "invalid_validity_period", NULL) } },
	{ .name = "validityPeriod string 60", .json = SEND_BODY("\"validityPeriod\":\"60\""), .rc = 1,
	  .errors = { E("validityPeriod", "invalid_validity_period", NULL) } },
	{ .name = "validityPeriod negative", .json = SEND_BODY("\"validityPeriod\":-3600"), .rc = 1,
	  .errors = { E("validityPeriod", "invalid_validity_period", NULL) } },
	{ .name = "validityPeriod boolean", .json = SEND_BODY("\"validityPeriod\":true"), .rc = 1,
	  .errors = { E("validityPeriod", "invalid_validity_period", NULL) } },
	{ .name = "validityPeriod beyond int64", .json = SEND_BODY("\"validityPeriod\":99999999999999999999"), .rc = 1,
	  .errors = { E("validityPeriod", "invalid_validity_period", NULL) } },

	/* priority */
	{ .name = "priority high", .json = SEND_BODY("\"priority\":\"high\""), .rc = 0, .priority = 1 },
	{ .name = "priority normal", .json = SEND_BODY("\"priority\":\"normal\""), .rc = 0 },
	{ .name = "priority null is normal", .json = SEND_BODY("\"priority\":null"), .rc = 0 },
	{ .name = "priority HIGH is not a priority", .json = SEND_BODY("\"priority\":\"HIGH\""), .rc = 1,
	  .errors = { E("priority", "invalid_priority", "\"normal\" or \"high\"") } },
	{ .name = "priority urgent", .json = SEND_BODY("\"priority\":\"urgent\""), .rc = 1,
	  .errors = { E("priority", "invalid_priority", NULL) } },
	{ .name = "priority a number", .json = SEND_BODY("\"priority\":1"), .rc = 1,
	  .errors = { E("priority", "invalid_type", NULL) } },

	/* sendAt, against NOW_MS = 2026-11-24T10:00:00Z */
	{ .name = "sendAt one hour ahead in Z", .json = SEND_BODY("\"sendAt\":\"2026-11-24T11:00:00Z\""), .rc = 0,
	  .send_at = NOW_MS + 3600000, .scheduled = 1 },
	{ .name = "sendAt with an offset and fraction",
	  .json = SEND_BODY("\"sendAt\":\"2026-11-24T13:30:00.250+02:00\""), .rc = 0,
	  .send_at = NOW_MS + 5400000 + 250, .scheduled = 1 },
	{ .name = "sendAt with a negative offset, lower case t and z",
	  .json = SEND_BODY("\"sendAt\":\"2026-11-24t05:00:00-05:00\""), .rc = 0, .send_at = NOW_MS, .scheduled = 0 },
	{ .name = "sendAt 35 days ahead", .json = SEND_BODY("\"sendAt\":\"2026-12-29T10:00:00Z\""), .rc = 0,
	  .send_at = NOW_MS + 35LL * 86400000, .scheduled = 1 },
	{ .name = "sendAt 35 days and a second ahead", .json = SEND_BODY("\"sendAt\":\"2026-12-29T10:00:01Z\""), .rc = 1,
	  .errors = { E("sendAt", "invalid_send_at", "35 days") } },
	{ .name = "sendAt 5 minutes past means now", .json = SEND_BODY("\"sendAt\":\"2026-11-24T09:55:00Z\""), .rc = 0,
	  .send_at = NOW_MS - 300000, .scheduled = 0 },
	{ .name = "sendAt over 5 minutes past", .json = SEND_BODY("\"sendAt\":\"2026-11-24T09:54:59Z\""), .rc = 1,
	  .errors = { E("sendAt", "invalid_send_at", "in the past") } },
	{ .name = "sendAt without an offset", .json = SEND_BODY("\"sendAt\":\"2026-11-24T11:00:00\""), .rc = 1,
	  .errors = { E("sendAt", "invalid_send_at", "RFC 3339") } },
	{ .name = "sendAt a date only", .json = SEND_BODY("\"sendAt\":\"2026-11-24\""), .rc = 1,
	  .errors = { E("sendAt", "invalid_send_at", NULL) } },
	{ .name = "sendAt February 30", .json = SEND_BODY("\"sendAt\":\"2026-02-30T11:00:00Z\""), .rc = 1,
	  .errors = { E("sendAt", "invalid_send_at", NULL) } },
	{ .name = "sendAt hour 24", .json = SEND_BODY("\"sendAt\":\"2026-11-24T24:00:00Z\""), .rc = 1,
	  .errors = { E("sendAt", "invalid_send_at", NULL) } },
	{ .name = "sendAt offset without colon", .json = SEND_BODY("\"sendAt\":\"2026-11-24T11:00:00+0200\""), .rc = 1,
	  .errors = { E("sendAt", "invalid_send_at", NULL) } },
	{ .name = "sendAt trailing text", .json = SEND_BODY("\"sendAt\":\"2026-11-24T11:00:00Zx\""), .rc = 1,
	  .errors = { E("sendAt", "invalid_send_at", NULL) } },
	{ .name = "sendAt epoch number", .json = SEND_BODY("\"sendAt\":1795518000"), .rc = 1,
	  .errors = { E("sendAt", "invalid_type", NULL) } },
	{ .name = "sendAt null is now", .json = SEND_BODY("\"sendAt\":null"), .rc = 0 },

	/* smartEncoding (the replacements themselves: test_smart_encoding.c) */
	{ .name = "smartEncoding true replaces in the stored body",
	  .json = SEND("\"body\":\"\\u201cHi\\u201d\",\"smartEncoding\":true"), .rc = 0, .body = "\"Hi\"",
	  .encoding = SMS_GSM7, .segments = 1 },
	{ .name = "smartEncoding false keeps the body", .json = SEND("\"body\":\"\\u201cHi\\u201d\",\"smartEncoding\":false"),
	  .rc = 0, .body = "\xE2\x80\x9CHi\xE2\x80\x9D", .encoding = SMS_UCS2, .segments = 1 },
	{ .name = "smartEncoding a string is refused", .json = SEND_BODY("\"smartEncoding\":\"true\""), .rc = 1,
	  .errors = { E("smartEncoding", "invalid_type", "smartEncoding must be true or false") } },
	{ .name = "smartEncoding a number is refused", .json = SEND_BODY("\"smartEncoding\":1"), .rc = 1,
	  .errors = { E("smartEncoding", "invalid_type", NULL) } },
	{ .name = "smartEncoding an array is refused", .json = SEND_BODY("\"smartEncoding\":[true]"), .rc = 1,
	  .errors = { E("smartEncoding", "invalid_type", NULL) } },
	{ .name = "smartEncoding misspelled is an unknown field", .json = SEND_BODY("\"smartencoding\":true"), .rc = 1,
	  .errors = { E("smartencoding", "unknown_field", NULL) } },

	/* callbackUrl */
	{ .name = "callbackUrl https", .json = SEND_BODY("\"callbackUrl\":\"https://example.com/cb?x=1\""), .rc = 0,
	  .callback = "https://example.com/cb?x=1" },
	{ .name = "callbackUrl of 2048 characters", .json = SEND_BODY("\"callbackUrl\":\"https://example.com/$FILL\""),
	  FILL("a", 2048 - 20), .rc = 0, .callback = ANY },
	{ .name = "callbackUrl of 2049 characters", .json = SEND_BODY("\"callbackUrl\":\"https://example.com/$FILL\""),
	  FILL("a", 2049 - 20), .rc = 1, .errors = { E("callbackUrl", "invalid_callback_url", NULL) } },
	{ .name = "callbackUrl http", .json = SEND_BODY("\"callbackUrl\":\"http://example.com/cb\""), .rc = 1,
	  .errors = { E("callbackUrl", "invalid_callback_url", "https://") } },
	{ .name = "callbackUrl with a space", .json = SEND_BODY("\"callbackUrl\":\"https://example.com/a b\""), .rc = 1,
	  .errors = { E("callbackUrl", "invalid_callback_url", NULL) } },
	{ .name = "callbackUrl only the scheme", .json = SEND_BODY("\"callbackUrl\":\"https://\""), .rc = 1,
	  .errors = { E("callbackUrl", "invalid_callback_url", NULL) } },
	{ .name = "callbackUrl without a host", .json = SEND_BODY("\"callbackUrl\":\"https:///cb\""), .rc = 1,
	  .errors = { E("callbackUrl", "invalid_callback_url", NULL) } },
	{ .name = "callbackUrl empty string", .json = SEND_BODY("\"callbackUrl\":\"\""), .rc = 1,
	  .errors = { E("callbackUrl", "invalid_callback_url", NULL) } },
	{ .name = "callbackUrl with non-ASCII", .json = SEND_BODY("\"callbackUrl\":\"https://ex" E_ACUTE ".com/\""),
	  .rc = 1, .errors = { E("callbackUrl", "invalid_callback_url", NULL) } },

	/* several errors at once, in the order the fields are checked */
	{ .name = "every field wrong at once",
	  .json = "{\"zzz\":1,\"to\":\"+999 1234567\",\"from\":\"ACME!\",\"body\":\"\",\"encoding\":\"x\","
		  "\"clientReference\":5,\"validityPeriod\":1,\"callbackUrl\":\"http://x\"}",
	  .rc = 1,
	  .errors = { E("zzz", "unknown_field", NULL), E("to", "invalid_to", "999"), E("from", "invalid_from", NULL),
		      E("encoding", "invalid_encoding", NULL), E("body", "empty_body", NULL),
		      E("clientReference", "invalid_type", NULL), E("validityPeriod", "invalid_validity_period", NULL),
		      E("callbackUrl", "invalid_callback_url", NULL) } },
	{ .name = "bad to and gsm7 body together",
	  .json = "{\"to\":5,\"from\":\"ACME\",\"body\":\"" ZHE "\",\"encoding\":\"gsm7\"}", .rc = 1,
	  .errors = { E("to", "invalid_type", NULL), E("body", "not_gsm7", "U+0436") } },

	/* not a JSON object: -1 */
	{ .name = "malformed truncated", .json = "{\"to\":\"+1415", .rc = -1, .detail = "not valid JSON" },
	{ .name = "malformed trailing garbage", .json = "{} x", .rc = -1, .detail = "not valid JSON" },
	{ .name = "malformed second value", .json = "{}{}", .rc = -1, .detail = "not valid JSON" },
	{ .name = "malformed NUL byte after the value", .json = "{}\0", .len = 3, .rc = -1,
	  .detail = "not valid JSON" },
	{ .name = "top-level array", .json = "[{\"to\":\"+14155550100\"}]", .rc = -1,
	  .detail = "must be a JSON object" },
	{ .name = "top-level string", .json = "\"hi\"", .rc = -1, .detail = "must be a JSON object" },
	/* json-c waits for more after a value that ends the body; parse_json tells it the body ended (found by fuzzing) */
	{ .name = "top-level null", .json = "null", .rc = -1, .detail = "must be a JSON object" },
	{ .name = "top-level true", .json = "true ", .rc = -1, .detail = "must be a JSON object" },
	{ .name = "top-level false at the very end", .json = "false", .rc = -1, .detail = "must be a JSON object" },
	{ .name = "top-level number at the very end", .json = "5", .rc = -1, .detail = "must be a JSON object" },
	{ .name = "top-level literal cut short", .json = "nul", .rc = -1, .detail = "nul is not a number, true, false or null" },
	{ .name = "top-level number cut short", .json = "-", .rc = -1, .detail = "not valid JSON: - is not a number" },
	{ .name = "top-level object cut short", .json = "{\"to\":", .rc = -1, .detail = "not valid JSON: unexpected end" },
	/* json-c takes these even in strict mode; JSON has none of them (found by fuzzing) */
	{ .name = "NaN is not JSON", .json = SEND_BODY("\"validityPeriod\":NaN"), .rc = -1, .detail = "NaN is not a number" },
	{ .name = "-Infinity is not JSON", .json = SEND_BODY("\"x\":[-Infinity]"), .rc = -1, .detail = "-Infinity is not" },
	{ .name = "a number ending in a dot is not JSON", .json = SEND_BODY("\"validityPeriod\":3600."), .rc = -1,
	  .detail = "3600. is not a number" },
	{ .name = "a dot then an exponent is not JSON", .json = SEND_BODY("\"validityPeriod\":1.e5"), .rc = -1,
	  .detail = "1.e5 is not a number" },
	{ .name = "a leading zero after minus is not JSON", .json = SEND_BODY("\"validityPeriod\":-01"), .rc = -1,
	  .detail = "-01 is not a number" },
	{ .name = "upper case TRUE is not JSON", .json = SEND_BODY("\"x\":TRUE"), .rc = -1, .detail = "TRUE is not" },
	{ .name = "a long bad word is cut in the detail", .json = SEND_BODY("\"x\":abcdefghijklmnopqrstuvwxyzabcdefghij"),
	  .rc = -1, .detail = "abcdefghijklmnopqrstuvwx... is not" },
	{ .name = "every JSON number form is taken", .json = SEND_BODY("\"x\":[0,-0,12,-12,0.5,-0.5e-3,1E+2,1e2,2.5E10]"),
	  .rc = 1, .errors = { E("x", "unknown_field", NULL) } },
	{ .name = "a lone backslash ends the body", .json = "{\"to\":\"\\", .rc = -1, .detail = "not valid JSON" },
	/*
	 * json-c returns NULL, without an error, for the JSON value null,
	 * and parse_json reports it as "the body is not valid JSON: success".
	 */
	{ .name = "top-level null then a space says must be an object", .json = "null ", .rc = -1,
	  .detail = "must be a JSON object" },
	{ .name = "single quotes", .json = "{'to':'+14155550100'}", .rc = -1, .detail = "not valid JSON" },
	{ .name = "trailing comma", .json = SEND("\"body\":\"Hi\","), .rc = -1, .detail = "not valid JSON" },
	{ .name = "empty body", .json = "", .rc = -1, .detail = "not valid JSON" },
	{ .name = "only white space", .json = " \n ", .rc = -1, .detail = "not valid JSON" },
	{ .name = "comment", .json = "{/* c */}", .rc = -1, .detail = "not valid JSON" },
	{ .name = "nesting deeper than the limit",
	  .json = SEND_BODY("\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"),
	  .rc = -1, .detail = "not valid JSON" },
	{ .name = "trailing white space is fine", .json = "{} \r\n\t", .rc = 1,
	  .errors = { E("to", "missing_field", NULL), E("from", "missing_field", NULL),
		      E("body", "missing_field", NULL) } },
};

/* A heap copy of json (exactly len bytes, no NUL after them) with "$FILL" replaced. */
static char *make_json(const char *json, size_t json_len, const struct piece *fill, size_t *len)
{
	const char *mark = fill->times ? strstr(json, "$FILL") : NULL;
	if (!mark) {
		char *p = malloc(json_len ? json_len : 1);
		assert_non_null(p);
		memcpy(p, json, json_len);
		*len = json_len;
		return p;
	}
	size_t pre = (size_t)(mark - json), piece = strlen(fill->bytes);
	size_t post = json_len - pre - 5;
	*len = pre + piece * fill->times + post;
	char *p = malloc(*len), *w = p;
	assert_non_null(p);
	memcpy(w, json, pre);
	w += pre;
	for (unsigned i = 0; i < fill->times; i++, w += piece)
		memcpy(w, fill->bytes, piece);
	memcpy(w, mark + 5, post);
	return p;
}

static int count_errors(const struct exp_error *e, size_t max)
{
	int n = 0;
	while ((size_t)n < max && e[n].code)
		n++;
	return n;
}

/* What the item holds, for the output of a failing test. */
static void dump_item(const struct sms_item *it)
{
	for (int i = 0; i < it->nerrors; i++)
		print_message("  error %d: %s %s: %s\n", i, it->errors[i].field, it->errors[i].code,
			      it->errors[i].detail);
	if (it->nerrors == 0 && it->body) {
		print_message("  to %s, from %s, encoding %s, %u segments, body bytes", it->to, it->from,
			      sms_encoding_name(it->encoding), it->segments);
		for (size_t i = 0; i < it->body_len && i < 16; i++)
			print_message(" %02x", (unsigned char)it->body[i]);
		print_message("\n");
	}
}

static void check_errors(const struct sms_item *it, const struct exp_error *want, size_t max)
{
	int n = count_errors(want, max);
	bool same = it->nerrors == n;
	for (int i = 0; i < n && same; i++)
		same = !strcmp(it->errors[i].code, want[i].code);
	if (!same)
		dump_item(it);
	assert_int_equal(it->nerrors, n);
	for (int i = 0; i < n; i++) {
		if (want[i].field)
			assert_string_equal(it->errors[i].field, want[i].field);
		assert_string_equal(it->errors[i].code, want[i].code);
		assert_true(it->errors[i].detail[0] != '\0');
		if (want[i].detail && !strstr(it->errors[i].detail, want[i].detail))
			fail_msg("detail \"%s\" does not contain \"%s\"", it->errors[i].detail, want[i].detail);
	}
}

static void check_opt(const char *got, const char *want)
{
	if (want == ANY)
		assert_non_null(got);
	else if (want == NULL)
		assert_null(got);
	else
		assert_string_equal(got, want);
}

static void check_item(const struct sms_item *it, const struct send_case *tc)
{
	assert_int_equal(it->nerrors, 0);
	assert_string_equal(it->to, tc->to ? tc->to : TF_TO);
	assert_non_null(it->from);
	assert_string_equal(it->from, tc->from ? tc->from : TF_FROM);
	assert_non_null(it->body);
	assert_true(it->body_len > 0);
	assert_null(memchr(it->body, '\0', it->body_len));
	if (tc->body && tc->body != ANY) {
		assert_int_equal(it->body_len, strlen(tc->body));
		assert_memory_equal(it->body, tc->body, it->body_len);
	}
	if (tc->body_len)
		assert_int_equal(it->body_len, tc->body_len);
	if (tc->encoding)
		assert_string_equal(sms_encoding_name(it->encoding), sms_encoding_name(tc->encoding));
	if (tc->segments)
		assert_int_equal(it->segments, tc->segments);
	assert_true(it->segments >= 1);
	check_opt(it->client_reference, tc->cref);
	check_opt(it->callback_url, tc->callback);
	assert_int_equal(it->validity_s, tc->validity ? tc->validity : VALIDITY_DEFAULT_S);
	assert_int_equal(it->high, tc->priority == 1);
	assert_int_equal(it->send_at_ms, tc->send_at);
	assert_int_equal(it->scheduled, tc->scheduled == 1);
}

/*
 * What a test parsed, released by the teardown so that a failed assertion
 * (a longjmp out of the test) leaks nothing under ASan.
 */
static struct sms_item cur_item;
static struct sms_item *cur_items;
static size_t cur_n;

static int release_parsed(void **state)
{
	(void)state;
	item_release(&cur_item);
	items_free(cur_items, cur_n);
	cur_items = NULL;
	cur_n = 0;
	return 0;
}

static void run_send_case(void **state)
{
	const struct send_case *tc = *state;
	struct request_limits lim = { tc->max_segments ? tc->max_segments : 10, 1000, NOW_MS };
	struct sms_item *itp = &cur_item;
	char detail[200];
	size_t len;
	char *json = make_json(tc->json, tc->len ? tc->len : strlen(tc->json), &tc->fill, &len);

	detail[0] = '\0';
	int rc = request_parse_send(json, len, &lim, itp, detail, sizeof(detail));
	free(json);
	if (rc != tc->rc) {
		print_message("  got rc %d%s%s\n", rc, rc == -1 ? ", detail: " : "", rc == -1 ? detail : "");
		dump_item(itp);
	}
	assert_int_equal(rc, tc->rc);
	if (rc == -1) {
		assert_int_equal(itp->nerrors, 0);
		assert_null(itp->from);
		assert_null(itp->body);
		if (tc->detail && !strstr(detail, tc->detail))
			fail_msg("detail \"%s\" does not contain \"%s\"", detail, tc->detail);
	} else if (rc == 1) {
		check_errors(itp, tc->errors, ARRAY_SIZE(tc->errors));
	} else {
		check_item(itp, tc);
	}
	item_release(itp);
	item_release(itp); /* a second release is harmless */
}

/* sender_valid directly. */
struct sender_case {
	const char *name;
	const char *in;
	size_t len;
	bool valid;
	const char *out;
};

#define LIT(s) (s), (sizeof(s) - 1)

static const struct sender_case sender_cases[] = {
	{ "sender ACME", LIT("ACME"), true, "ACME" },
	{ "sender one letter", LIT("A"), true, "A" },
	{ "sender with a space", LIT("My Shop 1"), true, "My Shop 1" },
	{ "sender 11 characters", LIT("ABCDEFGHIJK"), true, "ABCDEFGHIJK" },
	{ "sender 11 characters with a letter", LIT("1234567890A"), true, "1234567890A" },
	{ "sender 12 letters", LIT("ABCDEFGHIJKL"), false, NULL },
	{ "sender 12 digits", LIT("123456789012"), false, NULL },
	{ "sender short code 3 digits", LIT("123"), true, "123" },
	{ "sender short code 5 digits", LIT("12345"), true, "12345" },
	{ "sender short code 8 digits", LIT("12345678"), true, "12345678" },
	{ "sender 9 digits", LIT("123456789"), false, NULL },
	{ "sender short code 2 digits", LIT("12"), false, NULL },
	{ "sender digits with a space", LIT("1 2 3"), false, NULL },
	{ "sender E.164", LIT("+447911123456"), true, "+447911123456" },
	{ "sender E.164 with separators", LIT("+1 (415) 555-0100"), true, "+14155550100" },
	{ "sender 00 number", LIT("0044 7911 123456"), true, "+447911123456" },
	{ "sender E.164 unassigned code", LIT("+999 1234567"), false, NULL },
	{ "sender E.164 too short", LIT("+4412"), false, NULL },
	{ "sender empty", LIT(""), false, NULL },
	{ "sender only spaces", LIT("   "), false, NULL },
	{ "sender punctuation", LIT("ACME!"), false, NULL },
	{ "sender hyphen", LIT("AC-ME"), false, NULL },
	{ "sender non-ASCII letter", LIT("\xC3\x84" "CME"), false, NULL },
	{ "sender NUL inside", LIT("AC\0ME"), false, NULL },
	{ "sender tab", LIT("AC\tME"), false, NULL },
};

static void run_sender_case(void **state)
{
	const struct sender_case *tc = *state;
	char out[32];
	char *in = malloc(tc->len ? tc->len : 1);

	assert_non_null(in);
	memcpy(in, tc->in, tc->len);
	memset(out, 'x', sizeof(out));
	bool ok = sender_valid(in, tc->len, out, sizeof(out));
	free(in);
	assert_int_equal(ok, tc->valid);
	if (ok)
		assert_string_equal(out, tc->out);
}

/* Fingerprints of two valid send bodies, equal or not. */
struct fp_case {
	const char *name;
	const char *a, *b;
	bool same;
};

static const struct fp_case fp_cases[] = {
	{ "fingerprint ignores key order", SEND("\"body\":\"Hi\",\"clientReference\":\"r1\""),
	  "{\"clientReference\":\"r1\",\"body\":\"Hi\",\"from\":\"ACME\",\"to\":\"+14155550100\"}", true },
	{ "fingerprint ignores white space", SEND("\"body\":\"Hi\""),
	  "\n{ \"to\" :\t\"+14155550100\" ,\r\n  \"from\" : \"ACME\", \"body\" : \"Hi\" }  ", true },
	{ "fingerprint uses the normalized to", SEND("\"body\":\"Hi\""),
	  HI("+1 (415) 555-0100", "ACME"), true },
	{ "fingerprint validityPeriod default equals explicit", SEND("\"body\":\"Hi\""),
	  SEND("\"body\":\"Hi\",\"validityPeriod\":172800"), true },
	{ "fingerprint escapes equal raw UTF-8", SEND("\"body\":\"caf\\u00e9\""), SEND("\"body\":\"caf" E_ACUTE "\""),
	  true },
	{ "fingerprint different body", SEND("\"body\":\"Hi\""), SEND("\"body\":\"Ho\""), false },
	{ "fingerprint different to", SEND("\"body\":\"Hi\""),
	  HI("+14155550101", "ACME"), false },
	{ "fingerprint different from", SEND("\"body\":\"Hi\""),
	  HI("+14155550100", "ACME2"), false },
	{ "fingerprint from and body boundary", "{\"to\":\"+14155550100\",\"from\":\"AB\",\"body\":\"C\"}",
	  "{\"to\":\"+14155550100\",\"from\":\"A\",\"body\":\"BC\"}", false },
	{ "fingerprint clientReference absent vs empty", SEND("\"body\":\"Hi\""),
	  SEND("\"body\":\"Hi\",\"clientReference\":\"\""), false },
	{ "fingerprint different validityPeriod", SEND("\"body\":\"Hi\",\"validityPeriod\":60"),
	  SEND("\"body\":\"Hi\",\"validityPeriod\":61"), false },
	{ "fingerprint priority normal equals absent", SEND("\"body\":\"Hi\""),
	  SEND("\"body\":\"Hi\",\"priority\":\"normal\""), true },
	{ "fingerprint priority high differs", SEND("\"body\":\"Hi\""), SEND("\"body\":\"Hi\",\"priority\":\"high\""),
	  false },
	{ "fingerprint sendAt in another offset is the same time",
	  SEND("\"body\":\"Hi\",\"sendAt\":\"2026-11-24T11:00:00Z\""),
	  SEND("\"body\":\"Hi\",\"sendAt\":\"2026-11-24T13:00:00+02:00\""), true },
	{ "fingerprint another sendAt differs", SEND("\"body\":\"Hi\",\"sendAt\":\"2026-11-24T11:00:00Z\""),
	  SEND("\"body\":\"Hi\",\"sendAt\":\"2026-11-24T11:00:01Z\""), false },
	{ "fingerprint different callbackUrl", SEND("\"body\":\"Hi\",\"callbackUrl\":\"https://a.example/\""),
	  SEND("\"body\":\"Hi\",\"callbackUrl\":\"https://b.example/\""), false },
	{ "fingerprint smartEncoding true differs from absent", SEND("\"body\":\"Hi\""),
	  SEND("\"body\":\"Hi\",\"smartEncoding\":true"), false },
	{ "fingerprint smartEncoding false equals absent", SEND("\"body\":\"Hi\""),
	  SEND("\"body\":\"Hi\",\"smartEncoding\":false"), true },
	{ "fingerprint curly quotes with and without smartEncoding differ",
	  SEND("\"body\":\"\\u201cHi\\u201d\""), SEND("\"body\":\"\\u201cHi\\u201d\",\"smartEncoding\":true"), false },
	/* the same message is made: the normalized body is the replaced one */
	{ "fingerprint smartEncoding: curly and straight quotes are the same request",
	  SEND("\"body\":\"\\u201cHi\\u201d\",\"smartEncoding\":true"),
	  SEND("\"body\":\"\\\"Hi\\\"\",\"smartEncoding\":true"), true },
	{ "fingerprint ucs2 vs auto GSM text", SEND("\"body\":\"Hi\",\"encoding\":\"ucs2\""), SEND("\"body\":\"Hi\""),
	  false },
};

static void fingerprint_of(const char *json, unsigned char digest[SHA256_DIGEST_LEN])
{
	struct request_limits lim = { 10, 1000, NOW_MS };
	struct sms_item it;
	struct sha256 s;
	char detail[200];

	assert_int_equal(request_parse_send(json, strlen(json), &lim, &it, detail, sizeof(detail)), 0);
	sha256_init(&s);
	item_fingerprint(&s, &it);
	sha256_final(&s, digest);
	item_release(&it);
}

static void run_fp_case(void **state)
{
	const struct fp_case *tc = *state;
	unsigned char a[SHA256_DIGEST_LEN], b[SHA256_DIGEST_LEN], a2[SHA256_DIGEST_LEN];

	fingerprint_of(tc->a, a);
	fingerprint_of(tc->b, b);
	fingerprint_of(tc->a, a2);
	assert_memory_equal(a, a2, sizeof(a)); /* deterministic */
	assert_int_equal(memcmp(a, b, sizeof(a)) == 0, tc->same);
}

/* request_parse_bulk. */
struct bulk_item_want {
	const char *to;    /* valid item: its normalized to */
	const char *field; /* invalid item: its first error */
	const char *code;
	int nerrors;
};

struct bulk_case {
	const char *name;
	const char *json; /* "$FILL" is replaced by fill */
	struct piece fill;
	int64_t bulk_max; /* 0: 1000 */
	int rc;
	const char *detail; /* rc -1: a piece of it */
	size_t n;
	struct bulk_item_want items[5];
};

#define MSG(to) "{\"to\":\"" to "\",\"from\":\"ACME\",\"body\":\"Hi\"}"
#define OK_ITEM(to) { (to), NULL, NULL, 0 }
#define BAD_ITEM(field, code, n) { NULL, (field), (code), (n) }

static const struct bulk_case bulk_cases[] = {
	{ .name = "bulk two valid items", .json = "{\"messages\":[" MSG("+14155550100") "," MSG("+442079460958") "]}",
	  .rc = 0, .n = 2, .items = { OK_ITEM("+14155550100"), OK_ITEM("+442079460958") } },
	{ .name = "bulk mixed items keep their order",
	  .json = "{\"messages\":[" MSG("+14155550100") "," MSG("+999 1234567") ",5,"
		  "{\"to\":\"+14155550100\",\"body\":\"\",\"x\":1}," MSG("0044 20 7946 0958") "]}",
	  .rc = 0, .n = 5,
	  .items = { OK_ITEM("+14155550100"), BAD_ITEM("to", "invalid_to", 1), BAD_ITEM("(item)", "invalid_type", 1),
		     BAD_ITEM("x", "unknown_field", 3), OK_ITEM("+442079460958") } },
	{ .name = "bulk item that is a string", .json = "{\"messages\":[\"hello\"]}", .rc = 0, .n = 1,
	  .items = { BAD_ITEM("(item)", "invalid_type", 1) } },
	{ .name = "bulk item that is null", .json = "{\"messages\":[null," MSG("+14155550100") "]}", .rc = 0, .n = 2,
	  .items = { BAD_ITEM("(item)", "invalid_type", 1), OK_ITEM("+14155550100") } },
	{ .name = "bulk item that is an array", .json = "{\"messages\":[[" MSG("+14155550100") "]]}", .rc = 0, .n = 1,
	  .items = { BAD_ITEM("(item)", "invalid_type", 1) } },
	{ .name = "bulk at the limit", .json = "{\"messages\":[" MSG("+14155550100") "," MSG("+14155550101") ","
					       MSG("+14155550102") "]}",
	  .bulk_max = 3, .rc = 0, .n = 3,
	  .items = { OK_ITEM("+14155550100"), OK_ITEM("+14155550101"), OK_ITEM("+14155550102") } },
	{ .name = "bulk over the limit", .json = "{\"messages\":[" MSG("+14155550100") "," MSG("+14155550101") ","
						 MSG("+14155550102") "," MSG("+14155550103") "]}",
	  .bulk_max = 3, .rc = 1, .detail = "4 items; at most 3" },
	{ .name = "bulk 1001 items over the default limit", .json = "{\"messages\":[$FILL" MSG("+14155550100") "]}",
	  .fill = { MSG("+14155550100") ",", 1000 }, .rc = 1, .detail = "at most 1000" },
	{ .name = "bulk messages missing", .json = "{}", .rc = 1, .detail = "messages" },
	{ .name = "bulk messages misspelled", .json = "{\"message\":[" MSG("+14155550100") "]}", .rc = 1,
	  .detail = "messages" },
	{ .name = "bulk messages empty", .json = "{\"messages\":[]}", .rc = 1, .detail = "non-empty array" },
	{ .name = "bulk messages an object", .json = "{\"messages\":" MSG("+14155550100") "}", .rc = 1,
	  .detail = "non-empty array" },
	{ .name = "bulk messages null", .json = "{\"messages\":null}", .rc = 1, .detail = "non-empty array" },
	{ .name = "bulk extra top-level field", .json = "{\"messages\":[" MSG("+14155550100") "],\"dryRun\":true}",
	  .rc = 1, .detail = "nothing else" },
	{ .name = "bulk top-level array", .json = "[" MSG("+14155550100") "]", .rc = -1, .detail = "JSON object" },
	{ .name = "bulk malformed", .json = "{\"messages\":[" MSG("+14155550100"), .rc = -1,
	  .detail = "not valid JSON" },
	{ .name = "bulk trailing garbage", .json = "{\"messages\":[" MSG("+14155550100") "]} x", .rc = -1,
	  .detail = "not valid JSON" },
	{ .name = "bulk messages twice", .json = "{\"messages\":[" MSG("+14155550100") "],\"messages\":[" MSG("+14155550101") "]}",
	  .rc = -1, .detail = "appears twice" },
	{ .name = "bulk item with a member twice",
	  .json = "{\"messages\":[{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"a\",\"to\":\"+14155550101\"}]}",
	  .rc = -1, .detail = "appears twice" },
	{ .name = "bulk same member names in different items are fine",
	  .json = "{\"messages\":[" MSG("+14155550100") "," MSG("+14155550100") "]}", .rc = 0, .n = 2,
	  .items = { OK_ITEM("+14155550100"), OK_ITEM("+14155550100") } },
};

static void run_bulk_case(void **state)
{
	const struct bulk_case *tc = *state;
	struct request_limits lim = { 10, tc->bulk_max ? tc->bulk_max : 1000 };
	struct sms_item *items = (struct sms_item *)1;
	size_t n = 99, len;
	char detail[200];
	char *json = make_json(tc->json, strlen(tc->json), &tc->fill, &len);

	detail[0] = '\0';
	int rc = request_parse_bulk(json, len, &lim, &items, &n, detail, sizeof(detail));
	free(json);
	if (rc == 0) {
		cur_items = items; /* the teardown frees them */
		cur_n = n;
	}
	if (rc != tc->rc)
		print_message("  got rc %d, detail: %s\n", rc, detail);
	assert_int_equal(rc, tc->rc);
	if (rc != 0) {
		assert_null(items);
		assert_int_equal(n, 0);
		if (!strstr(detail, tc->detail))
			fail_msg("detail \"%s\" does not contain \"%s\"", detail, tc->detail);
		return;
	}
	assert_int_equal(n, tc->n);
	for (size_t i = 0; i < n; i++) {
		const struct bulk_item_want *w = &tc->items[i];
		const struct sms_item *it = &items[i];
		if (it->nerrors != w->nerrors)
			dump_item(it);
		assert_int_equal(it->nerrors, w->nerrors);
		if (w->to) {
			assert_string_equal(it->to, w->to);
			assert_non_null(it->body);
		} else {
			assert_string_equal(it->errors[0].field, w->field);
			assert_string_equal(it->errors[0].code, w->code);
		}
	}
}

/* More problems than ITEM_MAX_ERRORS: the first twelve are kept. */
static void test_errors_capped(void **state)
{
	static const char json[] = "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,\"j\":1,"
				   "\"k\":1,\"l\":1,\"m\":1,\"n\":1}";
	struct request_limits lim = { 10, 1000, NOW_MS };
	struct sms_item it;
	char detail[200];

	(void)state;
	assert_int_equal(request_parse_send(json, strlen(json), &lim, &it, detail, sizeof(detail)), 1);
	assert_int_equal(it.nerrors, ITEM_MAX_ERRORS);
	assert_string_equal(it.errors[0].field, "a");
	assert_string_equal(it.errors[ITEM_MAX_ERRORS - 1].field, "l");
	item_release(&it);
}

/* A long unknown member name is cut to fit errors[].field, still NUL-terminated. */
static void test_unknown_field_long_name(void **state)
{
	static const char json[] = SEND_BODY("\"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij\":1");
	struct request_limits lim = { 10, 1000, NOW_MS };
	struct sms_item it;
	char detail[200];

	(void)state;
	assert_int_equal(request_parse_send(json, strlen(json), &lim, &it, detail, sizeof(detail)), 1);
	assert_int_equal(it.nerrors, 1);
	assert_string_equal(it.errors[0].code, "unknown_field");
	assert_int_equal(strlen(it.errors[0].field), sizeof(it.errors[0].field) - 1);
	assert_memory_equal(it.errors[0].field, "abcdefghijklmnopqrstuvwxyz", 26);
	item_release(&it);
}

/* Parses the output of item_errors_json back and compares it with the item. */
static void check_errors_json(const struct sms_item *it)
{
	struct buf b;

	buf_init(&b);
	item_errors_json(it, &b);
	json_tokener *tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *arr = json_tokener_parse_ex(tok, b.data, (int)b.len);
	assert_int_equal(json_tokener_get_error(tok), json_tokener_success);
	assert_int_equal(json_tokener_get_parse_end(tok), b.len);
	json_tokener_free(tok);
	assert_non_null(arr);
	assert_true(json_object_is_type(arr, json_type_array));
	assert_int_equal(json_object_array_length(arr), it->nerrors);
	for (int i = 0; i < it->nerrors; i++) {
		json_object *e = json_object_array_get_idx(arr, (size_t)i), *v;
		assert_true(json_object_is_type(e, json_type_object));
		assert_int_equal(json_object_object_length(e), 3);
		assert_true(json_object_object_get_ex(e, "field", &v));
		assert_string_equal(json_object_get_string(v), it->errors[i].field);
		assert_true(json_object_object_get_ex(e, "code", &v));
		assert_string_equal(json_object_get_string(v), it->errors[i].code);
		assert_true(json_object_object_get_ex(e, "detail", &v));
		assert_string_equal(json_object_get_string(v), it->errors[i].detail);
	}
	json_object_put(arr);
	buf_release(&b);
}

static void test_errors_json_roundtrip(void **state)
{
	static const char json[] = "{\"we\\\"ird\\\\\":1,\"c\\u0007tl\":2,\"to\":\"+999 1234567\",\"from\":\"A\\\"B\","
				   "\"body\":\"\\u0000\",\"validityPeriod\":\"x\"}";
	struct request_limits lim = { 10, 1000, NOW_MS };
	struct sms_item it;
	char detail[200];

	(void)state;
	assert_int_equal(request_parse_send(json, strlen(json), &lim, &it, detail, sizeof(detail)), 1);
	assert_int_equal(it.nerrors, 6);
	assert_string_equal(it.errors[0].field, "we\"ird\\");
	assert_string_equal(it.errors[1].field, "c?tl");
	check_errors_json(&it);
	item_release(&it);
}

/* Details with control characters and UTF-8 are escaped, not broken. */
static void test_errors_json_escapes(void **state)
{
	struct sms_item it;

	(void)state;
	memset(&it, 0, sizeof(it));
	it.nerrors = 2;
	snprintf(it.errors[0].field, sizeof(it.errors[0].field), "body");
	it.errors[0].code = "invalid_utf8";
	snprintf(it.errors[0].detail, sizeof(it.errors[0].detail), "tab\there\nnew \"q\" \\ \x01\x1f caf" E_ACUTE);
	snprintf(it.errors[1].field, sizeof(it.errors[1].field), "to");
	it.errors[1].code = "invalid_to";
	check_errors_json(&it);
}

static void test_errors_json_empty(void **state)
{
	static const char json[] = SEND("\"body\":\"Hi\"");
	struct request_limits lim = { 10, 1000, NOW_MS };
	struct sms_item it;
	struct buf b;
	char detail[200];

	(void)state;
	assert_int_equal(request_parse_send(json, strlen(json), &lim, &it, detail, sizeof(detail)), 0);
	buf_init(&b);
	item_errors_json(&it, &b);
	assert_string_equal(b.data, "[]");
	buf_release(&b);
	item_release(&it);
}

/* The fingerprint of a bulk request item by item: same items, same digest. */
static void test_bulk_fingerprint(void **state)
{
	static const char a[] = "{\"messages\":[" MSG("+14155550100") "," MSG("+442079460958") "]}";
	static const char b[] = " { \"messages\" : [ {\"body\":\"Hi\",\"from\":\"ACME\",\"to\":\"+1 415 555 0100\"} ,"
				"{\"from\":\"ACME\",\"to\":\"0044 20 7946 0958\",\"body\":\"Hi\"} ] } ";
	const char *bodies[] = { a, b };
	unsigned char digest[2][SHA256_DIGEST_LEN];
	struct request_limits lim = { 10, 1000, NOW_MS };
	char detail[200];

	(void)state;
	for (int k = 0; k < 2; k++) {
		struct sms_item *items;
		size_t n;
		struct sha256 s;
		int rc = request_parse_bulk(bodies[k], strlen(bodies[k]), &lim, &items, &n, detail, sizeof(detail));
		assert_int_equal(rc, 0);
		assert_int_equal(n, 2);
		sha256_init(&s);
		for (size_t i = 0; i < n; i++)
			item_fingerprint(&s, &items[i]);
		sha256_final(&s, digest[k]);
		items_free(items, n);
	}
	assert_memory_equal(digest[0], digest[1], SHA256_DIGEST_LEN);
}

/* The Idempotency-Key syntax: 1-255 visible ASCII characters. */
static void test_idempotency_key(void **state)
{
	static const struct {
		const char *key;
		size_t len; /* 0: strlen(key) */
		bool valid;
	} cases[] = {
		{ "a", 0, true },
		{ "order-42:retry/1", 0, true },
		{ "!~", 0, true },
		{ "", 0, false },
		{ "has space", 0, false },
		{ "tab\there", 0, false },
		{ "del\x7f", 0, false },
		{ "caf\xC3\xA9", 0, false },
		{ "nul\0inside", 11, false },
	};
	char key[IDEMPOTENCY_KEY_MAX + 2];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].key);
		if (idempotency_key_valid(cases[i].key, len) != cases[i].valid)
			fail_msg("key %zu (\"%s\"): want %s", i, cases[i].key, cases[i].valid ? "valid" : "invalid");
	}
	memset(key, 'k', sizeof(key));
	assert_true(idempotency_key_valid(key, IDEMPOTENCY_KEY_MAX));
	assert_false(idempotency_key_valid(key, IDEMPOTENCY_KEY_MAX + 1));
}

/* A test for one table row; the teardown frees whatever the row parsed. */
static struct CMUnitTest row_test(const char *name, CMUnitTestFunction fn, const void *row)
{
	return (struct CMUnitTest){ .name = name, .test_func = fn, .teardown_func = release_parsed,
				    .initial_state = (void *)row };
}

int main(void)
{
	static const struct CMUnitTest others[] = {
		cmocka_unit_test(test_errors_capped),
		cmocka_unit_test(test_unknown_field_long_name),
		cmocka_unit_test(test_errors_json_roundtrip),
		cmocka_unit_test(test_errors_json_escapes),
		cmocka_unit_test(test_errors_json_empty),
		cmocka_unit_test(test_bulk_fingerprint),
		cmocka_unit_test(test_idempotency_key),
	};
	static struct CMUnitTest tests[ARRAY_SIZE(send_cases) + ARRAY_SIZE(sender_cases) + ARRAY_SIZE(fp_cases) +
				       ARRAY_SIZE(bulk_cases) + ARRAY_SIZE(others)];
	size_t n = 0;

	/* one named test per table row, then the others */
	for (size_t i = 0; i < ARRAY_SIZE(send_cases); i++)
		tests[n++] = row_test(send_cases[i].name, run_send_case, &send_cases[i]);
	for (size_t i = 0; i < ARRAY_SIZE(sender_cases); i++)
		tests[n++] = row_test(sender_cases[i].name, run_sender_case, &sender_cases[i]);
	for (size_t i = 0; i < ARRAY_SIZE(fp_cases); i++)
		tests[n++] = row_test(fp_cases[i].name, run_fp_case, &fp_cases[i]);
	for (size_t i = 0; i < ARRAY_SIZE(bulk_cases); i++)
		tests[n++] = row_test(bulk_cases[i].name, run_bulk_case, &bulk_cases[i]);
	for (size_t i = 0; i < ARRAY_SIZE(others); i++)
		tests[n++] = others[i];
	return cmocka_run_group_tests_name("request", tests, NULL, NULL);
}
