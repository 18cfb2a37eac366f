/*
 * Fuzz target: config_load (config.c), the whole ORCH_* table as parsed
 * from command-line flags (input: the arguments, one a line; a NUL byte
 * ends one, as in a real argv). The environment holds no ORCH_* variable,
 * so the defaults and the flags are all there is.
 *
 * Properties: config_load returns (a bad value makes it return -1 with a
 * message naming the variable; it never exits); what it leaves in argv is
 * the original arguments that were not configuration, in order; every
 * bounded setting is within its bounds. Round trip: the loaded settings
 * written back as flags (durations as "<n>ms", as config_log shows them)
 * load again to the same settings.
 */
#include <stdarg.h>
#include <string.h>

#include "config.h"
#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "util.h"
#include "lib/banned.h"

extern char **environ;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	for (;;) {
		char **e = environ;
		while (*e && strncmp(*e, "ORCH_", 5) != 0)
			e++;
		if (!*e)
			return 0;
		char name[256];
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
		unsetenv(name);
	}
}

#define MS_DAY 86400000LL

static void check_bounds(const struct config *c)
{
	FUZZ_CHECK(c->database_url && c->redis_url && c->nats_url && c->routing_addr && c->http_listen,
		   "a string setting is unset");
	FUZZ_CHECK(!c->upstream_token || c->upstream_token[0], "an empty upstream token is kept");
	FUZZ_CHECK(c->idempotency_ttl_ms >= 1000 && c->idempotency_ttl_ms <= 30 * MS_DAY, "ttl %lld",
		   (long long)c->idempotency_ttl_ms);
	FUZZ_CHECK(c->bulk_max >= 1 && c->bulk_max <= 100000, "bulk_max %lld", (long long)c->bulk_max);
	FUZZ_CHECK(c->max_segments >= 1 && c->max_segments <= 255, "max_segments %lld", (long long)c->max_segments);
	FUZZ_CHECK(c->max_backlog >= 1, "max_backlog %lld", (long long)c->max_backlog);
	FUZZ_CHECK(c->retry_backoff_len >= 1 && c->retry_backoff_len <= CONFIG_MAX_BACKOFF, "%d backoffs",
		   c->retry_backoff_len);
	for (int i = 0; i < c->retry_backoff_len; i++)
		FUZZ_CHECK(c->retry_backoff_ms[i] >= 0 && c->retry_backoff_ms[i] <= MS_DAY, "backoff %lld",
			   (long long)c->retry_backoff_ms[i]);
	FUZZ_CHECK(c->routing_timeout_ms >= 1 && c->routing_timeout_ms <= 60000, "routing timeout");
	FUZZ_CHECK(c->stuck_after_ms >= 1000 && c->stuck_after_ms <= 7 * MS_DAY, "stuck after");
	FUZZ_CHECK(c->nats_duplicate_window_ms >= 1000 && c->nats_duplicate_window_ms <= 7 * MS_DAY, "dup window");
	FUZZ_CHECK(c->nats_max_age_ms >= 60000 && c->nats_max_age_ms <= 3650 * MS_DAY, "max age");
	FUZZ_CHECK(c->outbox_retention_ms >= 0 && c->outbox_retention_ms <= 30 * MS_DAY, "retention");
	FUZZ_CHECK(c->relay_batch >= 1 && c->relay_batch <= 10000, "relay batch");
	FUZZ_CHECK(c->http_threads >= 1 && c->http_threads <= 256, "threads");
	FUZZ_CHECK(c->http_idle_timeout_ms >= 1000 && c->http_idle_timeout_ms <= 3600000, "idle timeout");
	FUZZ_CHECK(c->roles >= 1 && c->roles <= 31, "roles %lld", (long long)c->roles);
	FUZZ_CHECK(c->log_level >= LOG_DEBUG && c->log_level <= LOG_ERROR, "log level %d", (int)c->log_level);
}

