/*
 * Redrive (domain.md): `sms-orchestrator redrive` sends FAILED messages
 * again. orch.redrive() (sql/075_redrive.sql) does the work in one
 * transaction: it selects, refuses what may not go again (with the reason),
 * moves the rest FAILED -> QUEUED and returns a JSON report. This command
 * parses its flags strictly, calls it, and prints the report on stdout. It
 * wakes nothing itself: the function's NOTIFY tells running relays.
 */
#ifndef ORCH_REDRIVE_H
#define ORCH_REDRIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct config;

#define REDRIVE_DEFAULT_LIMIT 1000
#define REDRIVE_MAX_LIMIT 100000

/* The flags, parsed. Every value is checked; the database checks them again. */
struct redrive_args {
	struct buf ids;      /* --id: a PostgreSQL array literal; empty when none was given */
	struct buf reasons;  /* --reason: likewise */
	int nids;            /* how many --id were given */
	const char *account; /* --account, borrowed from argv; NULL when not given */
	char since[32];      /* --since as RFC 3339 UTC; "" when not given */
	char until[32];      /* --until likewise */
	long limit;          /* --limit, REDRIVE_DEFAULT_LIMIT when not given */
	bool dry_run;
	bool help;
};

void redrive_args_init(struct redrive_args *a);
/* Frees what a holds. */
void redrive_args_release(struct redrive_args *a);
/*
 * Parses argv[1..argc) (argv[0] is the command's name). --since/--until take
 * an RFC 3339 time with an offset, or a duration (30m, 2h, 1d) meaning that
 * long before now_ms. 0, or -1 with a message naming the flag in err.
 */
int redrive_parse_args(struct redrive_args *a, int argc, char **argv, int64_t now_ms, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The subcommand. Exit codes: 0 it ran; 1 it could not (database); 2 usage; 4 messages held by another transaction. */
int redrive_main(const struct config *cfg, int argc, char **argv);

#endif
