/*
 * UUIDs: version 7 ids (RFC 9562) for rows and messages, and a check that
 * text is a canonical UUID. Version 7 ids start with the Unix time in
 * milliseconds, so they sort by creation time as text and as the uuid type.
 */
#ifndef ORCH_LIB_UUID_H
#define ORCH_LIB_UUID_H

#include <stdbool.h>

#define UUID_STR_LEN 37 /* 36 chars + NUL */

/*
 * Writes a new UUIDv7, lowercase canonical 8-4-4-4-12, into out. Thread-safe.
 * Ids from one process are strictly increasing, also within one millisecond
 * and when the wall clock steps back. Aborts if no random bytes are available.
 */
void uuid7_str(char out[UUID_STR_LEN]);
/* True for any canonical UUID text (36 chars, hex either case, dashes at 8,13,18,23). */
bool uuid_parse_ok(const char *s);

#endif
