/*
 * The request bodies of POST /v1/sms/send, /v1/sms/bulk and
 * /v1/sms/preview: strict JSON parsing and every field rule of api.md, each
 * failure with its own code. The result is a normalized item (E.164
 * destination, the body after smart encoding when asked for, resolved
 * encoding, segment count, defaults applied) and its contribution to the
 * request's idempotency fingerprint. Send and preview parse with the same
 * function, so a preview counts exactly what a send would.
 *
 * Error codes in errors[] (field, code):
 *   missing_field, invalid_type, unknown_field,
 *   invalid_to, invalid_from,
 *   empty_body, invalid_utf8, nul_character, not_gsm7, too_many_segments,
 *   invalid_encoding, invalid_client_reference, invalid_validity_period,
 *   invalid_callback_url, invalid_priority, invalid_send_at
 *
 * Also the syntax of the Idempotency-Key header that comes with those
 * bodies (idempotency_key_valid).
 */
#ifndef ORCH_REQUEST_H
#define ORCH_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "e164.h"
#include "lib/buf.h"
#include "segments.h"

#define ITEM_MAX_ERRORS 12
#define VALIDITY_DEFAULT_S 172800
#define VALIDITY_MIN_S 60
#define VALIDITY_MAX_S 259200
#define IDEMPOTENCY_KEY_MAX 255
#define SEND_AT_MAX_AHEAD_S (35 * 86400) /* api.md: sendAt at most 35 days ahead */
#define SEND_AT_SKEW_S 300               /* a sendAt past by at most this much means now (clock skew) */

struct sha256;

struct field_error {
	char field[48];    /* the JSON member, e.g. "to", or an unknown one (non-printables as ?) */
	const char *code;  /* static */
	char detail[160];
};

struct sms_item {
	char to[E164_OUT_SIZE];
	char *from;             /* owned; normalized */
	char *body;             /* owned; may hold no NUL (validated); after smart encoding when smart */
	size_t body_len;
	enum sms_encoding encoding;
	unsigned segments;
	unsigned units;         /* septets (GSM7) or UTF-16 units (UCS2) of body (seg_info) */
	unsigned per_segment;   /* seg_info.per_segment */
	unsigned remaining;     /* seg_info.remaining */
	bool smart;             /* smartEncoding: true was asked for */
	unsigned replaced;      /* characters smart encoding replaced or removed (0 unless smart) */
	char *client_reference; /* owned; NULL when absent */
	char *callback_url;     /* owned; NULL when absent */
	int64_t validity_s;
	bool high;              /* priority "high" (else "normal") */
	int64_t send_at_ms;     /* sendAt as given, epoch ms; 0 when absent */
	bool scheduled;         /* sendAt is in the future: the message starts SCHEDULED */
	bool send_at_stale;     /* sendAt is more than SEND_AT_SKEW_S past (an invalid_send_at error; send_at_ms set) */
	int nerrors;
	struct field_error errors[ITEM_MAX_ERRORS];
};

struct request_limits {
	int64_t max_segments;
	int64_t bulk_max;
	int64_t now_ms; /* the time sendAt is checked against; 0: the wall clock at parse time */
};

/* Parses and validates one send body. 0: valid item; 1: item has errors (out->errors); -1: not a JSON object (detail set). */
int request_parse_send(const char *json, size_t len, const struct request_limits *lim, struct sms_item *out,
		       char *detail, size_t detail_len) __attribute__((warn_unused_result));

/*
 * Parses a bulk body into *items (caller frees with items_free). 0: parsed
 * (each item valid or carrying its errors); -1: not a JSON object (detail
 * set); 1: messages missing, empty or over the limit (detail set).
 */
int request_parse_bulk(const char *json, size_t len, const struct request_limits *lim, struct sms_item **items,
		       size_t *nitems, char *detail, size_t detail_len) __attribute__((warn_unused_result));

/*
 * True when the item's only fault is a sendAt now too far in the past: the
 * retry of a request accepted when it was not (its other fields are all
 * valid and normalized, so it can be fingerprinted as the first one was).
 */
bool item_only_stale_send_at(const struct sms_item *item);

void item_release(struct sms_item *item);
void items_free(struct sms_item *items, size_t n);

/* Adds the item's normalized fields to a fingerprint (order- and whitespace-independent of the JSON). */
void item_fingerprint(struct sha256 *s, const struct sms_item *item);

/* Appends one error as a JSON object {"field","code","detail"}. */
void field_error_json(const struct field_error *e, struct buf *out);
/* Appends the item's errors as a JSON array. */
void item_errors_json(const struct sms_item *item, struct buf *out);

/* The sender rules: alphanumeric 1-11 [A-Za-z0-9 ] with a letter, 3-8 digit short code, or E.164. Writes the normalized sender. */
bool sender_valid(const char *s, size_t len, char *out, size_t outlen);

/* The Idempotency-Key header: 1 to IDEMPOTENCY_KEY_MAX visible ASCII characters (0x21-0x7E). key[0..len) is borrowed. */
bool idempotency_key_valid(const char *key, size_t len);

#endif
