/*
 * The migrate subcommand (see migrate.h). The SQL comes from the binary
 * (embedded at build time) or, with --from DIR, from DIR/migrations and
 * DIR/sql, which is how an operator checks a checkout against a database.
 */
#include "migrate.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "embedded_sql.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "lib/banned.h"

/* pg_advisory_xact_lock key: "orchmigr" as a 64-bit number. */
#define MIGRATE_LOCK_KEY "8030042916488808818"

struct sql_file {
	char *path; /* e.g. migrations/0001_orch_schema.sql */
	char *text;
	int version; /* migrations only */
};

struct sql_set {
	struct sql_file *migrations;
	size_t nmigrations;
	struct sql_file *repeatable;
	size_t nrepeatable;
};

static const char bootstrap_sql[] =
	"CREATE SCHEMA IF NOT EXISTS orch;\n"
	"CREATE TABLE IF NOT EXISTS orch.schema_migrations (\n"
	"  version integer PRIMARY KEY CHECK (version > 0),\n"
	"  name text NOT NULL UNIQUE,\n"
	"  checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),\n"
	"  applied_at timestamptz NOT NULL DEFAULT now(),\n"
	"  applied_by text NOT NULL DEFAULT current_user)";

static int version_of(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return atoi(base);
}

static void set_release(struct sql_set *s)
{
	for (size_t i = 0; i < s->nmigrations; i++) {
		free(s->migrations[i].path);
		free(s->migrations[i].text);
	}
	for (size_t i = 0; i < s->nrepeatable; i++) {
		free(s->repeatable[i].path);
		free(s->repeatable[i].text);
	}
	free(s->migrations);
	free(s->repeatable);
}

static struct sql_file *copy_embedded(const struct embedded_sql *e, size_t n)
{
	struct sql_file *files = xcalloc(n, sizeof(*files));
	for (size_t i = 0; i < n; i++) {
		files[i].path = xstrdup(e[i].path);
		files[i].text = xstrdup(e[i].text);
		files[i].version = version_of(e[i].path);
	}
	return files;
}

static int read_file(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	struct buf b;
	buf_init(&b);
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&b, chunk, n);
	int err = ferror(f);
	fclose(f);
	*out = buf_detach(&b, NULL);
	return err ? -1 : 0;
}

static int cmp_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_sql(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 4 && d->d_name[0] != '.' && strcmp(d->d_name + n - 4, ".sql") == 0;
}

/* Reads DIR/sub/ *.sql in name order. */
static int load_dir(const char *dir, const char *sub, struct sql_file **out, size_t *nout)
{
	struct buf path;
	buf_init(&path);
	buf_addf(&path, "%s/%s", dir, sub);
	struct dirent **names;
	int n = scandir(path.data, &names, is_sql, cmp_name);
	if (n < 0) {
		log_error("cannot read SQL directory", "dir", path.data);
		buf_release(&path);
		return -1;
	}
	struct sql_file *files = xcalloc((size_t)n + 1, sizeof(*files));
	int rc = 0;
	for (int i = 0; i < n; i++) {
		struct buf full, rel;
		buf_init(&full);
		buf_init(&rel);
		buf_addf(&full, "%s/%s", path.data, names[i]->d_name);
		buf_addf(&rel, "%s/%s", sub, names[i]->d_name);
		files[i].path = buf_detach(&rel, NULL);
		files[i].version = atoi(names[i]->d_name);
		if (read_file(full.data, &files[i].text)) {
			log_error("cannot read SQL file", "file", full.data);
			files[i].text = xstrdup("");
			rc = -1;
		}
		buf_release(&full);
		free(names[i]);
	}
	free(names);
	buf_release(&path);
	*out = files;
	*nout = (size_t)n;
	return rc;
}

