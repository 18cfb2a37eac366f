/*
 * Allocation that never returns NULL: out of memory aborts the process, so
 * ordinary code carries no NULL checks. Real error paths are kept for I/O,
 * protocol and input.
 */
#ifndef ORCH_LIB_XMALLOC_H
#define ORCH_LIB_XMALLOC_H

#include <stddef.h>

/* All return memory the caller frees with free(). */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
