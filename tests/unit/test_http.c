/* Unit tests: the path router of the HTTP API (http_route_find over api_routes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "api.h"
#include "http.h"

static void test_routes(void **state)
{
	(void)state;
	static const struct {
		const char *method, *path, *label; /* label NULL: 404 */
		bool allowed;
	} cases[] = {
		{ "POST", "/v1/sms/send", "POST /v1/sms/send", true },
		{ "GET", "/v1/sms/send", "POST /v1/sms/send", false }, /* 405, not a message id */
		{ "POST", "/v1/sms/bulk", "POST /v1/sms/bulk", true },
		{ "GET", "/v1/sms/5b7c9a4e-1d2f-4b8a-9c3e-7f6a5d4c3b2a", "GET /v1/sms/{id}", true },
		{ "DELETE", "/v1/sms/5b7c9a4e-1d2f-4b8a-9c3e-7f6a5d4c3b2a", "GET /v1/sms/{id}", false },
		{ "GET", "/v1/sms/not-a-uuid", "GET /v1/sms/{id}", true }, /* the handler answers 400 */
		{ "GET", "/v1/sms/send/extra", NULL, false },
		{ "POST", "/v1/sms/send/x", NULL, false },
		{ "GET", "/v1/sms/5b7c9a4e-1d2f-4b8a-9c3e-7f6a5d4c3b2a/x", NULL, false },
		{ "GET", "/v1/sms/5b7c9a4e-1d2f-4b8a-9c3e-7f6a5d4c3b2a/", NULL, false },
		{ "GET", "/v1/sms/", NULL, false },
		{ "GET", "/v1/sms", NULL, false },
		{ "GET", "/v1/nope", NULL, false },
		{ "GET", "", NULL, false },
		{ "GET", "/healthz", "GET /healthz", true },
		{ "GET", "/healthz/x", NULL, false },
		{ "GET", "/readyz", "GET /readyz", true },
		{ "GET", "/metrics", "GET /metrics", true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool allowed = true;
		const struct http_route *r = http_route_find(api_routes(), cases[i].method, cases[i].path, &allowed);
		if (!cases[i].label) {
			if (r)
				fail_msg("%s %s: want no route, got %s", cases[i].method, cases[i].path, r->label);
			assert_false(allowed);
			continue;
		}
		if (!r)
			fail_msg("%s %s: want %s, got no route", cases[i].method, cases[i].path, cases[i].label);
		assert_string_equal(r->label, cases[i].label);
		assert_int_equal(allowed, cases[i].allowed);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