/* Appends "--name=value" as one more argument. */
static void flag(char ***v, int *n, const char *name, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void flag(char ***v, int *n, const char *name, const char *fmt, ...)
{
	struct buf b;
	va_list ap;
	buf_init(&b);
	buf_addf(&b, "--%s=", name);
	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	*v = xrealloc(*v, (size_t)(*n + 2) * sizeof(**v));
	(*v)[(*n)++] = buf_detach(&b, NULL);
	(*v)[*n] = NULL;
}

/* The settings as flags, in the units config_log prints. */
static char **as_flags(const struct config *c, int *n)
{
	static const char *const roles[] = { "http", "relay", "pipeline", "scheduler", "reconciler" };
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	char **v = xcalloc(2, sizeof(*v));
	struct buf b;
	*n = 0;
	v[(*n)++] = xstrdup("serve");
	flag(&v, n, "database-url", "%s", c->database_url);
	flag(&v, n, "redis-url", "%s", c->redis_url);
	flag(&v, n, "nats-url", "%s", c->nats_url);
	flag(&v, n, "routing-addr", "%s", c->routing_addr);
	flag(&v, n, "http-listen", "%s", c->http_listen);
	flag(&v, n, "upstream-token", "%s", c->upstream_token ? c->upstream_token : "");
	flag(&v, n, "idempotency-ttl", "%lldms", (long long)c->idempotency_ttl_ms);
	flag(&v, n, "idempotency-required", "%s", c->idempotency_required ? "true" : "false");
	flag(&v, n, "bulk-max", "%lld", (long long)c->bulk_max);
	flag(&v, n, "max-segments", "%lld", (long long)c->max_segments);
	flag(&v, n, "max-backlog", "%lld", (long long)c->max_backlog);
	buf_init(&b);
	for (int i = 0; i < c->retry_backoff_len; i++)
		buf_addf(&b, "%s%lldms", i ? "," : "", (long long)c->retry_backoff_ms[i]);
	flag(&v, n, "retry-backoff", "%s", b.data);
	buf_release(&b);
	flag(&v, n, "routing-timeout-ms", "%lld", (long long)c->routing_timeout_ms);
	flag(&v, n, "routing-max-inflight", "%lld", (long long)c->routing_max_inflight);
	flag(&v, n, "stuck-after", "%lldms", (long long)c->stuck_after_ms);
	flag(&v, n, "nats-duplicate-window", "%lldms", (long long)c->nats_duplicate_window_ms);
	flag(&v, n, "nats-provision", "%s", c->nats_provision ? "true" : "false");
	flag(&v, n, "nats-max-age", "%lldms", (long long)c->nats_max_age_ms);
	flag(&v, n, "outbox-retention", "%lldms", (long long)c->outbox_retention_ms);
	flag(&v, n, "relay-batch", "%lld", (long long)c->relay_batch);
	buf_init(&b);
	for (int i = 0; i < 5; i++)
		if (c->roles & (1 << i))
			buf_addf(&b, "%s%s", b.len ? "," : "", roles[i]);
	flag(&v, n, "roles", "%s", b.data);
	buf_release(&b);
	flag(&v, n, "log-level", "%s", levels[c->log_level]);
	flag(&v, n, "http-threads", "%lld", (long long)c->http_threads);
	flag(&v, n, "http-idle-timeout", "%lldms", (long long)c->http_idle_timeout_ms);
	flag(&v, n, "http-max-connections", "%lld", (long long)c->http_max_connections);
	flag(&v, n, "db-timeout", "%lldms", (long long)c->db_timeout_ms);
	return v;
}

static bool same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

static void check_same(const struct config *a, const struct config *b)
{
	FUZZ_CHECK(same_str(a->database_url, b->database_url) && same_str(a->redis_url, b->redis_url) &&
			   same_str(a->nats_url, b->nats_url) && same_str(a->routing_addr, b->routing_addr) &&
			   same_str(a->http_listen, b->http_listen) && same_str(a->upstream_token, b->upstream_token),
		   "a string setting changed in the round trip");
	FUZZ_CHECK(a->retry_backoff_len == b->retry_backoff_len &&
			   !memcmp(a->retry_backoff_ms, b->retry_backoff_ms,
				   sizeof(a->retry_backoff_ms[0]) * (size_t)a->retry_backoff_len),
		   "the backoff list changed in the round trip");
#define SAME(f) \
	FUZZ_CHECK(a->f == b->f, #f " changed in the round trip: %lld, then %lld", (long long)a->f, (long long)b->f)
	SAME(idempotency_ttl_ms);
	SAME(idempotency_required);
	SAME(bulk_max);
	SAME(max_segments);
	SAME(max_backlog);
	SAME(routing_timeout_ms);
	SAME(routing_max_inflight);
	SAME(http_max_connections);
	SAME(db_timeout_ms);
	SAME(stuck_after_ms);
	SAME(nats_duplicate_window_ms);
	SAME(nats_provision);
	SAME(nats_max_age_ms);
	SAME(log_level);
	SAME(http_threads);
	SAME(http_idle_timeout_ms);
	SAME(outbox_retention_ms);
	SAME(relay_batch);
	SAME(roles);
#undef SAME
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t nlines;
	char **lines = fuzz_split_lines(data, size, &nlines);
	if (nlines > 64) {
		fuzz_strv_free(lines);
		return 0;
	}
	/* argv: the program name, then the lines; config_load rearranges a copy of the pointers. */
	int argc = (int)nlines + 1;
	char **argv = xcalloc((size_t)argc + 1, sizeof(*argv)), **orig = xcalloc((size_t)argc + 1, sizeof(*orig));
	argv[0] = orig[0] = "serve";
	for (size_t i = 0; i < nlines; i++)
		argv[i + 1] = orig[i + 1] = lines[i];

	struct config cfg;
	char err[512];
	memset(&cfg, 0xA5, sizeof(cfg));
	memset(err, 'x', sizeof(err));
	int rc = config_load(&cfg, &argc, argv, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1, "rc %d", rc);
	if (rc == -1) {
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && strstr(err, "ORCH_"),
			   "error without a variable: %.200s", err);
		goto out;
	}
	FUZZ_CHECK(argc >= 1 && argc <= (int)nlines + 1 && argv[argc] == NULL && argv[0] == orig[0], "argc %d of %zu",
		   argc, nlines + 1);
	for (int i = 1, j = 1; i < argc; i++, j++) { /* the rest: a subsequence of the original, in order */
		while (j <= (int)nlines && orig[j] != argv[i])
			j++;
		FUZZ_CHECK(j <= (int)nlines, "argv[%d] is not one of the arguments, or out of order", i);
	}
	check_bounds(&cfg);

	int n2;
	char **again = as_flags(&cfg, &n2), **again_orig = xcalloc((size_t)n2 + 1, sizeof(*again_orig));
	memcpy(again_orig, again, sizeof(*again) * (size_t)n2);
	struct config cfg2;
	int argc2 = n2;
	rc = config_load(&cfg2, &argc2, again, err, sizeof(err));
	FUZZ_CHECK(rc == 0, "the settings written back as flags do not load: %s", err);
	FUZZ_CHECK(argc2 == 1, "%d arguments left of the settings", argc2 - 1);
	check_same(&cfg, &cfg2);
	config_release(&cfg2);
	fuzz_strv_free(again_orig);
	free(again);
out:
	config_release(&cfg);
	free(argv);
	free(orig);
	fuzz_strv_free(lines);
	return 0;
}
