/*
 * Reconciliation (domain.md): `sms-orchestrator reconcile` runs one pass
 * and prints a JSON summary (cron mode); the reconciler role of serve runs
 * the same pass on a timer. The pass itself is orch.reconcile() (sql/070);
 * purges of old outbox rows and expired idempotency records follow in small
 * separate transactions. An advisory lock keeps two passes from acting at once.
 */
#ifndef ORCH_RECONCILE_H
#define ORCH_RECONCILE_H

struct config;

/* The subcommand. Exit codes: 0 the pass ran; 1 it could not (database); 2 usage; 4 another pass holds the lock. */
int reconcile_main(const struct config *cfg, int argc, char **argv);

/* The reconciler role of serve. */
int reconciler_start(const struct config *cfg) __attribute__((warn_unused_result));
void reconciler_stop(void);

#endif
