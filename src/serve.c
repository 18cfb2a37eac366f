/*
 * The serve subcommand (see serve.h). main() only orders x_start/x_stop
 * calls; each component owns its threads.
 */
#include "serve.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

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
