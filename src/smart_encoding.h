/*
 * Smart encoding (api.md, "Smart encoding"): with `"smartEncoding": true`
 * on send, bulk items and preview, the Unicode look-alikes that have an
 * unambiguous GSM-7 equivalent (curly quotes and primes, dashes, the
 * ellipsis, Unicode spaces, the bullet, the full-width ASCII forms) are
 * replaced by it and the zero-width characters removed, before the
 * segments are counted (segments.h). The stored and sent body is the
 * replaced one. Everything else is left as it is, so a text may stay UCS-2.
 *
 * The table is data/smart_encoding.txt, made into C at build time by
 * scripts/gen_smart_encoding.sh. Pure computation, any thread.
 */
#ifndef ORCH_SMART_ENCODING_H
#define ORCH_SMART_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

/* One replacement: the code point, and its printable ASCII replacement ("" when it is removed). */
struct smart_map {
	uint32_t from;
	char to[4];
};

/* The generated table (build/gen/smart_encoding_table.c), sorted by `from`, no code point twice. */
extern const struct smart_map smart_encoding_table[];
extern const size_t smart_encoding_table_len;

/* What c becomes: its replacement (static; "" when c is removed), or NULL when c is kept as it is. */
const char *smart_encoding_of(uint32_t c);

/*
 * Appends utf8[0..len) to out (initialized) with every character of the
 * table replaced, and returns how many characters were replaced or removed.
 * utf8 is borrowed and must be valid UTF-8 (utf8_valid); it may hold NUL.
 * The replacements are printable ASCII, which the table never replaces, so
 * encoding the result again changes nothing.
 */
size_t smart_encode(const char *utf8, size_t len, struct buf *out);

#endif
