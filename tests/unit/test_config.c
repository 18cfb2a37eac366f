/* Unit tests: the configuration table, its parsers, URL redaction, the buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "lib/buf.h"

static void test_durations(void **state)
{
	(void)state;
	static const struct { const char *in; int rc; int64_t ms; } cases[] = {
		{ "250ms", 0, 250 }, { "60s", 0, 60000 }, { "2m", 0, 120000 }, { "48h", 0, 172800000 },
		{ "7d", 0, 604800000 }, { "0s", 0, 0 }, { "", -1, 0 }, { "10", -1, 0 }, { "s", -1, 0 },
		{ "-1s", -1, 0 }, { "1.5s", -1, 0 }, { "1sec", -1, 0 }, { " 1s", -1, 0 }, { "1s ", -1, 0 },
		{ "99999999999999999999d", -1, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = -1;
		int rc = config_parse_duration_ms(cases[i].in, &ms);
		assert_int_equal(rc, cases[i].rc);
		if (rc == 0)
			assert_int_equal(ms, cases[i].ms);
	}
}

static void test_bools(void **state)
{
	(void)state;
	bool b;
	assert_int_equal(config_parse_bool("true", &b), 0);
	assert_true(b);
	assert_int_equal(config_parse_bool("off", &b), 0);
	assert_false(b);
	assert_int_equal(config_parse_bool("maybe", &b), -1);
	assert_int_equal(config_parse_bool("", &b), -1);
}

static int load(struct config *cfg, char *err, size_t errlen, int argc, char **argv)
{
	return config_load(cfg, &argc, argv, err, errlen);
}

static void test_defaults(void **state)
{
	(void)state;
	struct config cfg;
	char err[256] = "";
	char *argv[] = { "serve", NULL };
	assert_int_equal(load(&cfg, err, sizeof(err), 1, argv), 0);
	assert_string_equal(cfg.redis_url, "redis://127.0.0.1:6379/0");
	assert_int_equal(cfg.idempotency_ttl_ms, 48LL * 3600 * 1000);
	assert_int_equal(cfg.retry_backoff_len, 3);
	assert_int_equal(cfg.retry_backoff_ms[2], 4000);
	assert_int_equal(cfg.bulk_max, 1000);
	assert_int_equal(cfg.routing_timeout_ms, 250);
	assert_true(cfg.nats_provision);
	assert_null(cfg.upstream_token);
	config_release(&cfg);
}

static void test_env_and_flags(void **state)
{
	(void)state;
	struct config cfg;
	char err[256] = "";
	setenv("ORCH_BULK_MAX", "50", 1);
	setenv("ORCH_RETRY_BACKOFF", "100ms,1s", 1);
	char *argv[] = { "serve", "--bulk-max=70", "--dry-run", "--max-segments", "5", NULL };
	int argc = 5;
	assert_int_equal(config_load(&cfg, &argc, argv, err, sizeof(err)), 0);
	assert_int_equal(cfg.bulk_max, 70); /* the flag wins over the environment */
	assert_int_equal(cfg.max_segments, 5);
	assert_int_equal(cfg.retry_backoff_len, 2);
	assert_int_equal(cfg.retry_backoff_ms[0], 100);
	assert_int_equal(argc, 2); /* the subcommand's own flag is left */
	assert_string_equal(argv[1], "--dry-run");
	config_release(&cfg);
	unsetenv("ORCH_BULK_MAX");
	unsetenv("ORCH_RETRY_BACKOFF");
}

/* A bad value fails and the message names the variable. */
static void test_bad_values(void **state)
{
	(void)state;
	static const struct { const char *var, *value; } cases[] = {
		{ "ORCH_BULK_MAX", "abc" },          { "ORCH_BULK_MAX", "0" },
		{ "ORCH_MAX_SEGMENTS", "1000" },     { "ORCH_IDEMPOTENCY_TTL", "48" },
		{ "ORCH_RETRY_BACKOFF", "1s,,2s" },  { "ORCH_RETRY_BACKOFF", "" },
		{ "ORCH_NATS_PROVISION", "maybe" },  { "ORCH_LOG_LEVEL", "loud" },
		{ "ORCH_ROUTING_TIMEOUT_MS", "1e3" }, { "ORCH_DATABASE_URL", "" },
		{ "ORCH_STUCK_AFTER", "10ms" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		char err[256] = "";
		char *argv[] = { "serve", NULL };
		setenv(cases[i].var, cases[i].value, 1);
		assert_int_equal(load(&cfg, err, sizeof(err), 1, argv), -1);
		assert_non_null(strstr(err, cases[i].var));
		config_release(&cfg);
		unsetenv(cases[i].var);
	}
}

static void test_flag_without_value(void **state)
{
	(void)state;
	struct config cfg;
	char err[256] = "";
	char *argv[] = { "serve", "--bulk-max", NULL };
	assert_int_equal(load(&cfg, err, sizeof(err), 2, argv), -1);
	assert_non_null(strstr(err, "ORCH_BULK_MAX"));
	config_release(&cfg);
}

static void test_redact(void **state)
{
	(void)state;
	static const struct { const char *in, *out; } cases[] = {
		{ "postgresql://app:s3cret@db:5432/orch", "postgresql://app:***@db:5432/orch" },
		{ "redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0" },
		{ "host=db user=app password=s3cret dbname=orch", "host=db user=app password=*** dbname=orch" },
		{ "postgresql://db/orch?user=a&password=s3cret&sslmode=require", "postgresql://db/orch?user=a&password=***&sslmode=require" },
		{ "nats://127.0.0.1:4222", "nats://127.0.0.1:4222" },
		{ "postgresql://app@db/orch", "postgresql://app@db/orch" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;
		buf_init(&b);
		config_redact_url(cases[i].in, &b);
		assert_string_equal(b.data, cases[i].out);
		assert_null(strstr(b.data, "s3cret"));
		buf_release(&b);
	}
}

static void test_buf(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	for (int i = 0; i < 1000; i++)
		buf_addf(&b, "%d,", i);
	assert_int_equal(b.len, strlen(b.data));
	buf_reset(&b);
	buf_add_json_str(&b, "a\"b\\c\n\x01", 7);
	assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
	size_t len;
	char *p = buf_detach(&b, &len);
	assert_int_equal(len, strlen(p));
	assert_string_equal(b.data, "");
	free(p);
	buf_release(&b);
}

extern char **environ;

/* The defaults are under test: start from an environment without ORCH_* settings. */
static void clear_orch_env(void)
{
	for (;;) {
		char **e = environ;
		while (*e && strncmp(*e, "ORCH_", 5) != 0)
			e++;
		if (!*e)
			return;
		char name[128];
		size_t n = strcspn(*e, "=");
		snprintf(name, sizeof(name), "%.*s", (int)n, *e);
		unsetenv(name);
	}
}

int main(void)
{
	clear_orch_env();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations), cmocka_unit_test(test_bools), cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_env_and_flags), cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_flag_without_value), cmocka_unit_test(test_redact), cmocka_unit_test(test_buf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
