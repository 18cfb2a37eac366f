/* `sms-orchestrator reconcile`: one reconciliation pass (cron mode). */
#ifndef ORCH_RECONCILE_H
#define ORCH_RECONCILE_H

struct config;

int reconcile_main(const struct config *cfg, int argc, char **argv);

#endif
