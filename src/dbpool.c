/* Connection pool (see dbpool.h): a stack of idle connections under a mutex. */
#include "dbpool.h"

#include <pthread.h>
#include <stdlib.h>

#include "db.h"
#include "lib/timeutil.h"
#include "lib/xmalloc.h"
#include "lib/banned.h"

#define RECONNECT_BACKOFF_MS 1000

struct dbpool {
	char *url;
	const char *app;
	int size, idle, open;
	PGconn **conns;
	int64_t next_connect_ms;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

struct dbpool *dbpool_new(const char *url, int size, const char *application_name)
{
	struct dbpool *p = xcalloc(1, sizeof(*p));
	p->url = xstrdup(url);
	p->app = application_name;
	p->size = size;
	p->conns = xcalloc((size_t)size, sizeof(*p->conns));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	return p;
}

PGconn *dbpool_get(struct dbpool *p)
{
	pthread_mutex_lock(&p->lock);
	while (p->idle == 0 && p->open == p->size)
		pthread_cond_wait(&p->cond, &p->lock);
	PGconn *c = NULL;
	if (p->idle > 0) {
		c = p->conns[--p->idle];
	} else if (mono_ms() >= p->next_connect_ms) {
		p->open++;
	} else {
		pthread_mutex_unlock(&p->lock);
		return NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (c && PQstatus(c) == CONNECTION_OK)
		return c;
	if (c)
		PQfinish(c);
	c = db_connect(p->url, p->app);
	if (!c) {
		pthread_mutex_lock(&p->lock);
		p->open--;
		p->next_connect_ms = mono_ms() + RECONNECT_BACKOFF_MS;
		pthread_cond_signal(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	return c;
}

void dbpool_put(struct dbpool *p, PGconn *conn)
{
	pthread_mutex_lock(&p->lock);
	if (PQstatus(conn) == CONNECTION_OK) {
		p->conns[p->idle++] = conn;
	} else {
		PQfinish(conn);
		p->open--;
	}
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

int dbpool_fill(struct dbpool *p, int n)
{
	int opened = 0;
	for (int i = 0; i < n; i++) {
		pthread_mutex_lock(&p->lock);
		bool room = p->open < p->size;
		if (room)
			p->open++;
		pthread_mutex_unlock(&p->lock);
		if (!room)
			break;
		PGconn *c = db_connect(p->url, p->app);
		if (!c) {
			pthread_mutex_lock(&p->lock);
			p->open--;
			pthread_mutex_unlock(&p->lock);
			break;
		}
		dbpool_put(p, c);
		opened++;
	}
	return opened;
}

void dbpool_free(struct dbpool *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->idle; i++)
		PQfinish(p->conns[i]);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->conns);
	free(p->url);
	free(p);
}
