/*
 * The serve subcommand (see serve.h). main() only orders x_start/x_stop
 * calls; each component owns its threads.
 */
#include "serve.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "api.h"
#include "bus.h"
#include "config.h"
#include "http.h"
#include "lib/log.h"
#include "pipeline.h"
#include "reconcile.h"
#include "relay.h"
#include "scheduler.h"
#include "lib/banned.h"

static void usage(FILE *out)
{
	fprintf(out, "Usage: sms-orchestrator serve [config flags]\n\n"
		     "Serves the HTTP API (/v1/sms, /healthz, /readyz, /metrics) and relays the outbox to NATS\n"
		     "JetStream until SIGTERM or SIGINT.\n");
}

/* Descriptors kept for what is not an HTTP connection: PostgreSQL, Redis, NATS, gRPC, epoll, files. */
#define FD_RESERVE 512

/*
 * Raises the open-files limit as far as the hard limit allows and returns
 * how many HTTP connections fit under it: ORCH_HTTP_MAX_CONNECTIONS, or
 * fewer (with a warning naming the setting) when the limit is lower.
 */
static unsigned http_connection_budget(const struct config *cfg)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg->http_max_connections + FD_RESERVE;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < want) {
			struct rlimit raised = rl;
			raised.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
				rl = raised;
		}
	} else {
		rl.rlim_cur = rl.rlim_max = 1024;
	}
	char soft[24], hard[24];
	snprintf(soft, sizeof(soft), "%llu", (unsigned long long)rl.rlim_cur);
	snprintf(hard, sizeof(hard), "%llu", (unsigned long long)rl.rlim_max);
	unsigned budget = (unsigned)cfg->http_max_connections;
	if (rl.rlim_cur < want) {
		budget = rl.rlim_cur > FD_RESERVE + 16 ? (unsigned)(rl.rlim_cur - FD_RESERVE) : 16;
		char b[24];
		snprintf(b, sizeof(b), "%u", budget);
		log_warn("the open-files limit is below ORCH_HTTP_MAX_CONNECTIONS plus a reserve; fewer HTTP connections",
			 "open_files_soft", soft, "open_files_hard", hard, "http_max_connections", b);
	} else {
		log_info("open-files limit", "open_files_soft", soft, "open_files_hard", hard);
	}
	return budget;
}

int serve_main(const struct config *cfg, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			config_print_help();
			return 0;
		}
		fprintf(stderr, "sms-orchestrator serve: unknown argument \"%s\"\n", argv[i]);
		usage(stderr);
		return 2;
	}
	/* Block the stop signals before any thread starts: threads inherit the mask and only sigwait() sees them. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	signal(SIGTERM, SIG_DFL); /* a parent may have left them ignored */
	signal(SIGINT, SIG_DFL);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	bus_on_connect(relay_wake); /* NATS back: drain the outbox now, not at the next backoff tick */
	int64_t roles = cfg->roles;
	bool need_bus = true; /* /readyz reports NATS whatever the roles */
	if (need_bus && bus_start(cfg))
		return 1;
	/* Streams and consumer now, not on the first message (a relay or pipeline that finds NATS later provisions then). */
	if (cfg->nats_provision && bus_connected() && bus_provision() != 0)
		log_warn("NATS streams not provisioned at start; the relay and the pipeline try again");
	bool ok = !(roles & ROLE_RELAY) || relay_start(cfg) == 0;
	ok = ok && (!(roles & ROLE_SCHEDULER) || scheduler_start(cfg) == 0);
	ok = ok && (!(roles & ROLE_PIPELINE) || pipeline_start(cfg) == 0);
	ok = ok && (!(roles & ROLE_RECONCILER) || reconciler_start(cfg) == 0);
	struct api *api = ok ? api_start(cfg) : NULL;
	struct http_server *http = NULL;
	if (api && (roles & ROLE_HTTP)) {
		struct http_server_opts opts = {
			.listen = cfg->http_listen,
			.threads = (unsigned)cfg->http_threads,
			.conn_timeout_s = (unsigned)(cfg->http_idle_timeout_ms / 1000),
			.max_connections = http_connection_budget(cfg),
			.routes = api_routes(),
			.ctx = api,
		};
		http = http_start(&opts);
		ok = http != NULL;
	}
	ok = ok && api;
	if (ok) {
		log_info("serving");
		int sig = 0;
		sigwait(&stop, &sig);
		log_info("stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	}
	/* Reverse order: stop taking requests, answer those in flight, then the workers. */
	if (api)
		api_begin_drain(api);
	http_stop(http);
	api_free(api);
	reconciler_stop();
	pipeline_stop();
	scheduler_stop();
	relay_stop();
	if (need_bus)
		bus_stop();
	if (!ok)
		return 1;
	log_info("stopped");
	return 0;
}
