/*
 * Fuzz target: e164_normalize (e164.c), the `to` rule (input: the number
 * as sent, any bytes). Differential: a reference written here from the
 * contract in e164.h (drop the separators, then the first broken rule in
 * the documented order; the country code by a linear scan of the table)
 * must give the same result and, on success, the same number. Properties:
 * normalizing the output again gives the output (idempotent), out is empty
 * on failure, and the detail fits its buffer and is printable ASCII.
 */
#include <string.h>

#include "e164.h"
#include "util.h"
#include "lib/banned.h"

static bool ref_country_code(const char *digits)
{
	for (size_t i = 0; i < e164_country_codes_len; i++) {
		char cc[8];
		int n = snprintf(cc, sizeof(cc), "%u", (unsigned)e164_country_codes[i]);
		if (!strncmp(digits, cc, (size_t)n))
			return true;
	}
	return false;
}

/* The contract of e164_normalize, written plainly; the number into out on E164_OK. */
static enum e164_result ref_normalize(const uint8_t *in, size_t len, char out[64])
{
	char s[512];
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];
		if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')')
			continue;
		if (!((c >= '0' && c <= '9') || c == '+') || (c == '+' && n > 0))
			return E164_BAD_CHAR;
		if (n < sizeof(s) - 1)
			s[n++] = (char)c;
	}
	s[n] = '\0';
	if (n == 0)
		return E164_EMPTY;
	const char *digits = s[0] == '+' ? s + 1 : !strncmp(s, "00", 2) ? s + 2 : NULL;
	if (!digits)
		return E164_NO_PLUS;
	size_t nd = strlen(digits);
	if (nd < E164_MIN_DIGITS)
		return E164_TOO_SHORT;
	if (nd > E164_MAX_DIGITS)
		return E164_TOO_LONG;
	if (digits[0] == '0' || !ref_country_code(digits))
		return E164_UNASSIGNED_CC;
	snprintf(out, 64, "+%s", digits);
	return E164_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 400)
		return 0; /* the reference keeps 511 significant bytes */
	char out[E164_OUT_SIZE], again[E164_OUT_SIZE], want[64], detail[96];
	size_t detail_len = size % sizeof(detail); /* also tiny buffers, and 0 */

	memset(out, 'x', sizeof(out));
	memset(detail, 'x', sizeof(detail));
	enum e164_result r = e164_normalize((const char *)data, size, out, detail_len ? detail : NULL, detail_len);
	enum e164_result w = ref_normalize(data, size, want);
	FUZZ_CHECK(r == w, "result %d, the reference says %d", r, w);
	if (detail_len) {
		FUZZ_CHECK(fuzz_terminated(detail, detail_len), "detail not terminated in %zu bytes", detail_len);
		for (const char *p = detail; *p; p++)
			FUZZ_CHECK(*p >= 0x20 && *p < 0x7f, "detail byte 0x%02x", (unsigned char)*p);
		FUZZ_CHECK((r == E164_OK) == (detail[0] == '\0') || detail_len == 1, "result %d, detail \"%s\"", r,
			   detail);
	}
	if (r != E164_OK) {
		FUZZ_CHECK(out[0] == '\0', "out not empty on failure");
		return 0;
	}
	FUZZ_CHECK(fuzz_terminated(out, sizeof(out)) && !strcmp(out, want), "out \"%s\", want \"%s\"", out, want);
	FUZZ_CHECK(e164_country_code(out + 1, NULL), "out has no country code");
	FUZZ_CHECK(e164_normalize(out, strlen(out), again, NULL, 0) == E164_OK && !strcmp(again, out),
		   "not idempotent: %s -> %s", out, again);
	return 0;
}
