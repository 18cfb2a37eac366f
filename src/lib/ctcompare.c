/* Constant-time string comparison of secrets (see ctcompare.h). */
#include "lib/ctcompare.h"

#include <string.h>

#include "lib/banned.h"

/*
 * Walk b in full. The index into a stops advancing at a's NUL, without a
 * branch, so a shorter a is read up to its terminator only and then compared
 * as zeros (which differ from every byte of b). After the loop, a[j] is a's
 * byte at strlen(b): non-zero exactly when a is longer. Differences are OR-ed
 * into a volatile accumulator so the compiler cannot stop at the first one.
 */
bool ct_streq(const char *a, const char *b)
{
	size_t lb = strlen(b);
	size_t j = 0;
	volatile unsigned char diff = 0;

	for (size_t i = 0; i < lb; i++) {
		unsigned char ca = (unsigned char)a[j];
		diff |= ca ^ (unsigned char)b[i];
		j += (size_t)(ca != 0);
	}
	diff |= (unsigned char)a[j];
	return diff == 0;
}
