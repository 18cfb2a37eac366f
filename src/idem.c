/* Redis idempotency fast path (see idem.h). */
#include "idem.h"

#include <hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/timeutil.h"
#include "lib/xmalloc.h"
#include "metrics.h"
#include "lib/banned.h"

#define CONNECT_TIMEOUT_MS 100
#define IO_TIMEOUT_MS 100
#define IN_FLIGHT_TTL_MS 30000
#define BACKOFF_MS 1000

struct conn {
	redisContext *ctx;
	int64_t down_until_ms;
	struct conn *next;
};

static struct {
	char host[256];
	int port;
	int db;
	char *password;
	int64_t ttl_ms;
	pthread_mutex_t lock; /* guards the list of connections */
	struct conn *conns;
} redis = { .lock = PTHREAD_MUTEX_INITIALIZER };

static _Thread_local struct conn *mine;

int idem_init(const char *url, int64_t ttl_ms)
{
	redis.ttl_ms = ttl_ms;
	redis.port = 6379;
	if (strncmp(url, "redis://", 8) != 0)
		return -1;
	const char *p = url + 8, *at = strchr(p, '@');
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon)
			redis.password = xstrndup(colon + 1, (size_t)(at - colon - 1));
		p = at + 1;
	}
	size_t hostlen = strcspn(p, ":/");
	if (hostlen == 0 || hostlen >= sizeof(redis.host))
		return -1;
	memcpy(redis.host, p, hostlen);
	redis.host[hostlen] = '\0';
	p += hostlen;
	char *end;
	if (*p == ':') {
		long port = strtol(p + 1, &end, 10);
		if (end == p + 1 || port <= 0 || port > 65535)
			return -1;
		redis.port = (int)port;
		p = end;
	}
	if (*p == '/' && p[1]) {
		long db = strtol(p + 1, &end, 10);
		if (*end || db < 0)
			return -1;
		redis.db = (int)db;
	}
	return 0;
}

void idem_shutdown(void)
{
	pthread_mutex_lock(&redis.lock);
	for (struct conn *c = redis.conns, *next; c; c = next) {
		next = c->next;
		if (c->ctx)
			redisFree(c->ctx);
		free(c);
	}
	redis.conns = NULL;
	pthread_mutex_unlock(&redis.lock);
	free(redis.password);
	redis.password = NULL;
}

static struct timeval tv_ms(int ms) { return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 }; }

static void drop(struct conn *c, const char *why)
{
	log_warn("Redis unavailable; idempotency falls back to PostgreSQL", "error", why);
	if (c->ctx)
		redisFree(c->ctx);
	c->ctx = NULL;
	c->down_until_ms = mono_ms() + BACKOFF_MS;
}

