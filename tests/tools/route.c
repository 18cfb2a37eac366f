/*
 * route: calls SelectRoute through the service's routing client and prints
 * the result as JSON, for the integration tests.
 *
 *   route HOST:PORT TIMEOUT_MS DESTINATION [COUNT]
 *
 * COUNT > 1 starts all the calls at once (many in flight) and prints one line each.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routing.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int remaining;

static void done(void *arg, const struct route_result *r)
{
	static const char *const outcomes[] = { "ok", "permanent", "transient" };
	pthread_mutex_lock(&lock);
	printf("{\"call\":%d,\"outcome\":\"%s\",\"status\":%d,\"operatorId\":\"%s\",\"routeId\":\"%s\",\"cost\":%lld,"
	       "\"code\":\"%s\",\"ms\":%.3f}\n",
	       (int)(long)arg, outcomes[r->outcome], r->grpc_status, r->operator_id, r->route_id, (long long)r->cost_micros,
	       r->error_code, (double)r->micros / 1000.0);
	remaining--;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: route HOST:PORT TIMEOUT_MS DESTINATION [COUNT]\n");
		return 2;
	}
	int count = argc > 4 ? atoi(argv[4]) : 1;
	struct routing *r = routing_start(argv[1], atoll(argv[2]), 64);
	if (!r)
		return 1;
	remaining = count;
	for (int i = 0; i < count; i++) {
		struct route_request q = { .message_id = "test", .account_id = "acct", .destination = argv[3],
					   .sender = "ACME", .segments = 1, .attempt = 0 };
		routing_call(r, &q, done, (void *)(long)i);
	}
	pthread_mutex_lock(&lock);
	while (remaining > 0)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	routing_stop(r);
	return 0;
}
