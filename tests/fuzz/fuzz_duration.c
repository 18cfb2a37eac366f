/*
 * Fuzz target: config_parse_duration_ms and config_parse_bool (config.c),
 * the value syntax of ORCH_* durations and booleans (input: the value;
 * it ends at a NUL byte, as an environment variable does).
 *
 * Duration: a reference written here (digits, then ms, s, m, h or d
 * exactly, no sign, no space, no overflow of int64 milliseconds) must
 * agree; a parsed value formatted as "<n>ms" (what config_log prints) and,
 * when it divides, in the largest whole unit parses back to the same value.
 * Bool: only the eight words of config.c are taken, and "true"/"false"
 * round-trip.
 */
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "util.h"
#include "lib/banned.h"

static const struct {
	const char *unit;
	int64_t ms;
} UNITS[] = { { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 } };

static int ref_duration(const char *s, int64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	if (!(s[0] >= '0' && s[0] <= '9'))
		return -1;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > ((uint64_t)INT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	for (size_t u = 0; u < sizeof(UNITS) / sizeof(UNITS[0]); u++) {
		if (strcmp(s + i, UNITS[u].unit))
			continue;
		if (v > (uint64_t)(INT64_MAX / UNITS[u].ms))
			return -1;
		*out = (int64_t)v * UNITS[u].ms;
		return 0;
	}
	return -1;
}

static void check_duration(const char *s)
{
	int64_t got = -1, want = -1, again = -1;
	int rc = config_parse_duration_ms(s, &got);
	int wrc = ref_duration(s, &want);
	FUZZ_CHECK(rc == wrc && (rc != 0 || got == want), "\"%s\": rc %d (%lld), the reference %d (%lld)", s, rc,
		   (long long)got, wrc, (long long)want);
	if (rc != 0)
		return;
	FUZZ_CHECK(got >= 0, "negative duration %lld", (long long)got);
	char text[48];
	snprintf(text, sizeof(text), "%lldms", (long long)got);
	FUZZ_CHECK(config_parse_duration_ms(text, &again) == 0 && again == got, "%s does not parse back", text);
	for (size_t u = 0; u < sizeof(UNITS) / sizeof(UNITS[0]); u++) {
		if (got % UNITS[u].ms)
			continue;
		snprintf(text, sizeof(text), "%lld%s", (long long)(got / UNITS[u].ms), UNITS[u].unit);
		FUZZ_CHECK(config_parse_duration_ms(text, &again) == 0 && again == got,
			   "%s does not parse back to %lld", text, (long long)got);
		break;
	}
}

static void check_bool(const char *s)
{
	static const char *const yes[] = { "true", "1", "yes", "on" }, *const no[] = { "false", "0", "no", "off" };
	bool b = false, again = false;
	int want = -1;
	for (int i = 0; i < 4; i++) {
		if (!strcmp(s, yes[i]))
			want = 1;
		if (!strcmp(s, no[i]))
			want = 0;
	}
	int rc = config_parse_bool(s, &b);
	FUZZ_CHECK(rc == (want < 0 ? -1 : 0) && (rc != 0 || b == (want == 1)), "bool \"%s\": rc %d, %d", s, rc, b);
	if (rc == 0)
		FUZZ_CHECK(config_parse_bool(b ? "true" : "false", &again) == 0 && again == b,
			   "bool does not round-trip");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	check_duration(s);
	check_bool(s);
	free(s);
	return 0;
}