static int load_set(const char *from, struct sql_set *s)
{
	memset(s, 0, sizeof(*s));
	if (!from) {
		s->migrations = copy_embedded(embedded_migrations, embedded_migrations_len);
		s->nmigrations = embedded_migrations_len;
		s->repeatable = copy_embedded(embedded_repeatable, embedded_repeatable_len);
		s->nrepeatable = embedded_repeatable_len;
		return 0;
	}
	if (load_dir(from, "migrations", &s->migrations, &s->nmigrations) ||
	    load_dir(from, "sql", &s->repeatable, &s->nrepeatable))
		return -1;
	for (size_t i = 0; i < s->nmigrations; i++) {
		if (s->migrations[i].version <= 0) {
			log_error("migration file names start with their number (NNNN_name.sql)", "file",
				  s->migrations[i].path);
			return -1;
		}
	}
	return 0;
}

/* The SHA-256 of text, computed by PostgreSQL so the migrate tool needs no crypto of its own. */
static int checksum(PGconn *conn, const char *text, char out[65])
{
	const char *params[] = { text };
	PGresult *res = PQexecParams(conn, "SELECT encode(sha256(convert_to($1, 'UTF8')), 'hex')", 1, NULL,
				     params, NULL, NULL, 0);
	int rc = -1;
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		snprintf(out, 65, "%s", PQgetvalue(res, 0, 0));
		rc = 0;
	} else {
		log_error("checksum failed", "error", db_result_error(res));
	}
	PQclear(res);
	return rc;
}

/* Looks up version in the applied rows; returns its row or -1. */
static int applied_row(PGresult *applied, int version)
{
	for (int r = 0; r < PQntuples(applied); r++) {
		if (atoi(PQgetvalue(applied, r, 0)) == version)
			return r;
	}
	return -1;
}

static int record(PGconn *conn, const struct sql_file *f, const char *sum)
{
	char version[16];
	snprintf(version, sizeof(version), "%d", f->version);
	const char *base = strrchr(f->path, '/');
	const char *params[] = { version, base ? base + 1 : f->path, sum };
	PGresult *res = PQexecParams(conn,
				     "INSERT INTO orch.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
				     3, NULL, params, NULL, NULL, 0);
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
	if (rc)
		log_error("cannot record migration", "file", f->path, "error", db_result_error(res));
	PQclear(res);
	return rc;
}

/* Checks applied files are unchanged and applies the rest; counts what it applied. */
static int apply_migrations(PGconn *conn, const struct sql_set *s, int *applied_now)
{
	PGresult *applied = PQexec(conn, "SELECT version, name, checksum FROM orch.schema_migrations ORDER BY version");
	if (PQresultStatus(applied) != PGRES_TUPLES_OK) {
		log_error("cannot read orch.schema_migrations", "error", db_result_error(applied));
		PQclear(applied);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < s->nmigrations && rc == 0; i++) {
		const struct sql_file *f = &s->migrations[i];
		char sum[65];
		if ((rc = checksum(conn, f->text, sum)) != 0)
			break;
		int row = applied_row(applied, f->version);
		if (row >= 0) {
			if (strcmp(PQgetvalue(applied, row, 2), sum) != 0) {
				log_error("an applied migration has changed since it was applied; "
					  "migrations are forward-only: restore the file and add a new migration",
					  "file", f->path, "applied_checksum", PQgetvalue(applied, row, 2),
					  "file_checksum", sum);
				rc = -1;
			}
			continue;
		}
		if ((rc = db_exec(conn, f->text, f->path)) == 0 && (rc = record(conn, f, sum)) == 0) {
			log_info("migration applied", "file", f->path);
			(*applied_now)++;
		}
	}
	PQclear(applied);
	return rc;
}

static int apply_repeatable(PGconn *conn, const struct sql_set *s)
{
	for (size_t i = 0; i < s->nrepeatable; i++) {
		if (db_exec(conn, s->repeatable[i].text, s->repeatable[i].path))
			return -1;
	}
	return 0;
}

