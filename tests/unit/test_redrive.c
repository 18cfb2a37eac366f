/* Unit tests: the flags of `sms-orchestrator redrive`, parsed strictly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "redrive.h"

#define ID1 "01930f6c-8a4e-7b3c-9d2e-1f0a2b3c4d5e"
#define ID2 "01930f6c-8a4e-7b3c-9d2e-1f0a2b3c4d5f"
/* 2026-12-01T12:00:00.000Z */
#define NOW_MS 1796126400000LL

/* Parses a NULL-terminated list of arguments after "redrive". */
static int parse(struct redrive_args *a, const char *const *args, char *err, size_t errlen)
{
	char *argv[32] = { (char *)"redrive" };
	int argc = 1;
	for (; args[argc - 1]; argc++)
		argv[argc] = (char *)args[argc - 1];
	redrive_args_init(a);
	return redrive_parse_args(a, argc, argv, NOW_MS, err, errlen);
}

static void test_good(void **state)
{
	(void)state;
	struct redrive_args a;
	char err[512] = "";
	const char *const ids[] = { "--id", ID1, "--id=" ID2, "--reason", "no_route", "--dry-run", NULL };
	assert_int_equal(parse(&a, ids, err, sizeof(err)), 0);
	assert_string_equal(a.ids.data, "{\"" ID1 "\",\"" ID2 "\"}");
	assert_string_equal(a.reasons.data, "{\"no_route\"}");
	assert_int_equal(a.nids, 2);
	assert_true(a.dry_run);
	assert_int_equal(a.limit, REDRIVE_DEFAULT_LIMIT);
	redrive_args_release(&a);

	const char *const filters[] = { "--account",
					"acct-1",
					"--since",
					"2h",
					"--until=2026-12-01T13:30:00+02:00",
					"--limit",
					"50",
					"--reason",
					"retries_exhausted",
					"--reason",
					"routing_unavailable",
					NULL };
	assert_int_equal(parse(&a, filters, err, sizeof(err)), 0);
	assert_string_equal(a.account, "acct-1");
	assert_string_equal(a.since, "2026-12-01T10:00:00.000Z");
	assert_string_equal(a.until, "2026-12-01T11:30:00.000Z");
	assert_int_equal(a.limit, 50);
	assert_string_equal(a.reasons.data, "{\"retries_exhausted\",\"routing_unavailable\"}");
	assert_int_equal(a.ids.len, 0);
	assert_false(a.dry_run);
	redrive_args_release(&a);

	const char *const help[] = { "--help", NULL };
	assert_int_equal(parse(&a, help, err, sizeof(err)), 0);
	assert_true(a.help);
	redrive_args_release(&a);
}

static void test_bad(void **state)
{
	(void)state;
	static const struct {
		const char *args[8];
		const char *names; /* what the message must hold */
	} cases[] = {
		{ { NULL }, "name what to redrive" },
		{ { "--dry-run", NULL }, "name what to redrive" },
		{ { "--id", "nope", NULL }, "--id needs a message id" },
		{ { "--id", NULL }, "--id needs a message id" },
		{ { "--id=", NULL }, "--id needs a message id" },
		{ { "--reason", "No_Route", NULL }, "--reason needs an error code" },
		{ { "--reason", "", NULL }, "--reason needs an error code" },
		{ { "--account", "", NULL }, "--account needs an account id" },
		{ { "--since", "yesterday", NULL }, "--since needs an RFC 3339 time" },
		{ { "--since", "2026-12-01T10:00:00", NULL }, "--since needs" }, /* no offset */
		{ { "--until", "-2h", NULL }, "--until needs" },
		{ { "--since", "1h", "--until", "2h", NULL },
		  "--since (2026-12-01T11:00:00.000Z) is not before --until" },
		{ { "--account", "a", "--limit", "0", NULL },
		  "--limit needs a whole number from 1 to 100000, not \"0\"" },
		{ { "--account", "a", "--limit", "100001", NULL }, "--limit needs" },
		{ { "--account", "a", "--limit", "12x", NULL }, "--limit needs" },
		{ { "--account", "a", "--limit", "-5", NULL }, "--limit needs" },
		{ { "--id", ID1, "--account", "a", NULL }, "--id selects the messages itself" },
		{ { "--id", ID1, "--since", "1h", NULL }, "--id selects the messages itself" },
		{ { "--id", ID1, "--id", ID2, "--limit", "1" }, "--id given 2 times, more than --limit 1" },
		{ { "--account", "a", "--frobnicate", NULL }, "unknown argument \"--frobnicate\"" },
		{ { "--account", "a", "extra", NULL }, "unknown argument \"extra\"" },
		{ { "--dry-run=yes", "--account", "a", NULL }, "unknown argument \"--dry-run=yes\"" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct redrive_args a;
		char err[512] = "";
		int rc = parse(&a, cases[i].args, err, sizeof(err));
		if (rc != -1 || !strstr(err, cases[i].names))
			fail_msg("case %zu: rc %d, message \"%s\" does not hold \"%s\"", i, rc, err, cases[i].names);
		redrive_args_release(&a);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
