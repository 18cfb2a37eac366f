/*
 * test_lib.c: unit tests for the generic helpers in src/lib/: SHA-256
 * (sha256.c, by libcrypto), UUIDv7 and UUID text checks (uuid.c),
 * constant-time secret comparison (ctcompare.c).
 *
 * SHA-256 digests are the NIST examples plus messages around the padding
 * boundaries (55, 56, 63, 64, 65 bytes), whose digests came from sha256sum.
 * CMOCKA_MESSAGE_OUTPUT=TAP makes the output TAP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include "lib/ctcompare.h"
#include "lib/sha256.h"
#include "lib/timeutil.h"
#include "lib/uuid.h"
#include "lib/banned.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- SHA-256 ---- */

struct sha_case {
	const char *msg;
	const char *hex;
};

static const struct sha_case sha_cases[] = {
	{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
};

/* Message i of length n is 'a' + i % 26: "abc...zabc...". */
struct sha_len_case {
	size_t len;
	const char *hex;
};

static const struct sha_len_case sha_len_cases[] = {
	{ 55, "595615dbe4f0f407ae397d08b4c2cb870cb9b0e11937416f950c5160acf9c005" },
	{ 56, "784f623b787495078e93ff28a25b581df0584055a7e71d8cd90c454716b92f51" },
	{ 63, "5ca3e1ef5207490eac01a795e5cc94d59582a5118bf9534665c8668d87aa647c" },
	{ 64, "2fcd5a0d60e4c941381fcc4e00a4bf8be422c3ddfafb93c809e8d1e2bfffae8e" },
	{ 65, "1b3cd1877ab2f2f19f7be001722554f336cb799df0329de0bb4c118dc6abc06d" },
};

static void to_hex(const unsigned char d[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 0xf];
	}
	out[64] = '\0';
}

/* The digest of msg[0..n) fed one byte at a time. */
static void sha_bytewise(const char *msg, size_t n, char out[65])
{
	struct sha256 s;
	unsigned char d[32];

	sha256_init(&s);
	for (size_t i = 0; i < n; i++)
		sha256_update(&s, msg + i, 1);
	sha256_final(&s, d);
	to_hex(d, out);
}

static void test_sha256_nist(void **state)
{
	(void)state;
	char hex[65];

	for (size_t i = 0; i < ARRAY_SIZE(sha_cases); i++) {
		const struct sha_case *c = &sha_cases[i];
		sha256_hex(c->msg, strlen(c->msg), hex);
		assert_string_equal(hex, c->hex);
		sha_bytewise(c->msg, strlen(c->msg), hex);
		assert_string_equal(hex, c->hex);
	}
}

static void test_sha256_boundaries(void **state)
{
	(void)state;
	char msg[80];
	char hex[65];

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (char)('a' + i % 26);
	for (size_t i = 0; i < ARRAY_SIZE(sha_len_cases); i++) {
		const struct sha_len_case *c = &sha_len_cases[i];
		/* exact-size heap copy so ASan catches reads past the end */
		char *p = malloc(c->len);
		assert_non_null(p);
		memcpy(p, msg, c->len);
		sha256_hex(p, c->len, hex);
		assert_string_equal(hex, c->hex);
		sha_bytewise(p, c->len, hex);
		assert_string_equal(hex, c->hex);
		free(p);
	}
}

static void test_sha256_million_a(void **state)
{
	(void)state;
	static const size_t chunks[] = { 1, 7, 63, 64, 65, 127, 1000, 3, 4096, 55 };
	size_t total = 1000000;
	char *a = malloc(total);
	struct sha256 s;
	unsigned char d[32];
	char hex[65];

	assert_non_null(a);
	memset(a, 'a', total);
	sha256_init(&s);
	for (size_t off = 0, k = 0; off < total; k++) {
		size_t n = chunks[k % ARRAY_SIZE(chunks)];
		if (n > total - off)
			n = total - off;
		sha256_update(&s, a + off, n);
		off += n;
	}
	sha256_update(&s, NULL, 0);
	sha256_final(&s, d);
	to_hex(d, hex);
	assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(a);
}

/* ---- UUID ---- */

