/*
 * `sms-orchestrator migrate`: applies the versioned migrations (forward-only,
 * each recorded with its SHA-256) and then re-applies the repeatable SQL of
 * sql/, all in one transaction under an advisory lock, so two migrates at
 * once are safe and a failure leaves the schema as it was.
 */
#ifndef ORCH_MIGRATE_H
#define ORCH_MIGRATE_H

struct config;

/* The subcommand: argv holds its own flags (--status, --from DIR). Returns the exit code. */
int migrate_main(const struct config *cfg, int argc, char **argv);

#endif
