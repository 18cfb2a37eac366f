/*
 * The service's settings: the ORCH_* variables of operations.md, one table
 * (config.c) that names each, its type, default and check. Parsed once at
 * start from the environment, then from command-line flags of the same
 * names (--database-url for ORCH_DATABASE_URL). A value that does not parse
 * stops the program with a message naming the variable.
 */
#ifndef ORCH_CONFIG_H
#define ORCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/log.h"

#define CONFIG_MAX_BACKOFF 16

/* The roles of serve (--roles), a bit each. */
enum role { ROLE_HTTP = 1, ROLE_RELAY = 2, ROLE_PIPELINE = 4, ROLE_SCHEDULER = 8, ROLE_RECONCILER = 16 };

struct config {
	char *database_url;
	char *redis_url;
	char *nats_url;
	char *routing_addr;
	char *http_listen;
	char *upstream_token; /* NULL when unset */
	int64_t idempotency_ttl_ms;
	bool idempotency_required;
	int64_t bulk_max;
	int64_t max_segments;
	int64_t max_backlog;
	int64_t retry_backoff_ms[CONFIG_MAX_BACKOFF];
	int retry_backoff_len;
	int64_t routing_timeout_ms;
	int64_t routing_max_inflight;
	int64_t http_max_connections;
	int64_t db_timeout_ms;
	int64_t stuck_after_ms;
	int64_t nats_duplicate_window_ms;
	bool nats_provision;
	int64_t nats_max_age_ms;
	enum log_level log_level;
	int64_t http_threads;
	int64_t http_idle_timeout_ms;
	int64_t outbox_retention_ms;
	int64_t message_retention_ms; /* 0: keep every message */
	int64_t relay_batch;
	int64_t roles; /* enum role bits */
};

/*
 * Fills cfg from defaults, the environment, then argv flags. Flags that are
 * not configuration (the subcommand's own) are left in argv: on return
 * *argc and argv hold only those, in order. Returns 0, or -1 after writing
 * a message naming the bad variable or flag into err.
 */
int config_load(struct config *cfg, int *argc, char **argv, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void config_release(struct config *cfg);
/* Logs every setting once at start, secrets redacted. */
void config_log(const struct config *cfg);
/* Prints the table (name, default, description) for --help. */
void config_print_help(void);

/* Parsers, exposed for tests. Return 0 or -1. */
int config_parse_duration_ms(const char *s, int64_t *out);
int config_parse_bool(const char *s, bool *out);
/* Writes url with any password replaced by "***" into out (caller frees out's data). */
struct buf;
void config_redact_url(const char *url, struct buf *out);

#endif
