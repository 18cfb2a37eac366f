/* Redrive: the command (see redrive.h). */
#include "redrive.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "lib/uuid.h"
#include "lib/banned.h"

enum redrive_exit { REDRIVE_RAN = 0, REDRIVE_ERROR = 1, REDRIVE_USAGE = 2, REDRIVE_LOCKED = 4 };

void redrive_args_init(struct redrive_args *a)
{
	memset(a, 0, sizeof(*a));
	buf_init(&a->ids);
	buf_init(&a->reasons);
	a->limit = REDRIVE_DEFAULT_LIMIT;
}

void redrive_args_release(struct redrive_args *a)
{
	buf_release(&a->ids);
	buf_release(&a->reasons);
}

/* An error code as the database stores them: [a-z0-9_]{1,64}. */
static bool code_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_')
			return false;
	}
	return true;
}

/* --since/--until: RFC 3339 with an offset, or a duration before now. 0 and out set, or -1. */
static int parse_time(const char *s, int64_t now_ms, char *out, size_t len)
{
	int64_t ms, ago;
	if (rfc3339_parse_ms(s, strlen(s), &ms) == 0) {
		rfc3339_ms(ms, out, len);
		return 0;
	}
	if (config_parse_duration_ms(s, &ago) == 0 && ago <= now_ms) {
		rfc3339_ms(now_ms - ago, out, len);
		return 0;
	}
	return -1;
}

/* --limit: a plain decimal integer, 1 to REDRIVE_MAX_LIMIT. */
static int parse_limit(const char *s, long *out)
{
	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	char *end;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > REDRIVE_MAX_LIMIT)
		return -1;
	*out = v;
	return 0;
}

/* Adds v to an array literal being built in b: '{' before the first; close_array adds the '}'. */
static void array_add(struct buf *b, const char *v)
{
	if (b->len == 0)
		buf_addc(b, '{');
	db_array_add(b, v);
}

static void close_array(struct buf *b)
{
	if (b->len)
		buf_addc(b, '}');
}

/* The flags that take a value, and what each wants (for the error message). */
static const struct {
	const char *flag, *wants;
} value_flags[] = {
	{ "--id", "a message id (a UUID)" },
	{ "--reason", "an error code (lower_snake_case, at most 64 characters, e.g. retries_exhausted)" },
	{ "--account", "an account id (1 to 255 characters)" },
	{ "--since", "an RFC 3339 time with an offset (2026-12-01T10:00:00Z) or a duration before now (90m, 2h, 1d)" },
	{ "--until", "an RFC 3339 time with an offset (2026-12-01T10:00:00Z) or a duration before now (90m, 2h, 1d)" },
	{ "--limit", "a whole number from 1 to 100000" },
};

/* What a value flag wants; NULL when name is not one. */
static const char *flag_wants(const char *name)
{
	for (size_t k = 0; k < sizeof(value_flags) / sizeof(value_flags[0]); k++) {
		if (!strcmp(name, value_flags[k].flag))
			return value_flags[k].wants;
	}
	return NULL;
}

/* Parses one value flag's value into a: 0, or -1 when it is not what the flag wants. */
static int set_value(struct redrive_args *a, const char *flag, const char *v, int64_t now_ms)
{
	if (!strcmp(flag, "--id")) {
		if (!uuid_parse_ok(v))
			return -1;
		array_add(&a->ids, v);
		a->nids++;
		return 0;
	}
	if (!strcmp(flag, "--reason")) {
		if (!code_ok(v))
			return -1;
		array_add(&a->reasons, v);
		return 0;
	}
	if (!strcmp(flag, "--account")) {
		if (!*v || strlen(v) > 255)
			return -1;
		a->account = v;
		return 0;
	}
	if (!strcmp(flag, "--since"))
		return parse_time(v, now_ms, a->since, sizeof(a->since));
	if (!strcmp(flag, "--until"))
		return parse_time(v, now_ms, a->until, sizeof(a->until));
	return parse_limit(v, &a->limit);
}

static int check_combination(const struct redrive_args *a, char *err, size_t errlen)
{
	if (a->help)
		return 0;
	if (!a->nids && !a->reasons.len && !a->account && !a->since[0] && !a->until[0]) {
		snprintf(err, errlen,
			 "name what to redrive: --id, --reason, --account, --since or --until "
			 "(e.g. --since 2h: what failed in the last two hours, with the default reasons)");
		return -1;
	}
	if (a->nids && (a->account || a->since[0] || a->until[0])) {
		snprintf(err, errlen,
			 "--id selects the messages itself: it does not go with --account, --since or --until");
		return -1;
	}
	if (a->nids > a->limit) {
		snprintf(err, errlen, "--id given %d times, more than --limit %ld", a->nids, a->limit);
		return -1;
	}
	if (a->since[0] && a->until[0] && strcmp(a->since, a->until) >= 0) {
		snprintf(err, errlen, "--since (%s) is not before --until (%s)", a->since, a->until);
		return -1;
	}
	return 0;
}

