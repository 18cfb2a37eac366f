/* Unit tests: the adaptive concurrency limit (lib/limiter), its slots with high callers first (lib/slots),
   the failure-rate window (lib/failwindow) and the high-before-normal yield (flow). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "flow.h"
#include "lib/failwindow.h"
#include "lib/limiter.h"
#include "lib/slots.h"
#include "lib/timeutil.h"

#include <pthread.h>
#include <time.h>

static void test_limiter_grows_without_queueing(void **state)
{
	(void)state;
	struct limiter l;
	limiter_init(&l, 16, 1, 64);
	for (int i = 0; i < 200; i++)
		limiter_sample(&l, 40000, limiter_get(&l), false); /* 40 ms every time: nothing queues */
	assert_int_equal(limiter_get(&l), 64);
}

static void test_limiter_idle_does_not_grow(void **state)
{
	(void)state;
	struct limiter l;
	limiter_init(&l, 16, 1, 64);
	for (int i = 0; i < 200; i++)
		limiter_sample(&l, 40000, 1, false); /* one call at a time never tests a limit of 16 */
	assert_int_equal(limiter_get(&l), 16);
}

static void test_limiter_shrinks_when_queueing(void **state)
{
	(void)state;
	struct limiter l;
	limiter_init(&l, 32, 1, 64);
	limiter_sample(&l, 1000, 32, false); /* 1 ms without load */
	for (int i = 0; i < 100; i++)
		limiter_sample(&l, 20000, 32, false); /* 20 ms: the engine queues */
	assert_true(limiter_get(&l) < 32);
	assert_true(limiter_get(&l) >= 1);
}

static void test_limiter_drops_cut_and_clamp(void **state)
{
	(void)state;
	struct limiter l;
	limiter_init(&l, 50, 2, 64);
	limiter_sample(&l, 250000, 50, true);
	assert_int_equal(limiter_get(&l), 45);
	for (int i = 0; i < 100; i++)
		limiter_sample(&l, 250000, 50, true);
	assert_int_equal(limiter_get(&l), 2);
	limiter_init(&l, 500, 1, 64);
	assert_int_equal(limiter_get(&l), 64);
	limiter_init(&l, 0, 0, 0);
	assert_int_equal(limiter_get(&l), 1);
}

static void test_failwindow(void **state)
{
	(void)state;
	struct failwindow w;
	failwindow_init(&w, 10000);
	unsigned calls, failures;
	for (int i = 0; i < 4; i++)
		failwindow_add(&w, 1000 + i, true);
	assert_false(failwindow_tripped(&w, 1010, 5, 5, 0.5)); /* four failures: not enough calls */
	failwindow_add(&w, 1500, true);
	assert_true(failwindow_tripped(&w, 1600, 5, 5, 0.5));
	for (int i = 0; i < 6; i++)
		failwindow_add(&w, 2000, false);
	assert_false(failwindow_tripped(&w, 2000, 5, 5, 0.5)); /* 5 of 11 failed: under half */
	failwindow_counts(&w, 2000, &calls, &failures);
	assert_int_equal(calls, 11);
	assert_int_equal(failures, 5);
	failwindow_counts(&w, 11500, &calls, &failures); /* the 1 s bucket of t=1000..1999 is gone */
	assert_int_equal(calls, 6);
	assert_int_equal(failures, 0);
	failwindow_counts(&w, 60000, &calls, &failures);
	assert_int_equal(calls, 0);
	failwindow_add(&w, 60000, true);
	failwindow_reset(&w);
	failwindow_counts(&w, 60000, &calls, &failures);
	assert_int_equal(calls + failures, 0);
}

static void test_flow_high_yield(void **state)
{
	(void)state;
	assert_false(flow_high_busy());
	assert_int_equal(flow_yield_normal(), 0); /* nothing high: a normal batch never waits */
	flow_high_expected();                       /* a high accept was submitted */
	assert_true(flow_high_busy());
	flow_high_begin(); /* the high lane has it */
	flow_high_begin(); /* and another batch */
	flow_high_end();
	assert_true(flow_high_busy()); /* one batch still in flight */
	flow_high_end();
	assert_false(flow_high_busy()); /* done: the expectation ended with it */
	flow_high_begin();
	int64_t waited = flow_yield_normal(); /* high work that never ends: normal goes on after the bound */
	flow_high_end();
	assert_true(waited >= FLOW_YIELD_MAX_MS);
	assert_true(waited < FLOW_RELEASE_HOLD_MAX_MS); /* high alone holds normal only FLOW_YIELD_MAX_MS */
	assert_false(flow_high_busy());
}

