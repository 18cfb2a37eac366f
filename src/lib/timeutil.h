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

#endif
