/*
 * e164.h: checks and normalizes E.164 telephone numbers, the rule for the
 * `to` field of POST /v1/sms/send and /v1/sms/bulk (shared/spec/api.md).
 *
 * A number is accepted when, once the separators are removed, it is a '+'
 * or "00" followed by 7 to 15 digits that begin with a country calling code
 * ITU-T has assigned. The codes come from data/country_calling_codes.txt,
 * turned into a sorted table by scripts/gen_country_codes.sh.
 *
 * No function here allocates; all buffers are the caller's.
 */
#ifndef ORCH_E164_H
#define ORCH_E164_H

#include <stdbool.h>
#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define E164_MUSTCHECK __attribute__((warn_unused_result))
#else
#define E164_MUSTCHECK
#endif

#define E164_MIN_DIGITS 7
#define E164_MAX_DIGITS 15
/* Size of the out buffer of e164_normalize: '+', the digits, the NUL. */
#define E164_OUT_SIZE (E164_MAX_DIGITS + 2)

enum e164_result {
	E164_OK = 0,
	E164_EMPTY,            /* nothing but separators */
	E164_BAD_CHAR,         /* a byte that is no digit or separator, or a '+' not first */
	E164_NO_PLUS,          /* does not start with '+' or "00" */
	E164_TOO_SHORT,        /* fewer than E164_MIN_DIGITS digits */
	E164_TOO_LONG,         /* more than E164_MAX_DIGITS digits */
	E164_UNASSIGNED_CC,    /* digits do not start with an assigned country calling code */
};

/*
 * Normalizes `in`: len bytes, not necessarily NUL-terminated, borrowed; a
 * NULL `in` reads as empty.
 *
 * The separators are the space (0x20 only), '-', '.', '(' and ')'. They are
 * dropped wherever they stand, before the prefix too: "(+44) 20 7946 0958"
 * and "0-0 44 20 7946 0958" are both +442079460958. What is left must be a
 * '+' or "00", then 7 to 15 digits whose country calling code (their first
 * 1 to 3 digits) is assigned. Any other byte is E164_BAD_CHAR: letters,
 * '/', tab, newline, a NUL byte inside, non-ASCII, and a '+' anywhere but
 * first. The first bad byte is reported, with its 1-based byte position.
 *
 * When several rules are broken, the first in this order is reported:
 * BAD_CHAR, EMPTY, NO_PLUS, TOO_SHORT or TOO_LONG, UNASSIGNED_CC.
 *
 * On E164_OK, writes "+digits" NUL-terminated into out (the caller's, at
 * least E164_OUT_SIZE bytes) and makes detail the empty string. On any
 * other result, out is the empty string and detail gets a short sentence
 * for the client, e.g. "country calling code 999 is not assigned",
 * "7 to 15 digits are required, got 5", "must start with + or 00". The
 * detail (the caller's, detail_len bytes) is truncated to fit and always
 * NUL-terminated; detail may be NULL, or detail_len 0, when not wanted. A
 * bad byte is quoted only when it is printable ASCII, else shown in hex, so
 * the detail never carries control characters or broken UTF-8.
 */
E164_MUSTCHECK
enum e164_result e164_normalize(const char *in, size_t len, char *out, char *detail,
				size_t detail_len);

/*
 * True when digits (NUL-terminated, digits only, no '+'; borrowed) start
 * with an assigned country calling code; *cc_len then gets its length, 1 to
 * 3. cc_len may be NULL. Country codes are prefix-free, so at most one can
 * match. Binary search over e164_country_codes.
 */
bool e164_country_code(const char *digits, int *cc_len);

/*
 * The assigned country calling codes, sorted ascending, no duplicates, none
 * the start of another. Defined in the file that scripts/gen_country_codes.sh
 * generates from data/country_calling_codes.txt.
 */
extern const unsigned short e164_country_codes[];
extern const size_t e164_country_codes_len;

#endif /* ORCH_E164_H */