static int run_migrate(PGconn *conn, const struct sql_set *s)
{
	int applied_now = 0;
	if (db_exec(conn, "SET client_min_messages = warning", "quiet notices") ||
	    db_exec(conn, "BEGIN", "begin") ||
	    db_exec(conn, "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")", "advisory lock") ||
	    db_exec(conn, bootstrap_sql, "schema_migrations") || apply_migrations(conn, s, &applied_now) ||
	    apply_repeatable(conn, s) || db_exec(conn, "COMMIT", "commit")) {
		PGresult *res = PQexec(conn, "ROLLBACK");
		PQclear(res);
		log_error("migrate failed; nothing was changed");
		return 1;
	}
	char n[16], total[16];
	snprintf(n, sizeof(n), "%d", applied_now);
	snprintf(total, sizeof(total), "%zu", s->nmigrations);
	log_info("migrate done", "applied", n, "migrations", total, "repeatable", "re-applied");
	return 0;
}

/* --status: one line per migration known to the binary or the database. */
static int print_status(PGconn *conn, const struct sql_set *s)
{
	PGresult *res = PQexec(conn, "SELECT version, name, checksum, applied_at FROM orch.schema_migrations ORDER BY version");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		PQclear(res);
		res = NULL;
	}
	printf("%-8s %-40s %-10s %s\n", "version", "file", "state", "applied_at");
	int pending = 0, changed = 0;
	for (size_t i = 0; i < s->nmigrations; i++) {
		const struct sql_file *f = &s->migrations[i];
		int row = res ? applied_row(res, f->version) : -1;
		char sum[65] = "";
		if (row >= 0 && checksum(conn, f->text, sum))
			return 1;
		const char *state = row < 0 ? "pending" : strcmp(PQgetvalue(res, row, 2), sum) ? "CHANGED" : "applied";
		pending += row < 0;
		changed += row >= 0 && state[0] == 'C';
		printf("%-8d %-40s %-10s %s\n", f->version, f->path, state, row >= 0 ? PQgetvalue(res, row, 3) : "-");
	}
	for (int r = 0; res && r < PQntuples(res); r++) {
		int v = atoi(PQgetvalue(res, r, 0));
		int known = 0;
		for (size_t i = 0; i < s->nmigrations; i++)
			known |= s->migrations[i].version == v;
		if (!known)
			printf("%-8d %-40s %-10s %s\n", v, PQgetvalue(res, r, 1), "unknown", PQgetvalue(res, r, 3));
	}
	printf("schema version expected by this binary: %d; pending: %d; changed: %d\n", embedded_schema_version,
	       pending, changed);
	PQclear(res);
	return changed ? 1 : 0;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: sms-orchestrator migrate [--status] [--from DIR] [config flags]\n\n"
		     "Applies the versioned migrations (forward-only, checksummed) and re-applies the\n"
		     "repeatable SQL (functions, views, roles, comments), in one transaction under an\n"
		     "advisory lock. Safe to run again and from several hosts at once.\n\n"
		     "  --status     list migrations and whether each is applied, pending or CHANGED\n"
		     "  --from DIR   read DIR/migrations and DIR/sql instead of the SQL built into the binary\n");
}

int migrate_main(const struct config *cfg, int argc, char **argv)
{
	int status_only = 0;
	const char *from = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--status")) {
			status_only = 1;
		} else if (!strcmp(argv[i], "--from") && i + 1 < argc) {
			from = argv[++i];
		} else if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			config_print_help();
			return 0;
		} else {
			fprintf(stderr, "sms-orchestrator migrate: unknown argument \"%s\"\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	struct sql_set set;
	int rc = 1;
	PGconn *conn = NULL;
	if (load_set(from, &set) == 0 && (conn = db_connect(cfg->database_url, "sms-orchestrator migrate")) != NULL)
		rc = status_only ? print_status(conn, &set) : run_migrate(conn, &set);
	PQfinish(conn);
	set_release(&set);
	return rc;
}
