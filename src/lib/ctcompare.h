/*
 * Comparison of secrets (API keys, tokens) whose running time does not tell
 * an attacker how much of a guess was right.
 */
#ifndef ORCH_LIB_CTCOMPARE_H
#define ORCH_LIB_CTCOMPARE_H

#include <stdbool.h>

/*
 * True when the NUL-terminated strings a (the candidate, borrowed) and b (the
 * expected secret, borrowed) are equal. The time taken depends only on the
 * length of b: not on where they differ, nor on a's length beyond it (at most
 * strlen(b) + 1 bytes of a are read). False when the lengths differ.
 */
bool ct_streq(const char *a, const char *b);

#endif
