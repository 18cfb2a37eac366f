/*
 * A failure rate over a short sliding window: calls and failures counted
 * in FAILWINDOW_BUCKETS buckets of bucket_ms each; buckets older than the
 * window are forgotten as time moves on. A circuit breaker opens on
 * failwindow_tripped(): at least min_calls in the window and at least
 * min_failures of them failures, making at least rate of them.
 *
 * Not thread-safe; times are the caller's monotonic milliseconds.
 */
#ifndef ORCH_LIB_FAILWINDOW_H
#define ORCH_LIB_FAILWINDOW_H

#include <stdbool.h>
#include <stdint.h>

#define FAILWINDOW_BUCKETS 10

struct failwindow {
	int64_t bucket_ms;
	int64_t epoch[FAILWINDOW_BUCKETS]; /* which bucket_ms-long slice each bucket holds */
	unsigned calls[FAILWINDOW_BUCKETS], failures[FAILWINDOW_BUCKETS];
};

void failwindow_init(struct failwindow *w, int64_t window_ms);
void failwindow_add(struct failwindow *w, int64_t now_ms, bool failed);
void failwindow_counts(const struct failwindow *w, int64_t now_ms, unsigned *calls, unsigned *failures);
bool failwindow_tripped(const struct failwindow *w, int64_t now_ms, unsigned min_calls, unsigned min_failures,
			double rate);
void failwindow_reset(struct failwindow *w);

#endif
