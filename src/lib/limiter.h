/*
 * An adaptive concurrency limit in the manner of TCP Vegas (as Netflix's
 * concurrency-limits applies it to RPC clients): how many calls may be in
 * flight at once, learned from the round-trip times the calls see.
 *
 * rtt_noload is the shortest round trip seen lately (the engine's own
 * service time, no queueing). For a sample rtt, the calls queued at the far
 * side are about limit * (1 - rtt_noload / rtt). Fewer than alpha queued:
 * there is room, the limit grows by one; more than beta: the far side is
 * queueing, it shrinks by one; a drop (a deadline missed, a "resource
 * exhausted" answer) cuts it by a tenth at once. The limit stays within
 * [min, max]; it only grows while the calls use at least half of it, so an
 * idle client does not build up a limit it never tested. rtt_noload is
 * forgotten every LIMITER_NOLOAD_RESET samples so a slower baseline is
 * learned too.
 *
 * Not thread-safe: the caller holds its own lock.
 */
#ifndef ORCH_LIB_LIMITER_H
#define ORCH_LIB_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

#define LIMITER_NOLOAD_RESET 1000

struct limiter {
	double limit;
	int min, max;
	int64_t rtt_noload_us; /* 0: none yet */
	unsigned samples;
};

/* initial is clamped into [min, max]. */
void limiter_init(struct limiter *l, int initial, int min, int max);
/* The current limit, a whole number in [min, max]. */
int limiter_get(const struct limiter *l);
/* One finished call: its round trip, how many were in flight when it started, whether it was a drop. */
void limiter_sample(struct limiter *l, int64_t rtt_us, int in_flight, bool dropped);

#endif