int redrive_parse_args(struct redrive_args *a, int argc, char **argv, int64_t now_ms, char *err, size_t errlen)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq = strchr(arg, '=');
		if (!strcmp(arg, "--help")) {
			a->help = true;
			continue;
		}
		if (!strcmp(arg, "--dry-run")) {
			a->dry_run = true;
			continue;
		}
		/* A value flag: "--id X" or "--id=X". */
		char name[16] = "";
		size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
		if (n < sizeof(name)) {
			memcpy(name, arg, n);
			name[n] = '\0';
		}
		const char *wants = flag_wants(name);
		if (!wants) {
			snprintf(err, errlen, "unknown argument \"%.64s\"", arg);
			return -1;
		}
		if (!eq && i + 1 >= argc) {
			snprintf(err, errlen, "%s needs %s", name, wants);
			return -1;
		}
		const char *v = eq ? eq + 1 : argv[++i];
		if (set_value(a, name, v, now_ms)) {
			snprintf(err, errlen, "%s needs %s, not \"%.64s\"", name, wants, v);
			return -1;
		}
	}
	close_array(&a->ids);
	close_array(&a->reasons);
	return check_combination(a, err, errlen);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: sms-orchestrator redrive [selection] [--limit N] [--dry-run] [config flags]\n\n"
		"Sends FAILED messages again (domain.md, redrive): FAILED -> QUEUED with a fresh retry budget,\n"
		"a status event and a new sms.outbound.request. Never one that may have reached an operator,\n"
		"one past its validity, or one that failed for a reason of its own unless that code is named.\n"
		"Selection (at least one):\n"
		"  --id ID        a message (repeatable; not with --account, --since, --until)\n"
		"  --reason CODE  the error codes to send again (repeatable); default: retries_exhausted,\n"
		"                 routing_unavailable. Naming one (e.g. no_route) says it was not the message's fault\n"
		"  --account A    only this account's messages\n"
		"  --since T      failed at or after T; --until T: failed before T. T: RFC 3339 with an offset\n"
		"                 (2026-12-01T10:00:00Z) or a duration before now (90m, 2h, 1d)\n"
		"  --limit N      move at most N messages (default %d, at most %d); \"more\": true in the\n"
		"                 report says others wait: run it again\n"
		"  --dry-run      report what would be moved and refused; change nothing\n"
		"One JSON document on stdout: moved [{id, accountId, previousErrorCode}], refused [{id, reason,\n"
		"status, errorCode}], summary, otherReasons (FAILED messages of the selection with other codes).\n"
		"Exit: 0 it ran (whatever it moved or refused); 1 it could not (database); 2 usage;\n"
		"      4 messages held by another transaction for 10 s (a redrive at the same time): nothing done.\n",
		REDRIVE_DEFAULT_LIMIT, REDRIVE_MAX_LIMIT);
}

/* The report of orch.redrive() with ran and durationMs added, on one line. */
static void print_report(const char *report, int64_t start_ms)
{
	json_object *root = json_tokener_parse(report);
	if (!root) {
		printf("%s\n", report);
		return;
	}
	json_object_object_add(root, "ran", json_object_new_boolean(1));
	json_object_object_add(root, "durationMs", json_object_new_int64(mono_ms() - start_ms));
	printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	json_object_put(root);
}

static void print_not_ran(const char *error)
{
	json_object *root = json_object_new_object();
	json_object_object_add(root, "ran", json_object_new_boolean(0));
	json_object_object_add(root, "error", json_object_new_string(error));
	printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	json_object_put(root);
}

static enum redrive_exit run(PGconn *conn, const struct redrive_args *a, int64_t start_ms)
{
	char limit[24];
	snprintf(limit, sizeof(limit), "%ld", a->limit);
	const char *p[] = { a->ids.len ? a->ids.data : NULL, a->reasons.len ? a->reasons.data : NULL, a->account,
			    a->since[0] ? a->since : NULL,   a->until[0] ? a->until : NULL,           limit,
			    a->dry_run ? "true" : "false" };
	PGresult *res =
		PQexecParams(conn,
			     "SELECT orch.redrive($1::uuid[], $2::text[], $3::text, $4::timestamptz, $5::timestamptz, "
			     "$6::integer, $7::boolean)",
			     7, NULL, p, NULL, NULL, 0);
	enum redrive_exit rc = REDRIVE_RAN;
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		print_report(PQgetvalue(res, 0, 0), start_ms);
	} else {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		rc = state && !strcmp(state, "55P03") ? REDRIVE_LOCKED : REDRIVE_ERROR;
		log_error("redrive failed; nothing was changed", "error", db_result_error(res));
		fprintf(stderr, "sms-orchestrator redrive: %s; nothing was changed\n",
			rc == REDRIVE_LOCKED
				? "another transaction (a redrive at the same time?) held these messages for 10 s"
				: db_result_error(res));
		print_not_ran(db_result_error(res));
	}
	PQclear(res);
	return rc;
}

int redrive_main(const struct config *cfg, int argc, char **argv)
{
	struct redrive_args a;
	redrive_args_init(&a);
	char err[512];
	int rc;
	if (redrive_parse_args(&a, argc, argv, wall_ms(), err, sizeof(err))) {
		fprintf(stderr, "sms-orchestrator redrive: %s\n", err);
		usage(stderr);
		rc = REDRIVE_USAGE;
		goto out;
	}
	if (a.help) {
		usage(stdout);
		config_print_help();
		rc = 0;
		goto out;
	}
	int64_t start = mono_ms();
	PGconn *conn = db_connect(cfg->database_url, "sms-orchestrator redrive");
	if (!conn) {
		fprintf(stderr, "sms-orchestrator redrive: cannot connect to PostgreSQL (ORCH_DATABASE_URL); nothing "
				"was done\n");
		print_not_ran("cannot connect to PostgreSQL");
		rc = REDRIVE_ERROR;
		goto out;
	}
	rc = run(conn, &a, start);
	PQfinish(conn);
out:
	redrive_args_release(&a);
	return rc;
}
