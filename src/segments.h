/*
 * SMS body checks and segment counting (3GPP TS 23.038), used by the send,
 * bulk and preview handlers on every `body` (after smart encoding, when the
 * request asks for it: smart_encoding.h). It says whether a body is acceptable
 * text (strict UTF-8, not empty, no NUL), which encoding it goes out in
 * (GSM 7-bit default alphabet or UCS-2) and how many segments, i.e. billed
 * SMS, it takes. Comparing that count with ORCH_MAX_SEGMENTS is the
 * caller's job. Pure computation: no allocation, no state, any thread.
 */
#ifndef ORCH_SEGMENTS_H
#define ORCH_SEGMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the client asked for in `encoding`. */
enum sms_encoding_req { SMS_ENC_AUTO = 0, SMS_ENC_GSM7, SMS_ENC_UCS2 };

/* What the message is sent in. */
enum sms_encoding { SMS_GSM7 = 1, SMS_UCS2 = 2 };

enum seg_result {
	SEG_OK = 0,
	SEG_EMPTY,        /* zero bytes */
	SEG_INVALID_UTF8, /* see utf8_valid() */
	SEG_NUL,          /* valid UTF-8 holding U+0000 */
	SEG_NOT_GSM7,     /* GSM7 requested, a character is outside GSM 03.38 */
};

struct seg_info {
	enum sms_encoding encoding;
	unsigned units;       /* septets (GSM7) or UTF-16 code units (UCS2) */
	unsigned segments;    /* 1 or more */
	unsigned per_segment; /* units one segment holds: 160 or 70 alone, 153 or 67 per part of more */
	/*
	 * Units still free in the last segment: per_segment - units for one
	 * segment, per_segment - (units in the last part) for more. Exactly
	 * that many more one-unit characters fit without another segment; an
	 * extension-table character or a surrogate pair needs 2. For more than
	 * one segment, segments * per_segment - units - remaining is the room
	 * left empty at the end of earlier parts by pairs that are never split
	 * (0 to segments - 1).
	 */
	unsigned remaining;
};

/*
 * True when s[0..len) is strict UTF-8 (RFC 3629): no overlong form, no
 * surrogate (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
 * sequence. U+0000 is valid UTF-8. s is borrowed and need not be
 * NUL-terminated; it may be NULL when len is 0.
 */
bool utf8_valid(const char *s, size_t len);

/*
 * Decodes the character at s[*pos] (strict UTF-8, as utf8_valid) into *c
 * and moves *pos past it. -1, *pos unchanged, when the bytes there are not
 * a valid character. s is borrowed; *pos < len.
 */
int utf8_decode(const char *s, size_t len, size_t *pos, uint32_t *c) __attribute__((warn_unused_result));

/* Septets the character c costs in GSM 7-bit: 1 (default alphabet), 2 (extension table) or 0 (not in GSM 03.38). */
unsigned sms_gsm7_septets(uint32_t c);

/*
 * Validates utf8[0..len) (borrowed, need not be NUL-terminated) and counts
 * its segments in the encoding req leads to: SMS_ENC_AUTO picks GSM7 when
 * every character is in the GSM 03.38 default alphabet or its extension
 * table, else UCS2; SMS_ENC_UCS2 always gives UCS2.
 *
 * Returns SEG_OK and fills *out (required). Otherwise *out is zeroed and
 * the first problem is reported in this order: SEG_EMPTY, SEG_INVALID_UTF8
 * (detail names the byte offset), SEG_NUL (character index), SEG_NOT_GSM7
 * (the first offending character as U+XXXX and its character index).
 * Character indexes count Unicode characters from 0.
 *
 * detail is the caller's buffer of detail_len bytes: always NUL-terminated
 * when detail_len > 0 (empty on SEG_OK, truncated if short); may be NULL.
 */
enum seg_result sms_segments(const char *utf8, size_t len, enum sms_encoding_req req,
			     struct seg_info *out, char *detail, size_t detail_len)
	__attribute__((warn_unused_result));

/* "GSM7" or "UCS2" (static strings), as the API and the database spell them. */
const char *sms_encoding_name(enum sms_encoding e);

#endif
