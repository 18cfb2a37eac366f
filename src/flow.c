/* High (and a scheduled release burst) before normal where they share the machine (see flow.h). */
#include "flow.h"

#include <stdatomic.h>
#include <time.h>

#include "lib/timeutil.h"
#include "metrics.h"
#include "lib/banned.h"

static _Atomic int64_t expected_until_ms; /* an accepted high message may be on its way until then */
static atomic_int active;                 /* high-lane batches being processed */
static _Atomic int64_t last_high_ms;      /* when high work was last expected or begun */
static atomic_int releasing;              /* scheduled release bursts under way */
static _Atomic int64_t release_since_ms;  /* when the first of them began */

void flow_high_expected(void)
{
	int64_t now = mono_ms(), until = now + FLOW_EXPECT_MS, cur = atomic_load(&expected_until_ms);
	while (cur < until && !atomic_compare_exchange_weak(&expected_until_ms, &cur, until))
		;
	atomic_store(&last_high_ms, now);
}

void flow_high_begin(void)
{
	atomic_fetch_add(&active, 1);
	atomic_store(&last_high_ms, mono_ms());
}

void flow_high_end(void)
{
	/* What was expected has arrived (and is done): the expectation ends with it; a later accept sets it again. */
	if (atomic_fetch_sub(&active, 1) == 1)
		atomic_store(&expected_until_ms, 0);
}

int flow_high_busy(void) { return atomic_load(&active) > 0 || mono_ms() < atomic_load(&expected_until_ms); }

int flow_high_recent(void)
{
	int64_t last = atomic_load(&last_high_ms);
	return atomic_load(&active) > 0 || (last && mono_ms() - last < FLOW_RECENT_MS);
}

void flow_release_begin(void)
{
	if (atomic_fetch_add(&releasing, 1) == 0)
		atomic_store(&release_since_ms, mono_ms());
}

void flow_release_end(void) { atomic_fetch_sub(&releasing, 1); }

/* A burst holds normal work only for its first FLOW_RELEASE_HOLD_MAX_MS: one that hangs (a lock, a slow
   PostgreSQL) must not leave the relay and the pipeline a batch every 2 s. */
int flow_releasing(void)
{
	return atomic_load(&releasing) > 0 && mono_ms() - atomic_load(&release_since_ms) < FLOW_RELEASE_HOLD_MAX_MS;
}

/* Whether normal work should still wait, having waited `waited` ms (high: whether high work holds it too). */
static int hold(int64_t waited, int high)
{
	return (high && waited < FLOW_YIELD_MAX_MS && flow_high_busy()) || flow_releasing();
}

static int64_t wait_while(int high)
{
	if (!hold(0, high))
		return 0;
	int64_t start = mono_ms(), now = start;
	struct timespec ts = { 0, 1000000L };
	while (hold(now - start, high)) {
		nanosleep(&ts, NULL);
		now = mono_ms();
	}
	metrics_inc(M_NORMAL_YIELD_MS, (uint64_t)(now - start));
	return now - start;
}

int64_t flow_yield_normal(void) { return wait_while(1); }

int64_t flow_hold_for_release(void) { return wait_while(0); }
