/*
 * The reconcile subcommand. The repair pass of domain.md (stuck ROUTED,
 * QUEUED without progress, overdue retries, expiry, purges) is not built
 * yet: until it is, the command says so and exits non-zero, so a cron job
 * never mistakes it for a pass that ran.
 */
#include "reconcile.h"

#include <stdio.h>
#include <string.h>

#include "config.h"
#include "lib/banned.h"

static void usage(FILE *out)
{
	fprintf(out, "Usage: sms-orchestrator reconcile [--dry-run] [config flags]\n\n"
		     "One reconciliation pass over stuck messages (domain.md), JSON summary on stdout.\n"
		     "Exit 0 when the pass ran, non-zero when it could not.\n");
}

int reconcile_main(const struct config *cfg, int argc, char **argv)
{
	(void)cfg;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			config_print_help();
			return 0;
		}
		if (strcmp(argv[i], "--dry-run") != 0) {
			fprintf(stderr, "sms-orchestrator reconcile: unknown argument \"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	fprintf(stderr, "sms-orchestrator reconcile: the reconciliation pass is not available in this version\n");
	return 3;
}