/* A command on this thread's connection; NULL (connection dropped) on any error. */
static redisReply *command(int argc, const char **argv, const size_t *lens)
{
	if (!mine) {
		mine = xcalloc(1, sizeof(*mine));
		pthread_mutex_lock(&redis.lock);
		mine->next = redis.conns;
		redis.conns = mine;
		pthread_mutex_unlock(&redis.lock);
	}
	struct conn *c = mine;
	if (!c->ctx) {
		if (mono_ms() < c->down_until_ms)
			return NULL;
		c->ctx = redisConnectWithTimeout(redis.host, redis.port, tv_ms(CONNECT_TIMEOUT_MS));
		if (!c->ctx || c->ctx->err || redisSetTimeout(c->ctx, tv_ms(IO_TIMEOUT_MS)) != REDIS_OK) {
			drop(c, c->ctx ? c->ctx->errstr : "cannot allocate a context");
			return NULL;
		}
		if (redis.password || redis.db) {
			char db[16];
			snprintf(db, sizeof(db), "%d", redis.db);
			redisReply *r = redis.password ? redisCommand(c->ctx, "AUTH %s", redis.password)
						       : redisCommand(c->ctx, "SELECT %s", db);
			bool ok = r && r->type != REDIS_REPLY_ERROR;
			freeReplyObject(r);
			if (ok && redis.password && redis.db) {
				r = redisCommand(c->ctx, "SELECT %s", db);
				ok = r && r->type != REDIS_REPLY_ERROR;
				freeReplyObject(r);
			}
			if (!ok) {
				drop(c, "AUTH or SELECT refused");
				return NULL;
			}
		}
	}
	redisReply *r = redisCommandArgv(c->ctx, argc, argv, lens);
	if (!r || r->type == REDIS_REPLY_ERROR) {
		drop(c, r ? r->str : c->ctx->errstr);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static void redis_key(struct buf *k, const char *account, const char *key)
{
	buf_addf(k, "orch:idem:%s:%s", account, key);
}

/* "D:<fp>:<status>:<body>" or "I:<fp>". */
static enum idem_state parse_value(const char *v, size_t len, struct idem_hit *hit)
{
	if (len < 66 || v[1] != ':')
		return IDEM_UNAVAILABLE;
	memcpy(hit->fingerprint, v + 2, 64);
	hit->fingerprint[64] = '\0';
	if (v[0] == 'I')
		return IDEM_IN_FLIGHT;
	if (v[0] != 'D' || len < 71 || v[66] != ':' || v[70] != ':')
		return IDEM_UNAVAILABLE;
	hit->status = atoi(v + 67);
	hit->body = xstrndup(v + 71, len - 71);
	return IDEM_DONE;
}

enum idem_state idem_claim(const char *account, const char *key, const char *fingerprint, struct idem_hit *hit)
{
	memset(hit, 0, sizeof(*hit));
	struct buf k, v;
	buf_init(&k);
	buf_init(&v);
	redis_key(&k, account, key);
	buf_addf(&v, "I:%s", fingerprint);
	char ttl[24];
	snprintf(ttl, sizeof(ttl), "%d", IN_FLIGHT_TTL_MS);
	const char *argv[] = { "SET", k.data, v.data, "NX", "PX", ttl };
	size_t lens[] = { 3, k.len, v.len, 2, 2, strlen(ttl) };
	enum idem_state st = IDEM_UNAVAILABLE;
	redisReply *r = command(6, argv, lens);
	if (r && r->type == REDIS_REPLY_STATUS) {
		st = IDEM_CLAIMED;
	} else if (r && r->type == REDIS_REPLY_NIL) {
		freeReplyObject(r);
		const char *get[] = { "GET", k.data };
		size_t glens[] = { 3, k.len };
		r = command(2, get, glens);
		if (r && r->type == REDIS_REPLY_STRING)
			st = parse_value(r->str, r->len, hit);
		/* Gone between SET and GET (expired): let PostgreSQL decide. */
	}
	freeReplyObject(r);
	buf_release(&k);
	buf_release(&v);
	if (st == IDEM_UNAVAILABLE)
		metrics_inc(M_REDIS_FAIL_OPEN, 1);
	return st;
}

void idem_store(const char *account, const char *key, const char *fingerprint, int status, const char *body)
{
	struct buf k, v;
	buf_init(&k);
	buf_init(&v);
	redis_key(&k, account, key);
	buf_addf(&v, "D:%s:%03d:%s", fingerprint, status, body);
	char ttl[24];
	snprintf(ttl, sizeof(ttl), "%lld", (long long)redis.ttl_ms);
	const char *argv[] = { "SET", k.data, v.data, "PX", ttl };
	size_t lens[] = { 3, k.len, v.len, 2, strlen(ttl) };
	freeReplyObject(command(5, argv, lens));
	buf_release(&k);
	buf_release(&v);
}

void idem_release(const char *account, const char *key)
{
	struct buf k;
	buf_init(&k);
	redis_key(&k, account, key);
	const char *argv[] = { "DEL", k.data };
	size_t lens[] = { 3, k.len };
	freeReplyObject(command(2, argv, lens));
	buf_release(&k);
}

bool idem_ping(void)
{
	const char *argv[] = { "PING" };
	size_t lens[] = { 4 };
	redisReply *r = command(1, argv, lens);
	bool ok = r != NULL;
	freeReplyObject(r);
	return ok;
}
