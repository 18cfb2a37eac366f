/* Slots under a moving limit, high callers first (see slots.h). */
#include "lib/slots.h"

#include "lib/banned.h"

void slots_init(struct slots *s)
{
	s->in_flight = 0;
	s->high_waiting = 0;
	s->normal_waiting = 0;
	pthread_cond_init(&s->freed, NULL);
}

void slots_destroy(struct slots *s) { pthread_cond_destroy(&s->freed); }

void slots_take(struct slots *s, pthread_mutex_t *lock, int (*limit)(void *), void *arg, bool high)
{
	int *waiting = high ? &s->high_waiting : &s->normal_waiting;
	(*waiting)++;
	while (s->in_flight >= limit(arg) || (!high && s->high_waiting > 0))
		pthread_cond_wait(&s->freed, lock);
	(*waiting)--;
	s->in_flight++;
	if (high && s->high_waiting == 0 && s->normal_waiting > 0)
		pthread_cond_broadcast(&s->freed); /* the normal callers it held back may have room */
}

void slots_give(struct slots *s)
{
	s->in_flight--;
	pthread_cond_broadcast(&s->freed);
}
