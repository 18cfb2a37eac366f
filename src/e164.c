/*
 * e164.c: the `to` rule of the send API. One pass over the input drops the
 * separators, follows the '+' / "00" prefix and collects the digits; then
 * the digit count and the country calling code are checked, the code by
 * binary search over the table generated from data/country_calling_codes.txt.
 * The contract is in e164.h.
 */
#include "e164.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/banned.h"

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define PRINTF_LIKE(fmt, args)
#endif

/* Longest country calling code, in digits. */
#define CC_MAX_LEN 3

/*
 * Where the scan stands with the international prefix. Separators never
 * move it. The first significant character decides: '+' ends the prefix at
 * once, '0' asks for a second '0', anything else means there is no prefix
 * (the scan goes on all the same, so that a bad byte later is still found
 * and reported first).
 */
enum prefix_state {
	PREFIX_NOTHING_YET = 0, /* only separators so far */
	PREFIX_ONE_ZERO,        /* "0": a second '0' is needed */
	PREFIX_DONE,            /* "+" or "00": the digits of the number follow */
	PREFIX_MISSING,         /* something else came first */
};

struct scan {
	enum prefix_state state;
	char digits[E164_MAX_DIGITS + 1]; /* the first digits after the prefix, NUL-terminated */
	size_t ndigits;                   /* all digits after the prefix, also past the buffer */
	size_t bad_pos;                   /* 1-based byte position of the first bad byte; 0: none */
	unsigned char bad_byte;
};

static bool is_separator(unsigned char c)
{
	return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Feeds one character that is not a separator; false when it is not allowed here. */
static bool scan_char(struct scan *s, unsigned char c)
{
	if (c == '+') {
		if (s->state != PREFIX_NOTHING_YET)
			return false;
		s->state = PREFIX_DONE;
		return true;
	}
	if (!is_digit(c))
		return false;
	switch (s->state) {
	case PREFIX_NOTHING_YET:
		s->state = c == '0' ? PREFIX_ONE_ZERO : PREFIX_MISSING;
		break;
	case PREFIX_ONE_ZERO:
		s->state = c == '0' ? PREFIX_DONE : PREFIX_MISSING;
		break;
	case PREFIX_DONE:
		if (s->ndigits < E164_MAX_DIGITS)
			s->digits[s->ndigits] = (char)c;
		s->ndigits++;
		break;
	case PREFIX_MISSING:
		break;
	}
	return true;
}

/* One pass over the input; stops at the first bad byte. */
static void scan_input(struct scan *s, const char *in, size_t len)
{
	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (is_separator(c))
			continue;
		if (!scan_char(s, c)) {
			s->bad_pos = i + 1;
			s->bad_byte = c;
			return;
		}
	}
}

/* Index of the first table entry >= v (e164_country_codes_len if none). */
static size_t table_lower_bound(unsigned v)
{
	size_t lo = 0;
	size_t hi = e164_country_codes_len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e164_country_codes[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* True when some assigned code lies in [lo, hi]. */
static bool table_has_range(unsigned lo, unsigned hi)
{
	size_t i = table_lower_bound(lo);

	return i < e164_country_codes_len && e164_country_codes[i] <= hi;
}

bool e164_country_code(const char *digits, int *cc_len)
{
	unsigned v = 0;

	if (digits == NULL || digits[0] == '0')
		return false;
	for (int k = 1; k <= CC_MAX_LEN && is_digit((unsigned char)digits[k - 1]); k++) {
		v = v * 10 + (unsigned)(digits[k - 1] - '0');
		if (table_has_range(v, v)) {
			if (cc_len != NULL)
				*cc_len = k;
			return true;
		}
	}
	return false;
}

/*
 * True when an assigned code starts with the k digits whose value is v
 * (no leading zero): a code of k digits equal to v, of k + 1 digits in
 * [10v, 10v + 9], or of k + 2 digits in [100v, 100v + 99].
 */
static bool starts_some_code(unsigned v, int k)
{
	unsigned lo = v;
	unsigned hi = v;

	for (int len = k; len <= CC_MAX_LEN; len++) {
		if (table_has_range(lo, hi))
			return true;
		lo = lo * 10;
		hi = hi * 10 + 9;
	}
	return false;
}

/*
 * Length of the shortest start of digits (at least CC_MAX_LEN of them) that
 * no assigned code begins with: what the detail quotes as the unassigned
 * code, so "+28..." reads "28" and "+999..." reads "999".
 */
static int unassigned_len(const char *digits)
{
	unsigned v = 0;

	if (digits[0] == '0')
		return 1;
	for (int k = 1; k < CC_MAX_LEN; k++) {
		v = v * 10 + (unsigned)(digits[k - 1] - '0');
		if (!starts_some_code(v, k))
			return k;
	}
	return CC_MAX_LEN;
}

/* Writes the detail (when wanted), empties out, and returns r. */
PRINTF_LIKE(5, 6)
static enum e164_result fail(enum e164_result r, char *out, char *detail, size_t detail_len,
			     const char *fmt, ...)
{
	va_list ap;

	out[0] = '\0';
	if (detail == NULL || detail_len == 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(detail, detail_len, fmt, ap);
	va_end(ap);
	return r;
}

static enum e164_result fail_bad_char(const struct scan *s, char *out, char *detail,
				      size_t detail_len)
{
	unsigned char c = s->bad_byte;

	if (c == '+')
		return fail(E164_BAD_CHAR, out, detail, detail_len,
			    "'+' is only allowed at the start, found at position %zu", s->bad_pos);
	if (c > ' ' && c < 0x7f)
		return fail(E164_BAD_CHAR, out, detail, detail_len,
			    "character '%c' at position %zu is not allowed", c, s->bad_pos);
	return fail(E164_BAD_CHAR, out, detail, detail_len,
		    "byte 0x%02X at position %zu is not allowed", (unsigned)c, s->bad_pos);
}

/* The checks that follow a clean scan: prefix, length, country code. */
static enum e164_result check_scan(struct scan *s, char *out, char *detail, size_t detail_len)
{
	if (s->state == PREFIX_NOTHING_YET)
		return fail(E164_EMPTY, out, detail, detail_len, "must not be empty");
	if (s->state != PREFIX_DONE)
		return fail(E164_NO_PLUS, out, detail, detail_len, "must start with + or 00");
	if (s->ndigits < E164_MIN_DIGITS || s->ndigits > E164_MAX_DIGITS)
		return fail(s->ndigits < E164_MIN_DIGITS ? E164_TOO_SHORT : E164_TOO_LONG, out,
			    detail, detail_len, "%d to %d digits are required, got %zu",
			    E164_MIN_DIGITS, E164_MAX_DIGITS, s->ndigits);
	s->digits[s->ndigits] = '\0';
	if (!e164_country_code(s->digits, NULL))
		return fail(E164_UNASSIGNED_CC, out, detail, detail_len,
			    "country calling code %.*s is not assigned", unassigned_len(s->digits),
			    s->digits);
	return E164_OK;
}

enum e164_result e164_normalize(const char *in, size_t len, char *out, char *detail,
				size_t detail_len)
{
	struct scan s;
	enum e164_result r;

	scan_input(&s, in, in == NULL ? 0 : len);
	if (s.bad_pos != 0)
		return fail_bad_char(&s, out, detail, detail_len);
	r = check_scan(&s, out, detail, detail_len);
	if (r != E164_OK)
		return r;
	out[0] = '+';
	memcpy(out + 1, s.digits, s.ndigits + 1);
	if (detail != NULL && detail_len > 0)
		detail[0] = '\0';
	return E164_OK;
}
