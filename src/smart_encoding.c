/*
 * Smart encoding (see smart_encoding.h): one pass over valid UTF-8 that
 * copies ASCII as it is and looks every other character up in the sorted
 * table generated from data/smart_encoding.txt (a binary search over about
 * 130 entries).
 */
#include "smart_encoding.h"

#include <string.h>

#include "segments.h"
#include "lib/banned.h"

const char *smart_encoding_of(uint32_t c)
{
	size_t lo = 0, hi = smart_encoding_table_len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (smart_encoding_table[mid].from == c)
			return smart_encoding_table[mid].to;
		if (smart_encoding_table[mid].from < c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

size_t smart_encode(const char *utf8, size_t len, struct buf *out)
{
	size_t pos = 0, replaced = 0;

	buf_grow(out, len);
	while (pos < len) {
		size_t start = pos;
		uint32_t c;
		if ((unsigned char)utf8[pos] < 0x80) {
			buf_addc(out, utf8[pos++]);
			continue;
		}
		if (utf8_decode(utf8, len, &pos, &c) < 0) {
			/* not valid UTF-8, against the contract: copy the byte, the caller's validation refuses it */
			buf_addc(out, utf8[pos++]);
			continue;
		}
		const char *to = smart_encoding_of(c);
		if (to) {
			buf_adds(out, to);
			replaced++;
		} else {
			buf_add(out, utf8 + start, pos - start);
		}
	}
	return replaced;
}
