/* The adaptive concurrency limit (see limiter.h). */
#include "lib/limiter.h"

#include <math.h>

#include "lib/banned.h"

#define ALPHA 3.0
#define BETA 6.0
#define DROP_FACTOR 0.9

static double clamp(const struct limiter *l, double v)
{
	if (v < l->min)
		return l->min;
	if (v > l->max)
		return l->max;
	return v;
}

void limiter_init(struct limiter *l, int initial, int min, int max)
{
	l->min = min < 1 ? 1 : min;
	l->max = max < l->min ? l->min : max;
	l->rtt_noload_us = 0;
	l->samples = 0;
	l->limit = clamp(l, initial);
}

int limiter_get(const struct limiter *l) { return (int)l->limit; }

void limiter_sample(struct limiter *l, int64_t rtt_us, int in_flight, bool dropped)
{
	if (dropped) {
		l->limit = clamp(l, floor(l->limit * DROP_FACTOR));
		return;
	}
	if (rtt_us <= 0)
		rtt_us = 1;
	if (++l->samples >= LIMITER_NOLOAD_RESET) {
		l->samples = 0;
		l->rtt_noload_us = rtt_us;
	} else if (l->rtt_noload_us == 0 || rtt_us < l->rtt_noload_us) {
		l->rtt_noload_us = rtt_us;
	}
	double queued = l->limit * (1.0 - (double)l->rtt_noload_us / (double)rtt_us);
	if (queued > BETA)
		l->limit = clamp(l, l->limit - 1);
	else if (queued < ALPHA && in_flight * 2 >= (int)l->limit)
		l->limit = clamp(l, l->limit + 1);
}