static uint64_t wall_ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned hexval(char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

static void test_uuid7_format(void **state)
{
	(void)state;
	char u[UUID_STR_LEN];

	for (int n = 0; n < 100; n++) {
		uuid7_str(u);
		assert_int_equal(strlen(u), 36);
		for (int i = 0; i < 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23)
				assert_int_equal(u[i], '-');
			else
				assert_non_null(strchr("0123456789abcdef", u[i]));
		}
		assert_int_equal(u[14], '7');                  /* version */
		assert_non_null(strchr("89ab", u[19]));        /* variant 10 */
		assert_true(uuid_parse_ok(u));
	}
}

static void test_uuid7_timestamp(void **state)
{
	(void)state;
	char u[UUID_STR_LEN];
	uint64_t ms = 0;

	uint64_t before = wall_ms_now();
	uuid7_str(u);
	uint64_t after = wall_ms_now();
	for (int i = 0; i < 13; i++) {
		if (i == 8)
			continue;
		ms = ms << 4 | hexval(u[i]);
	}
	assert_true(ms + 1000 >= before);
	assert_true(ms <= after + 1000);
}

static void test_uuid7_monotonic(void **state)
{
	(void)state;
	char prev[UUID_STR_LEN], cur[UUID_STR_LEN];

	uuid7_str(prev);
	for (int i = 0; i < 10000; i++) {
		uuid7_str(cur);
		if (strcmp(prev, cur) >= 0)
			fail_msg("id %d not increasing: %s then %s", i, prev, cur);
		memcpy(prev, cur, sizeof(cur));
	}
}

#define THREADS 4
#define PER_THREAD 2000

static void *gen_ids(void *arg)
{
	char (*ids)[UUID_STR_LEN] = arg;
	for (int i = 0; i < PER_THREAD; i++)
		uuid7_str(ids[i]);
	return NULL;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Ids from several threads are all distinct, and each thread's are increasing. */
static void test_uuid7_threads(void **state)
{
	(void)state;
	char (*ids)[UUID_STR_LEN] = calloc(THREADS * PER_THREAD, UUID_STR_LEN);
	pthread_t t[THREADS];

	assert_non_null(ids);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, gen_ids, ids + i * PER_THREAD), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < THREADS; i++)
		for (int j = 1; j < PER_THREAD; j++)
			assert_true(strcmp(ids[i * PER_THREAD + j - 1], ids[i * PER_THREAD + j]) < 0);
	qsort(ids, THREADS * PER_THREAD, UUID_STR_LEN, cmp_id);
	for (int i = 1; i < THREADS * PER_THREAD; i++)
		assert_true(strcmp(ids[i - 1], ids[i]) < 0);
	free(ids);
}

struct parse_case {
	const char *in;
	bool want;
};

static const struct parse_case parse_cases[] = {
	{ "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b", true },
	{ "0190A5B2-7C3D-7E4F-8A1B-2C3D4E5F6A7B", true },  /* upper case */
	{ "0190a5B2-7c3D-7e4f-8A1b-2c3d4E5f6a7b", true },  /* mixed */
	{ "00000000-0000-0000-0000-000000000000", true },  /* nil: any version */
	{ "", false },
	{ "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7", false },  /* 35 chars */
	{ "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b0", false }, /* 37 chars */
	{ "0190a5b27c3d7e4f8a1b2c3d4e5f6a7b", false },     /* no dashes */
	{ "0190a5b2-7c3d-7e4f-8a1b2c3d4e5f6a7b0", false },  /* dash missing at 23 */
	{ "0190a5b2-7c3d7-e4f-8a1b-2c3d4e5f6a7b", false },  /* dash moved */
	{ "0190a5g2-7c3d-7e4f-8a1b-2c3d4e5f6a7b", false },  /* 'g' */
	{ "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7 ", false },  /* space */
	{ "{0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b}", false }, /* braces */
	{ NULL, false },
};

static void test_uuid_parse_ok(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		if (uuid_parse_ok(c->in) != c->want)
			fail_msg("uuid_parse_ok(\"%s\") != %d", c->in ? c->in : "(null)", c->want);
	}
}

/* ---- ct_streq ---- */

struct ct_case {
	const char *a, *b;
	bool want;
};

