/*
 * Shared by the libFuzzer targets of tests/fuzz/ (one fuzz_<name>.c each):
 * the check macro that turns a broken property into a crash, reference
 * implementations written independently of src/ (strict UTF-8 by the byte
 * ranges of the Unicode standard), and the send-item properties that the
 * request_send and request_bulk targets both check.
 */
#ifndef ORCH_FUZZ_UTIL_H
#define ORCH_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/buf.h"
#include "request.h"

/* A property that does not hold: say which and where, then abort (libFuzzer saves the input). */
#define FUZZ_CHECK(cond, ...)                                                                                \
	do {                                                                                                 \
		if (!(cond)) {                                                                               \
			fprintf(stderr, "fuzz property failed at %s:%d: %s\n  ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                                        \
			fputc('\n', stderr);                                                                 \
			abort();                                                                             \
		}                                                                                            \
	} while (0)

/* data[0..size) as a NUL-terminated heap string (caller frees); it ends at the first NUL byte, as a C string does. */
char *fuzz_cstr(const uint8_t *data, size_t size);

/* Splits data at '\n' into NUL-terminated pieces: *n of them in a NULL-terminated array (caller frees with fuzz_strv_free). */
char **fuzz_split_lines(const uint8_t *data, size_t size, size_t *n);
void fuzz_strv_free(char **v);

/* Strict UTF-8 by Unicode 15 table 3-7 (well-formed byte sequences), a reference for utf8_valid. */
bool fuzz_utf8_ref(const uint8_t *s, size_t len);

/* True when s[0..len) is NUL-terminated within len bytes, i.e. strlen(s) < len. */
bool fuzz_terminated(const char *s, size_t len);

/*
 * The properties of a parsed item: a valid one is normalized (to, from and
 * body pass their rules again unchanged, the segment count is recomputed
 * from the body and is within lim), an invalid one has 1 to ITEM_MAX_ERRORS
 * errors whose JSON (item_errors_json) is strict JSON in valid UTF-8.
 */
void fuzz_check_item(const struct sms_item *it, const struct request_limits *lim);

/* A valid item as a send body made with json-c (caller frees). */
char *fuzz_item_json(const struct sms_item *it, size_t *len);

/* Aborts unless the two items are equal, field by field and by fingerprint. */
void fuzz_check_same_item(const struct sms_item *a, const struct sms_item *b, const char *what);

/* The preview answer of a valid item (preview_json) is strict JSON that agrees with the item. */
void fuzz_check_preview(const struct sms_item *it);

/* Re-serializes a valid item (fuzz_item_json), parses it as a send body and checks it comes back equal. */
void fuzz_check_roundtrip(const struct sms_item *it, const struct request_limits *lim);

#endif
