/*
 * Fuzz target: http_route_find (http.c), the path router (input: "METHOD
 * PATH", split at the first space; each ends at a NUL byte, as the C
 * strings from libmicrohttpd do). Run over the API's routes (api_routes)
 * and over a table made to overlap (pattern routes beside exact routes of
 * the same prefix, and patterns that overlap each other). Differential: the
 * contract of http.h written plainly (exact paths first, then the first
 * pattern route whose "*" segments each take one non-empty segment, the
 * paths compared split into segments; 405 when the path is known but not
 * for this method). Properties: a
 * route returned really matches the path, and method_allowed only when its
 * method is the one asked.
 */
#include <string.h>

#include "api.h"
#include "http.h"
#include "util.h"
#include "lib/banned.h"

static const struct http_route overlap[] = {
	{ "GET /a/{x}", "GET", "/a/*", true, 0, NULL },
	{ "POST /a/b", "POST", "/a/b", false, 0, NULL },
	{ "PUT /a/{x}", "PUT", "/a/*", true, 0, NULL },
	{ "GET /a/b/{x}", "GET", "/a/b/*", true, 0, NULL },
	{ "POST /a/{x}/c", "POST", "/a/*/c", true, 0, NULL },
	{ "GET /a/{x}/{y}", "GET", "/a/*/*", true, 0, NULL },
	{ "GET /a", "GET", "/a", false, 0, NULL },
	{ "GET /", "GET", "/", false, 0, NULL },
	{ "DELETE /{x}", "DELETE", "/*", true, 0, NULL },
	{ 0 },
};

#define MAX_SEGS 64

/* Splits s at every '/' into at most MAX_SEGS pieces (pointers and lengths into s); -1 when more. */
static int split(const char *s, const char *seg[MAX_SEGS], size_t len[MAX_SEGS])
{
	int n = 0;
	for (const char *p = s;; p++) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);
		if (n == MAX_SEGS)
			return -1;
		seg[n] = p;
		len[n++] = l;
		if (!e)
			return n;
		p = e;
	}
}

static bool matches(const struct http_route *r, const char *path)
{
	if (!r->pattern)
		return !strcmp(path, r->path);
	const char *ts[MAX_SEGS], *ps[MAX_SEGS];
	size_t tl[MAX_SEGS], pl[MAX_SEGS];
	int nt = split(r->path, ts, tl), np = split(path, ps, pl);
	if (nt < 0 || np < 0 || nt != np)
		return false;
	for (int i = 0; i < nt; i++) {
		bool star = tl[i] == 1 && ts[i][0] == '*';
		if (star ? pl[i] == 0 : (tl[i] != pl[i] || memcmp(ts[i], ps[i], tl[i]) != 0))
			return false;
	}
	return true;
}

static const struct http_route *ref_find(const struct http_route *routes, const char *method, const char *path,
					 bool *allowed)
{
	*allowed = false;
	for (int prefix = 0; prefix <= 1; prefix++) {
		const struct http_route *known = NULL;
		for (const struct http_route *r = routes; r->method; r++) {
			if (r->pattern != (prefix == 1) || !matches(r, path))
				continue;
			if (!strcmp(r->method, method)) {
				*allowed = true;
				return r;
			}
			if (!known)
				known = r;
		}
		if (known)
			return known;
	}
	return NULL;
}

static void check(const struct http_route *routes, const char *method, const char *path)
{
	bool allowed = true, want_allowed;
	const struct http_route *r = http_route_find(routes, method, path, &allowed);
	const struct http_route *want = ref_find(routes, method, path, &want_allowed);
	FUZZ_CHECK(r == want && allowed == want_allowed, "%s %s: got %s (%d), want %s (%d)", method, path,
		   r ? r->label : "404", allowed, want ? want->label : "404", want_allowed);
	if (r) {
		FUZZ_CHECK(matches(r, path), "%s does not match %s", r->label, path);
		FUZZ_CHECK(!allowed || !strcmp(r->method, method), "%s allowed for %s", r->label, method);
	} else {
		FUZZ_CHECK(!allowed, "404 but method_allowed");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *method = fuzz_cstr(data, size);
	char *sp = strchr(method, ' ');
	const char *path = "";
	if (sp) {
		*sp = '\0';
		path = sp + 1;
	}
	check(api_routes(), method, path);
	check(overlap, method, path);
	free(method);
	return 0;
}
