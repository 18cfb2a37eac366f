/*
 * The Idempotency-Key fast path in Redis (api.md). The key
 * orch:idem:{account}:{key} holds "I:<fingerprint>" while the first request
 * is in flight (a short TTL, so a crash cannot wedge a key), then
 * "D:<fingerprint>:<status>:<body>" with the full window once it answered.
 *
 * Redis is an accelerator, never the authority: when it is down, slow or
 * confused, callers get IDEM_UNAVAILABLE and go on; the PostgreSQL record
 * written in the accept transaction still prevents a second message.
 * Every thread keeps its own connection (hiredis contexts are not shared),
 * with connect and read timeouts, and skips Redis for a second after a failure.
 */
#ifndef ORCH_IDEM_H
#define ORCH_IDEM_H

#include <stdbool.h>
#include <stdint.h>

enum idem_state {
	IDEM_CLAIMED,     /* the key was free: this request owns it now */
	IDEM_IN_FLIGHT,   /* another request with the key is being processed */
	IDEM_DONE,        /* answered before: hit holds the answer */
	IDEM_UNAVAILABLE, /* Redis could not answer: go on without it */
};

struct idem_hit {
	char fingerprint[65];
	int status;
	char *body; /* owned; free() */
};

/* Parses the URL (redis://[:password@]host[:port][/db]); -1 when it does not parse. Not thread-safe; call once. */
int idem_init(const char *url, int64_t ttl_ms) __attribute__((warn_unused_result));
/* Frees every thread's connection; call after the threads stopped. */
void idem_shutdown(void);

enum idem_state idem_claim(const char *account, const char *key, const char *fingerprint, struct idem_hit *hit);
/* Stores the answer for replays (full TTL). */
void idem_store(const char *account, const char *key, const char *fingerprint, int status, const char *body);
/* Forgets the key (the request failed with a 5xx: the client may retry). */
void idem_release(const char *account, const char *key);
/* PING from the calling thread: true when Redis answered. */
bool idem_ping(void);

#endif
