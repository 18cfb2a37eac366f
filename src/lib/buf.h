/*
 * A growable byte buffer. Invariants once buf_init() ran: `data` is never
 * NULL and data[len] is always '\0', so the contents can be used as a C
 * string when they hold no NUL. buf_detach() hands the bytes to the caller.
 */
#ifndef ORCH_LIB_BUF_H
#define ORCH_LIB_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
/* Frees what b holds; b is initialized (empty) again afterwards. */
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
void buf_grow(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal, quotes included. */
void buf_add_json_str(struct buf *b, const char *s, size_t n);
/* Returns the bytes (caller frees) and leaves b empty but initialized. */
char *buf_detach(struct buf *b, size_t *len);

#endif
