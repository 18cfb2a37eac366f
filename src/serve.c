/*
 * The serve subcommand (see serve.h). main() only orders x_start/x_stop
 * calls; each component owns its threads.
 */
#include "serve.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "bus.h"
#include "config.h"
#include "http.h"
#include "lib/log.h"
#include "relay.h"
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
	if (bus_start(cfg))
		return 1;
	if (relay_start(cfg)) {
		bus_stop();
		return 1;
	}
	struct api *api = api_start(cfg);
	if (!api) {
		relay_stop();
		bus_stop();
		return 1;
	}
	struct http_server_opts opts = {
		.listen = cfg->http_listen,
		.threads = (unsigned)cfg->http_threads,
		.conn_timeout_s = (unsigned)(cfg->http_idle_timeout_ms / 1000),
		.routes = api_routes(),
		.ctx = api,
	};
	struct http_server *http = http_start(&opts);
	if (!http) {
		api_free(api);
		relay_stop();
		bus_stop();
		return 1;
	}
	log_info("serving");
	int sig = 0;
	sigwait(&stop, &sig);
	log_info("stopping", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	api_begin_drain(api);
	http_stop(http);
	api_free(api);
	relay_stop();
	bus_stop();
	log_info("stopped");
	return 0;
}
