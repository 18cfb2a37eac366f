/* Clock helpers: monotonic milliseconds and RFC 3339 UTC timestamps. */
#ifndef ORCH_LIB_TIMEUTIL_H
#define ORCH_LIB_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Milliseconds on the monotonic clock. */
int64_t mono_ms(void);
/* Microseconds on the monotonic clock. */
int64_t mono_us(void);
/* Milliseconds since the Unix epoch (wall clock). */
int64_t wall_ms(void);
/* Writes "2026-11-24T10:00:00.123Z" for epoch milliseconds ms into out (>= 25 bytes). */
void rfc3339_ms(int64_t ms, char *out, size_t len);
/*
 * Parses an RFC 3339 date-time with an offset ("2026-11-24T10:00:00Z",
 * "2026-11-24t12:00:00.5+02:00"; 'T' or 't' or a space, 'Z' or 'z' or
 * +hh:mm/-hh:mm, fractions of any length, truncated to milliseconds;
 * leap second 60 refused) into epoch milliseconds. 0 on success, -1 when s
 * is not one. s[0..len) is borrowed and need not be terminated.
 */
int rfc3339_parse_ms(const char *s, size_t len, int64_t *out);

#endif
