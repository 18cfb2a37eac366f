/* The sliding failure-rate window (see failwindow.h). */
#include "lib/failwindow.h"

#include <string.h>

#include "lib/banned.h"

void failwindow_init(struct failwindow *w, int64_t window_ms)
{
	memset(w, 0, sizeof(*w));
	w->bucket_ms = window_ms / FAILWINDOW_BUCKETS > 0 ? window_ms / FAILWINDOW_BUCKETS : 1;
	failwindow_reset(w);
}

void failwindow_reset(struct failwindow *w)
{
	for (int i = 0; i < FAILWINDOW_BUCKETS; i++) {
		w->epoch[i] = -1;
		w->calls[i] = w->failures[i] = 0;
	}
}

void failwindow_add(struct failwindow *w, int64_t now_ms, bool failed)
{
	int64_t e = now_ms / w->bucket_ms;
	int i = (int)(e % FAILWINDOW_BUCKETS);
	if (w->epoch[i] != e) {
		w->epoch[i] = e;
		w->calls[i] = w->failures[i] = 0;
	}
	w->calls[i]++;
	w->failures[i] += failed;
}

void failwindow_counts(const struct failwindow *w, int64_t now_ms, unsigned *calls, unsigned *failures)
{
	int64_t e = now_ms / w->bucket_ms;
	*calls = *failures = 0;
	for (int i = 0; i < FAILWINDOW_BUCKETS; i++) {
		if (w->epoch[i] >= 0 && w->epoch[i] > e - FAILWINDOW_BUCKETS && w->epoch[i] <= e) {
			*calls += w->calls[i];
			*failures += w->failures[i];
		}
	}
}

bool failwindow_tripped(const struct failwindow *w, int64_t now_ms, unsigned min_calls, unsigned min_failures,
			double rate)
{
	unsigned calls, failures;
	failwindow_counts(w, now_ms, &calls, &failures);
	return calls >= min_calls && failures >= min_failures && (double)failures >= rate * (double)calls;
}
