/*
 * The preview answer (see preview.h). Everything but nonGsmCharacters is
 * already in the item request_parse_send made; that list is one more pass
 * over the (valid) body, keeping a bitmap of the characters listed so
 * far, so each appears once whatever the body's length.
 */
#include "preview.h"

#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"
#include "segments.h"
#include "lib/banned.h"

#define UNICODE_SIZE 0x110000u

/* The JSON array of the body's characters outside GSM 03.38, once each, in order of first appearance. */
static void non_gsm7_json(const char *body, size_t len, struct buf *out)
{
	unsigned char *seen = NULL;
	size_t pos = 0, n = 0;

	buf_addc(out, '[');
	while (pos < len) {
		size_t start = pos;
		uint32_t c;
		if (utf8_decode(body, len, &pos, &c) < 0) {
			pos++; /* cannot happen for a validated body */
			continue;
		}
		if (sms_gsm7_septets(c))
			continue;
		if (!seen)
			seen = xcalloc(UNICODE_SIZE / 8, 1);
		if (seen[c / 8] & (1u << (c % 8)))
			continue;
		seen[c / 8] |= (unsigned char)(1u << (c % 8));
		if (n++)
			buf_addc(out, ',');
		buf_add_json_str(out, body + start, pos - start);
	}
	buf_addc(out, ']');
	free(seen);
}

void preview_json(const struct sms_item *it, struct buf *out)
{
	buf_adds(out, "{\"to\":");
	buf_add_json_str(out, it->to, strlen(it->to));
	buf_adds(out, ",\"from\":");
	buf_add_json_str(out, it->from, strlen(it->from));
	buf_addf(out,
		 ",\"encoding\":\"%s\",\"segments\":%u,\"characters\":%u,\"charactersPerSegment\":%u,"
		 "\"charactersRemaining\":%u,\"nonGsmCharacters\":",
		 sms_encoding_name(it->encoding), it->segments, it->units, it->per_segment, it->remaining);
	non_gsm7_json(it->body, it->body_len, out);
	if (it->smart)
		buf_addf(out, ",\"replacedCharacters\":%u", it->replaced);
	buf_adds(out, ",\"body\":");
	buf_add_json_str(out, it->body, it->body_len);
	buf_addc(out, '}');
}
