/*
 * Fuzz target: uuid_parse_ok (lib/uuid.c), the message id of
 * GET /v1/sms/{id} (input: the path segment; it ends at a NUL byte, as the
 * path from libmicrohttpd does). Differential: the canonical form written
 * here (36 characters, hex digits of either case, dashes at 8, 13, 18 and
 * 23). Also every id uuid7_str makes is taken.
 */
#include <string.h>

#include "lib/uuid.h"
#include "util.h"
#include "lib/banned.h"

static bool ref_uuid(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!memchr("0123456789abcdefABCDEF", s[i], 22)) {
			return false;
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	FUZZ_CHECK(uuid_parse_ok(s) == ref_uuid(s), "uuid_parse_ok says %d for \"%.60s\"", !ref_uuid(s), s);
	free(s);
	char made[UUID_STR_LEN];
	uuid7_str(made);
	FUZZ_CHECK(uuid_parse_ok(made) && ref_uuid(made), "uuid7_str made \"%s\"", made);
	return 0;
}
