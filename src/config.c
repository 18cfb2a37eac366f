/*
 * The configuration table. Each row: the variable, its type, where it goes,
 * its default, its bounds, and whether it is secret. Everything that reads a
 * setting reads struct config; nothing else calls getenv().
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "lib/banned.h"

enum cfg_type { CFG_STRING, CFG_URL, CFG_SECRET, CFG_INT, CFG_BOOL, CFG_DURATION, CFG_DURATION_LIST, CFG_LOG_LEVEL, CFG_ROLES };

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t offset;
	const char *def; /* NULL: unset by default */
	int64_t min, max; /* for INT and DURATION (milliseconds) */
	const char *help;
};

#define OFF(f) offsetof(struct config, f)
#define MS_DAY (24LL * 3600 * 1000)

static const struct cfg_key keys[] = {
	{ "ORCH_DATABASE_URL", CFG_URL, OFF(database_url), "postgresql://orch_service@127.0.0.1:15432/orch", 0, 0, "libpq connection string or URL" },
	{ "ORCH_REDIS_URL", CFG_URL, OFF(redis_url), "redis://127.0.0.1:6379/0", 0, 0, "Redis for the idempotency fast path" },
	{ "ORCH_NATS_URL", CFG_URL, OFF(nats_url), "nats://127.0.0.1:4222", 0, 0, "NATS servers, comma-separated" },
	{ "ORCH_ROUTING_ADDR", CFG_STRING, OFF(routing_addr), "127.0.0.1:50051", 0, 0, "routing-engine gRPC host:port" },
	{ "ORCH_HTTP_LISTEN", CFG_STRING, OFF(http_listen), "127.0.0.1:8080", 0, 0, "HTTP listen address host:port" },
	{ "ORCH_UPSTREAM_TOKEN", CFG_SECRET, OFF(upstream_token), NULL, 0, 0, "X-Gateway-Token Kong must send (unset: not checked)" },
	{ "ORCH_IDEMPOTENCY_TTL", CFG_DURATION, OFF(idempotency_ttl_ms), "48h", 1000, 30 * MS_DAY, "Idempotency-Key window" },
	{ "ORCH_IDEMPOTENCY_REQUIRED", CFG_BOOL, OFF(idempotency_required), "false", 0, 0, "require Idempotency-Key on POST" },
	{ "ORCH_BULK_MAX", CFG_INT, OFF(bulk_max), "1000", 1, 100000, "most messages in one bulk request" },
	{ "ORCH_MAX_SEGMENTS", CFG_INT, OFF(max_segments), "10", 1, 255, "most segments in one message" },
	{ "ORCH_MAX_BACKLOG", CFG_INT, OFF(max_backlog), "1000000", 1, INT64_MAX, "unpublished outbox rows before 503" },
	{ "ORCH_RETRY_BACKOFF", CFG_DURATION_LIST, OFF(retry_backoff_ms), "1s,2s,4s", 0, MS_DAY, "backoff before each retry" },
	{ "ORCH_ROUTING_TIMEOUT_MS", CFG_INT, OFF(routing_timeout_ms), "250", 1, 60000, "deadline of a routing call" },
	{ "ORCH_ROUTING_MAX_INFLIGHT", CFG_INT, OFF(routing_max_inflight), "64", 1, 10000, "most routing calls in flight per process (an adaptive limit moves below it)" },
	{ "ORCH_STUCK_AFTER", CFG_DURATION, OFF(stuck_after_ms), "60s", 1000, 7 * MS_DAY, "reconciliation threshold" },
	{ "ORCH_NATS_DUPLICATE_WINDOW", CFG_DURATION, OFF(nats_duplicate_window_ms), "2m", 1000, 7 * MS_DAY, "JetStream duplicate window" },
	{ "ORCH_NATS_PROVISION", CFG_BOOL, OFF(nats_provision), "true", 0, 0, "create streams and consumer when absent" },
	{ "ORCH_NATS_MAX_AGE", CFG_DURATION, OFF(nats_max_age_ms), "7d", 60000, 3650 * MS_DAY, "retention of event, operator, dead-letter streams" },
	{ "ORCH_OUTBOX_RETENTION", CFG_DURATION, OFF(outbox_retention_ms), "1h", 0, 30 * MS_DAY, "keep published outbox rows this long, then purge them" },
	{ "ORCH_MESSAGE_RETENTION", CFG_DURATION, OFF(message_retention_ms), "0s", 0, 3650 * MS_DAY, "drop a day of messages and their history this long after it ended, once none is open (0s: keep them)" },
	{ "ORCH_RELAY_BATCH", CFG_INT, OFF(relay_batch), "500", 1, 10000, "outbox rows the relay publishes per transaction" },
	{ "ORCH_ROLES", CFG_ROLES, OFF(roles), "http,relay,pipeline,scheduler,reconciler", 0, 0, "what serve runs (comma-separated)" },
	{ "ORCH_LOG_LEVEL", CFG_LOG_LEVEL, OFF(log_level), "info", 0, 0, "debug, info, warn or error" },
	{ "ORCH_HTTP_THREADS", CFG_INT, OFF(http_threads), "4", 1, 256, "HTTP worker threads" },
	{ "ORCH_HTTP_MAX_CONNECTIONS", CFG_INT, OFF(http_max_connections), "10000", 16, 1000000, "most open HTTP connections; at the limit idle keep-alive ones are closed first" },
	{ "ORCH_DB_TIMEOUT", CFG_DURATION, OFF(db_timeout_ms), "3s", 100, 600000, "longest a request waits on PostgreSQL before it is answered 503" },
	{ "ORCH_HTTP_IDLE_TIMEOUT", CFG_DURATION, OFF(http_idle_timeout_ms), "30s", 1000, 3600000, "close a connection idle (or sending too slowly) this long" },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

int config_parse_duration_ms(const char *s, int64_t *out)
{
	static const struct { const char *unit; int64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", MS_DAY },
	};
	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || v < 0)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			if (v > INT64_MAX / units[i].ms)
				return -1;
			*out = v * units[i].ms;
			return 0;
		}
	}
	return -1;
}