static const struct ct_case ct_cases[] = {
	{ "", "", true },
	{ "secret", "secret", true },
	{ "", "secret", false },
	{ "secret", "", false },
	{ "secre", "secret", false },    /* a is a prefix of b */
	{ "secret!", "secret", false },  /* b is a prefix of a */
	{ "Secret", "secret", false },   /* first byte */
	{ "secreT", "secret", false },   /* last byte */
	{ "sec\x80" "et", "secret", false },
	{ "k3y-0123456789abcdef", "k3y-0123456789abcdef", true },
};

/* RFC 3339 date-times with an offset (sendAt), against values computed by hand. */
static void test_rfc3339_parse(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int rc;
		int64_t ms;
	} cases[] = {
		{ "1970-01-01T00:00:00Z", 0, 0 },
		{ "2026-11-24T10:00:00Z", 0, 1795514400000LL },
		{ "2026-11-24T10:00:00.123Z", 0, 1795514400123LL },
		{ "2026-11-24T10:00:00.1239999Z", 0, 1795514400123LL },
		{ "2026-11-24T12:00:00+02:00", 0, 1795514400000LL },
		{ "2026-11-24T04:30:00-05:30", 0, 1795514400000LL },
		{ "2026-11-24t10:00:00z", 0, 1795514400000LL },
		{ "2026-11-24 10:00:00Z", 0, 1795514400000LL },
		{ "2024-02-29T00:00:00Z", 0, 1709164800000LL },
		{ "2000-02-29T00:00:00Z", 0, 951782400000LL },
		{ "2100-02-29T00:00:00Z", -1, 0 },
		{ "2026-02-29T00:00:00Z", -1, 0 },
		{ "2026-04-31T00:00:00Z", -1, 0 },
		{ "2026-13-01T00:00:00Z", -1, 0 },
		{ "2026-00-01T00:00:00Z", -1, 0 },
		{ "2026-11-24T10:00:60Z", -1, 0 },
		{ "2026-11-24T10:60:00Z", -1, 0 },
		{ "2026-11-24T10:00:00", -1, 0 },
		{ "2026-11-24T10:00:00.Z", -1, 0 },
		{ "2026-11-24T10:00:00+2:00", -1, 0 },
		{ "2026-11-24T10:00:00+24:00", -1, 0 },
		{ "2026-11-24T10:00:00+02:00 ", -1, 0 },
		{ "2026-11-24X10:00:00Z", -1, 0 },
		{ "+026-11-24T10:00:00Z", -1, 0 },
		{ "", -1, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = -1;
		int rc = rfc3339_parse_ms(cases[i].s, strlen(cases[i].s), &ms);
		if (rc != cases[i].rc)
			fail_msg("%s: rc %d, want %d", cases[i].s, rc, cases[i].rc);
		if (rc == 0 && ms != cases[i].ms)
			fail_msg("%s: %lld, want %lld", cases[i].s, (long long)ms, (long long)cases[i].ms);
	}
	/* The round trip with the writer of the API's times. */
	char out[32];
	rfc3339_ms(1795514400123LL, out, sizeof(out));
	int64_t back = 0;
	assert_int_equal(rfc3339_parse_ms(out, strlen(out), &back), 0);
	assert_int_equal(back, 1795514400123LL);
}

static void test_ct_streq(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ct_cases); i++) {
		const struct ct_case *c = &ct_cases[i];
		/* exact-size heap copies so ASan catches reads past either NUL */
		char *a = strdup(c->a), *b = strdup(c->b);
		assert_non_null(a);
		assert_non_null(b);
		if (ct_streq(a, b) != c->want)
			fail_msg("ct_streq(\"%s\", \"%s\") != %d", c->a, c->b, c->want);
		free(a);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_nist),
		cmocka_unit_test(test_sha256_boundaries),
		cmocka_unit_test(test_sha256_million_a),
		cmocka_unit_test(test_uuid7_format),
		cmocka_unit_test(test_uuid7_timestamp),
		cmocka_unit_test(test_uuid7_monotonic),
		cmocka_unit_test(test_uuid7_threads),
		cmocka_unit_test(test_uuid_parse_ok),
		cmocka_unit_test(test_ct_streq),
		cmocka_unit_test(test_rfc3339_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
