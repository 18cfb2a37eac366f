/*
 * Slots for calls in flight under a limit that moves (lib/limiter), where
 * high callers go first: a normal caller waits while a high one is
 * waiting, so a high call waits for at most the next slot to be given
 * back, never for the normal calls queued before it. Never over the
 * limit, for either. The caller's mutex guards it (routing.c's, which
 * also guards the limiter the limit comes from).
 */
#ifndef ORCH_LIB_SLOTS_H
#define ORCH_LIB_SLOTS_H

#include <pthread.h>
#include <stdbool.h>

struct slots {
	int in_flight;
	int high_waiting;   /* high callers waiting for a slot */
	int normal_waiting; /* normal callers waiting for a slot */
	pthread_cond_t freed;
};

void slots_init(struct slots *s);
void slots_destroy(struct slots *s);
/* With lock held: waits (releasing lock meanwhile) until this caller may take a slot under limit(arg), and takes it. */
void slots_take(struct slots *s, pthread_mutex_t *lock, int (*limit)(void *), void *arg, bool high);
/* With lock held: gives a slot back. */
void slots_give(struct slots *s);

#endif