int config_parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "on")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no") || !strcmp(s, "off")) {
		*out = false;
		return 0;
	}
	return -1;
}

static int parse_int(const char *s, int64_t *out)
{
	if (!*s)
		return -1;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

/* "1s,2s,4s": every entry a duration in bounds, none empty. */
static int parse_duration_list(const char *s, struct config *cfg, const struct cfg_key *k)
{
	int n = 0;
	for (const char *p = s;; p++) {
		size_t len = strcspn(p, ",");
		char item[32];
		int64_t ms;
		if (len == 0 || len >= sizeof(item) || n == CONFIG_MAX_BACKOFF)
			return -1;
		memcpy(item, p, len);
		item[len] = '\0';
		if (config_parse_duration_ms(item, &ms) || ms < k->min || ms > k->max)
			return -1;
		cfg->retry_backoff_ms[n++] = ms;
		cfg->retry_backoff_len = n;
		p += len;
		if (*p == '\0')
			return 0;
	}
}

static const char *const role_names[] = { "http", "relay", "pipeline", "scheduler", "reconciler" };

/* "http,relay": a bit per known role; -1 on an unknown or empty one. */
static int parse_roles(const char *s, int64_t *out)
{
	int64_t mask = 0;
	for (const char *p = s;; p++) {
		size_t len = strcspn(p, ",");
		int found = -1;
		for (int i = 0; i < 5; i++) {
			if (strlen(role_names[i]) == len && strncmp(p, role_names[i], len) == 0)
				found = i;
		}
		if (found < 0)
			return -1;
		mask |= 1 << found;
		p += len;
		if (!*p)
			break;
	}
	*out = mask;
	return 0;
}

/* Parses value into its field; writes why it failed into err. */
static int set_value(struct config *cfg, const struct cfg_key *k, const char *value, char *err, size_t errlen)
{
	char *field = (char *)cfg + k->offset;
	int64_t v;
	switch (k->type) {
	case CFG_STRING:
	case CFG_URL:
	case CFG_SECRET:
		if (!*value && k->type != CFG_SECRET) {
			snprintf(err, errlen, "%s: must not be empty", k->name);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = *value ? xstrdup(value) : NULL;
		return 0;
	case CFG_BOOL:
		if (config_parse_bool(value, (bool *)field) == 0)
			return 0;
		snprintf(err, errlen, "%s: \"%s\" is not a boolean (true or false)", k->name, value);
		return -1;
	case CFG_INT:
		if (parse_int(value, &v) == 0 && v >= k->min && v <= k->max) {
			*(int64_t *)field = v;
			return 0;
		}
		snprintf(err, errlen, "%s: \"%s\" is not an integer in %lld..%lld", k->name, value,
			 (long long)k->min, (long long)k->max);
		return -1;
	case CFG_DURATION:
		if (config_parse_duration_ms(value, &v) == 0 && v >= k->min && v <= k->max) {
			*(int64_t *)field = v;
			return 0;
		}
		snprintf(err, errlen, "%s: \"%s\" is not a duration in %lldms..%lldms (e.g. 250ms, 60s, 2m, 48h, 7d)",
			 k->name, value, (long long)k->min, (long long)k->max);
		return -1;
	case CFG_DURATION_LIST:
		if (parse_duration_list(value, cfg, k) == 0 && cfg->retry_backoff_len > 0)
			return 0;
		snprintf(err, errlen, "%s: \"%s\" is not a list of 1 to %d durations (e.g. 1s,2s,4s)", k->name, value,
			 CONFIG_MAX_BACKOFF);
		return -1;
	case CFG_ROLES:
		if (parse_roles(value, (int64_t *)field) == 0)
			return 0;
		snprintf(err, errlen, "%s: \"%s\" is not a comma-separated list of http, relay, pipeline, scheduler, reconciler",
			 k->name, value);
		return -1;
	case CFG_LOG_LEVEL:
		if (log_parse_level(value, (enum log_level *)field) == 0)
			return 0;
		snprintf(err, errlen, "%s: \"%s\" is not one of debug, info, warn, error", k->name, value);
		return -1;
	}
	return -1;
}

/* "ORCH_DATABASE_URL" -> "database-url" into out. */
static void flag_name(const char *var, char *out, size_t len)
{
	size_t i = 0;
	for (const char *p = var + 5; *p && i + 1 < len; p++)
		out[i++] = *p == '_' ? '-' : (char)tolower((unsigned char)*p);
	out[i] = '\0';
}

static const struct cfg_key *find_flag(const char *arg, const char **value)
{
	if (strncmp(arg, "--", 2) != 0)
		return NULL;
	for (size_t i = 0; i < NKEYS; i++) {
		char name[64];
		flag_name(keys[i].name, name, sizeof(name));
		size_t n = strlen(name);
		if (strncmp(arg + 2, name, n) == 0 && (arg[2 + n] == '\0' || arg[2 + n] == '=')) {
			*value = arg[2 + n] == '=' ? arg + 3 + n : NULL;
			return &keys[i];
		}
	}
	return NULL;
}

static int load_flags(struct config *cfg, int *argc, char **argv, char *err, size_t errlen)
{
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		const char *value;
		const struct cfg_key *k = find_flag(argv[i], &value);
		if (!k) {
			argv[out++] = argv[i];
			continue;
		}
		if (!value) {
			if (i + 1 >= *argc) {
				snprintf(err, errlen, "%s needs a value (flag for %s)", argv[i], k->name);
				return -1;
			}
			value = argv[++i];
		}
		if (set_value(cfg, k, value, err, errlen))
			return -1;
	}
	*argc = out;
	argv[out] = NULL;
	return 0;
}

int config_load(struct config *cfg, int *argc, char **argv, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].def && set_value(cfg, &keys[i], keys[i].def, err, errlen))
			return -1;
	}
	for (size_t i = 0; i < NKEYS; i++) {
		const char *env = getenv(keys[i].name);
		if (env && set_value(cfg, &keys[i], env, err, errlen))
			return -1;
	}
	return load_flags(cfg, argc, argv, err, errlen);
}