/* Normal batches stay small while high work is recent: during a high batch and FLOW_RECENT_MS after it. */
static void test_flow_high_recent(void **state)
{
	(void)state;
	flow_high_begin();
	assert_true(flow_high_recent()); /* in flight */
	flow_high_end();
	assert_true(flow_high_recent()); /* just done: the next one likely comes soon */
	struct timespec ts = { FLOW_RECENT_MS / 1000, (long)(FLOW_RECENT_MS % 1000) * 1000000L + 20000000L };
	nanosleep(&ts, NULL);
	assert_false(flow_high_recent()); /* none for FLOW_RECENT_MS: normal goes back to its full batches */
	flow_high_expected(); /* an accepted high message on its way counts too */
	assert_true(flow_high_recent());
	flow_high_begin(); /* (it arrives and is done: nothing high in flight for the next test) */
	flow_high_end();
	assert_false(flow_high_busy());
}

static void test_flow_release_hold(void **state)
{
	(void)state;
	assert_false(flow_releasing());
	int64_t t0 = mono_ms();
	flow_release_begin(); /* the scheduler releases a campaign */
	assert_true(flow_releasing());
	assert_false(flow_high_busy()); /* a release is not high work */
	assert_true(flow_yield_normal() > 0); /* a burst that never ends: normal goes on after the longer bound, */
	assert_true(mono_ms() - t0 >= FLOW_RELEASE_HOLD_MAX_MS); /* counted from the burst's start */
	assert_false(flow_releasing());          /* and the bound is the burst's, not each batch's: */
	assert_int_equal(flow_yield_normal(), 0); /* the next batch goes at once, the burst still under way */
	assert_int_equal(flow_hold_for_release(), 0);
	flow_release_end();
	assert_false(flow_releasing());
	assert_int_equal(flow_yield_normal(), 0); /* the burst is over: normal goes at once */
}

/* lib/slots: a high caller that comes after a waiting normal one gets the next slot; never over the limit. */
static struct {
	pthread_mutex_t lock;
	struct slots slots;
	int limit;
	char order[8]; /* who took a slot, in order: 'n' or 'h' */
	int norder;
	int max_in_flight;
} sl = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int sl_limit(void *arg) { return *(int *)arg; }

static void *sl_caller(void *arg)
{
	bool high = arg != NULL;
	pthread_mutex_lock(&sl.lock);
	slots_take(&sl.slots, &sl.lock, sl_limit, &sl.limit, high);
	sl.order[sl.norder++] = high ? 'h' : 'n';
	if (sl.slots.in_flight > sl.max_in_flight)
		sl.max_in_flight = sl.slots.in_flight;
	slots_give(&sl.slots);
	pthread_mutex_unlock(&sl.lock);
	return NULL;
}

/* Until the predicate on the slots holds (the other threads have got that far). */
static void sl_wait_until(int normal_waiting, int high_waiting)
{
	struct timespec ts = { 0, 1000000L };
	for (;;) {
		pthread_mutex_lock(&sl.lock);
		bool there = sl.slots.normal_waiting == normal_waiting && sl.slots.high_waiting == high_waiting;
		pthread_mutex_unlock(&sl.lock);
		if (there)
			return;
		nanosleep(&ts, NULL);
	}
}

static void test_slots_high_first(void **state)
{
	(void)state;
	slots_init(&sl.slots);
	sl.limit = 1;
	pthread_mutex_lock(&sl.lock);
	slots_take(&sl.slots, &sl.lock, sl_limit, &sl.limit, false); /* the one slot, held */
	pthread_mutex_unlock(&sl.lock);
	pthread_t n1, n2, h;
	pthread_create(&n1, NULL, sl_caller, NULL);
	pthread_create(&n2, NULL, sl_caller, NULL);
	sl_wait_until(2, 0);
	pthread_create(&h, NULL, sl_caller, (void *)1);
	sl_wait_until(2, 1);
	pthread_mutex_lock(&sl.lock);
	slots_give(&sl.slots);
	pthread_mutex_unlock(&sl.lock);
	pthread_join(n1, NULL);
	pthread_join(n2, NULL);
	pthread_join(h, NULL);
	assert_int_equal(sl.norder, 3);
	assert_int_equal(sl.order[0], 'h'); /* before the two normal callers that waited longer */
	assert_int_equal(sl.max_in_flight, 1);
	assert_int_equal(sl.slots.in_flight, 0);
	/* a normal caller is not held back by a high one that has its slot: with room, it goes at once */
	sl.limit = 2;
	pthread_mutex_lock(&sl.lock);
	slots_take(&sl.slots, &sl.lock, sl_limit, &sl.limit, true);
	slots_take(&sl.slots, &sl.lock, sl_limit, &sl.limit, false);
	assert_int_equal(sl.slots.in_flight, 2);
	slots_give(&sl.slots);
	slots_give(&sl.slots);
	pthread_mutex_unlock(&sl.lock);
	slots_destroy(&sl.slots);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limiter_grows_without_queueing), cmocka_unit_test(test_limiter_idle_does_not_grow),
		cmocka_unit_test(test_limiter_shrinks_when_queueing), cmocka_unit_test(test_limiter_drops_cut_and_clamp),
		cmocka_unit_test(test_failwindow), cmocka_unit_test(test_flow_high_yield),
		cmocka_unit_test(test_flow_high_recent),
		cmocka_unit_test(test_flow_release_hold), cmocka_unit_test(test_slots_high_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
