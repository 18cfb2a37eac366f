/*
 * sms-orchestrator: the central engine for outbound SMS. One binary with
 * subcommands; main() parses the configuration once and hands over.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "migrate.h"
#include "reconcile.h"
#include "redrive.h"
#include "serve.h"
#include "version.h"
#include "lib/log.h"
#include "lib/banned.h"

struct command {
	const char *name;
	int (*run)(const struct config *cfg, int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "serve", serve_main, "HTTP API, outbox relay, pipeline, retry scheduler, reconciler" },
	{ "migrate", migrate_main, "apply migrations/ and re-apply sql/ (--status lists them)" },
	{ "reconcile", reconcile_main, "one reconciliation pass, JSON summary on stdout (cron mode)" },
	{ "redrive", redrive_main, "send FAILED messages again (--id, --reason, --account, --since/--until), JSON report" },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: sms-orchestrator <command> [flags]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nEvery command takes --help and --version. Configuration is read from ORCH_*\n"
		     "environment variables or the flags of the same name (see \"serve --help\").\n");
}

static bool has_flag(int argc, char **argv, const char *flag)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], flag))
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version") || has_flag(argc, argv, "--version")) {
		printf("sms-orchestrator %s\n", ORCH_VERSION);
		return 0;
	}
	const struct command *cmd = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(argv[1], commands[i].name))
			cmd = &commands[i];
	}
	if (!cmd) {
		fprintf(stderr, "sms-orchestrator: unknown command \"%s\"\n", argv[1]);
		usage(stderr);
		return 2;
	}
	int cargc = argc - 1;
	char **cargv = argv + 1;
	struct config cfg;
	char err[512];
	if (config_load(&cfg, &cargc, cargv, err, sizeof(err))) {
		fprintf(stderr, "sms-orchestrator %s: configuration error: %s\n", cmd->name, err);
		log_error("configuration error", "detail", err);
		config_release(&cfg);
		return 2;
	}
	log_set_level(cfg.log_level);
	log_set_component(cmd->name);
	db_set_connect_timeout_s((int)((cfg.db_timeout_ms + 999) / 1000));
	config_log(&cfg);
	int rc = cmd->run(&cfg, cargc, cargv);
	config_release(&cfg);
	return rc;
}