void config_release(struct config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++) {
		enum cfg_type t = keys[i].type;
		if (t == CFG_STRING || t == CFG_URL || t == CFG_SECRET) {
			char **field = (char **)((char *)cfg + keys[i].offset);
			free(*field);
			*field = NULL;
		}
	}
}

/* Masks a password in URL form (scheme://user:pw@host) and in libpq keyword form (password=pw). */
void config_redact_url(const char *url, struct buf *out)
{
	const char *scheme = strstr(url, "://");
	const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
	const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
	if (colon) {
		buf_add(out, url, (size_t)(colon - url + 1));
		buf_adds(out, "***");
		url = at;
	}
	const char *pw = strstr(url, "password=");
	if (!pw) {
		buf_adds(out, url);
		return;
	}
	buf_add(out, url, (size_t)(pw - url) + 9);
	buf_adds(out, "***");
	const char *end = pw + 9 + strcspn(pw + 9, " &");
	buf_adds(out, end);
}

static void format_value(const struct config *cfg, const struct cfg_key *k, struct buf *out)
{
	const char *field = (const char *)cfg + k->offset;
	switch (k->type) {
	case CFG_SECRET:
		buf_adds(out, *(char *const *)field ? "(set)" : "(unset)");
		break;
	case CFG_URL:
		config_redact_url(*(char *const *)field, out);
		break;
	case CFG_STRING:
		buf_adds(out, *(char *const *)field);
		break;
	case CFG_BOOL:
		buf_adds(out, *(const bool *)field ? "true" : "false");
		break;
	case CFG_INT:
		buf_addf(out, "%lld", (long long)*(const int64_t *)field);
		break;
	case CFG_DURATION:
		buf_addf(out, "%lldms", (long long)*(const int64_t *)field);
		break;
	case CFG_DURATION_LIST:
		for (int i = 0; i < cfg->retry_backoff_len; i++)
			buf_addf(out, "%s%lldms", i ? "," : "", (long long)cfg->retry_backoff_ms[i]);
		break;
	case CFG_LOG_LEVEL:
		buf_adds(out, log_level_name(cfg->log_level));
		break;
	case CFG_ROLES:
		for (int i = 0; i < 5; i++) {
			if (cfg->roles & (1 << i))
				buf_addf(out, "%s%s", out->len ? "," : "", role_names[i]);
		}
		break;
	}
}

void config_log(const struct config *cfg)
{
	for (size_t i = 0; i < NKEYS; i++) {
		struct buf v;
		buf_init(&v);
		format_value(cfg, &keys[i], &v);
		log_debug("setting", "name", keys[i].name, "value", v.data);
		buf_release(&v);
	}
}

void config_print_help(void)
{
	printf("\nConfiguration (environment variable, or the flag of the same name):\n");
	for (size_t i = 0; i < NKEYS; i++) {
		char flag[64];
		flag_name(keys[i].name, flag, sizeof(flag));
		printf("  %-28s --%-24s %s (default: %s)\n", keys[i].name, flag, keys[i].help,
		       keys[i].def ? keys[i].def : "unset");
	}
}
