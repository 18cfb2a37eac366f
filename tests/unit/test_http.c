/*
 * Unit tests: the path router of the HTTP API (http_route_find over
 * api_routes) and the check of a client's request id (http_request_id_valid).
 */
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
		{ "POST", "/v1/sms/preview", "POST /v1/sms/preview", true },
		{ "GET", "/v1/sms/preview", "POST /v1/sms/preview", false }, /* 405, not a message id */
		{ "POST", "/v1/sms/preview/x", NULL, false },
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
		{ "POST", "/v1/sms/5b7c9a4e-1d2f-4b8a-9c3e-7f6a5d4c3b2a/cancel", "POST /v1/sms/{id}/cancel", true },
		{ "GET", "/v1/sms/5b7c9a4e-1d2f-4b8a-9c3e-7f6a5d4c3b2a/cancel", "POST /v1/sms/{id}/cancel", false },
		{ "POST", "/v1/sms/5b7c9a4e-1d2f-4b8a-9c3e-7f6a5d4c3b2a/cancel/x", NULL, false },
		{ "POST", "/v1/sms//cancel", NULL, false },
		{ "GET", "/v1/sms/bulk/5b7c9a4e-1d2f-4b8a-9c3e-7f6a5d4c3b2a", "GET /v1/sms/bulk/{bulkId}", true },
		{ "POST", "/v1/sms/bulk/5b7c9a4e-1d2f-4b8a-9c3e-7f6a5d4c3b2a", "GET /v1/sms/bulk/{bulkId}", false },
		{ "POST", "/v1/sms/bulk/5b7c9a4e-1d2f-4b8a-9c3e-7f6a5d4c3b2a/cancel", "POST /v1/sms/bulk/{bulkId}/cancel", true },
		{ "GET", "/v1/sms/bulk/5b7c9a4e-1d2f-4b8a-9c3e-7f6a5d4c3b2a/cancel", "POST /v1/sms/bulk/{bulkId}/cancel", false },
		{ "GET", "/v1/sms/bulk/", NULL, false },
		{ "GET", "/v1/sms/bulk", "POST /v1/sms/bulk", false }, /* 405, not a message id */
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

/* X-Request-ID is kept when it is 1-79 visible ASCII characters. */
static void test_request_id(void **state)
{
	(void)state;
	static const struct {
		const char *id;
		size_t len; /* 0: strlen(id) */
		bool valid;
	} cases[] = {
		{ "5b7c9a4e-1d2f-4b8a-9c3e-7f6a5d4c3b2a", 0, true },
		{ "kong#1@host", 0, true },
		{ "x", 0, true },
		{ "", 0, false },
		{ "two words", 0, false },
		{ "line\nbreak", 0, false },
		{ "\x7f", 0, false },
		{ "caf\xC3\xA9", 0, false },
		{ "nul\0inside", 11, false },
	};
	char id[HTTP_REQUEST_ID_MAX + 2];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].id);
		if (http_request_id_valid(cases[i].id, len) != cases[i].valid)
			fail_msg("id %zu (\"%s\"): want %s", i, cases[i].id, cases[i].valid ? "valid" : "invalid");
	}
	memset(id, 'r', sizeof(id));
	assert_true(http_request_id_valid(id, HTTP_REQUEST_ID_MAX));
	assert_false(http_request_id_valid(id, HTTP_REQUEST_ID_MAX + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_request_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
