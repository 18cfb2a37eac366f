/*
 * `sms-orchestrator serve`: starts the long-lived components in order, waits
 * for SIGTERM/SIGINT, then stops them in reverse order.
 */
#ifndef ORCH_SERVE_H
#define ORCH_SERVE_H

struct config;

int serve_main(const struct config *cfg, int argc, char **argv);

#endif
