/* Unit tests: the adaptive concurrency limit (lib/limiter), the failure-rate window (lib/failwindow) and the
   high-before-normal yield (flow). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "flow.h"
#include "lib/failwindow.h"
#include "lib/limiter.h"
#include "lib/timeutil.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limiter_grows_without_queueing), cmocka_unit_test(test_limiter_idle_does_not_grow),
		cmocka_unit_test(test_limiter_shrinks_when_queueing), cmocka_unit_test(test_limiter_drops_cut_and_clamp),
		cmocka_unit_test(test_failwindow), cmocka_unit_test(test_flow_high_yield),
		cmocka_unit_test(test_flow_release_hold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
