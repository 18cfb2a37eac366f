/* Clock helpers (see timeutil.h). */
#include "lib/timeutil.h"

#include <stdio.h>
#include <time.h>

#include "lib/banned.h"

static int64_t clock_us(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t mono_ms(void) { return clock_us(CLOCK_MONOTONIC) / 1000; }
int64_t mono_us(void) { return clock_us(CLOCK_MONOTONIC); }
int64_t wall_ms(void) { return clock_us(CLOCK_REALTIME) / 1000; }

void rfc3339_ms(int64_t ms, char *out, size_t len)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}
