/* The NATS connection and JetStream provisioning (see bus.h). */
#include "bus.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "lib/log.h"
#include "lib/banned.h"

#define NS_PER_MS 1000000LL
#define PIPELINE_ACK_WAIT_MS 30000
#define BUS_PING_INTERVAL_MS 1500
#define BUS_MAX_PINGS_OUT 2

static struct {
	const struct config *cfg;
	natsConnection *nc;
	jsCtx *js;
	void (*on_connect)(void);
	volatile bool closing; /* bus_stop() began: a disconnect is expected, not news */
	atomic_bool stalled; /* a publish JetStream did not acknowledge in time, and none since */
} bus;

void bus_jetstream_acked(void) { atomic_store(&bus.stalled, false); }

void bus_jetstream_stalled(void)
{
	if (!atomic_exchange(&bus.stalled, true))
		log_warn("JetStream stopped acknowledging publishes; /readyz answers 503 until it does again");
}

bool bus_jetstream_ok(void) { return !atomic_load(&bus.stalled); }

bool bus_ping(int timeout_ms)
{
	return bus_connected() && natsConnection_FlushTimeout(bus.nc, timeout_ms) == NATS_OK;
}

/* nats.c's asynchronous errors (slow consumer, permission, stale connection, ...) as JSON lines. */
static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
	(void)nc;
	(void)sub;
	(void)closure;
	const char *last = NULL;
	natsStatus ls = nc ? natsConnection_GetLastError(nc, &last) : NATS_OK;
	char text[300];
	snprintf(text, sizeof(text), "%s%s%s", natsStatus_GetText(err), ls != NATS_OK && last ? ": " : "",
		 ls != NATS_OK && last ? last : "");
	log_library(LOG_WARN, "nats.c", text);
}

void bus_on_connect(void (*fn)(void)) { bus.on_connect = fn; }

struct stream_def {
	const char *name;
	const char *subjects[4];
	int nsubjects;
};

/* events.md: every stream has file storage, the duplicate window and (here) limits retention with a max age. */
static const struct stream_def streams[] = {
	/* The high lane's subjects (docs/events.md): the same messages for the pipeline's high-priority consumer. */
	{ BUS_OUTBOUND_STREAM,
	  { "sms.outbound.request", "sms.outbound.retry", "sms.outbound.request.high", "sms.outbound.retry.high" },
	  4 },
	{ "SMPP_OPERATOR", { "smpp.operator.>" }, 1 },
	{ "SMS_EVENTS", { "sms.events.status" }, 1 },
	{ "SMS_DLQ", { "sms.outbound.deadletter" }, 1 },
};

static void on_connected(natsConnection *nc, void *closure)
{
	(void)nc;
	(void)closure;
	log_info("NATS connected");
	if (bus.on_connect)
		bus.on_connect();
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	(void)closure;
	if (bus.closing)
		log_info("NATS connection closed");
	else
		log_warn("NATS disconnected; the outbox keeps what cannot be published");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	(void)closure;
	log_info("NATS reconnected");
	if (bus.on_connect)
		bus.on_connect();
}

int bus_start(const struct config *cfg)
{
	bus.cfg = cfg;
	natsOptions *opts = NULL;
	natsStatus s = natsOptions_Create(&opts);
	if (s == NATS_OK)
		s = natsOptions_SetURL(opts, cfg->nats_url);
	if (s == NATS_OK)
		s = natsOptions_SetName(opts, "sms-orchestrator");
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(opts, 250);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectBufSize(opts, 1);
	/* A server that hangs (stopped, frozen VM) keeps the socket open: PINGs without a PONG notice it. */
	if (s == NATS_OK)
		s = natsOptions_SetPingInterval(opts, BUS_PING_INTERVAL_MS);
	if (s == NATS_OK)
		s = natsOptions_SetMaxPingsOut(opts, BUS_MAX_PINGS_OUT);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(opts, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(opts, on_error, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(opts, on_reconnected, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(opts, true, on_connected, NULL);
	if (s != NATS_OK) {
		log_error("ORCH_NATS_URL: cannot set up the NATS connection", "error", natsStatus_GetText(s));
		natsOptions_Destroy(opts);
		return -1;
	}
	s = natsConnection_Connect(&bus.nc, opts);
	natsOptions_Destroy(opts);
	if (s == NATS_NOT_YET_CONNECTED) {
		log_warn("NATS not reachable yet; connecting in the background");
	} else if (s != NATS_OK) {
		log_error("cannot connect to NATS", "error", natsStatus_GetText(s));
		return -1;
	}
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = 5000;
	s = natsConnection_JetStream(&bus.js, bus.nc, &jo);
	if (s != NATS_OK) {
		log_error("cannot create a JetStream context", "error", natsStatus_GetText(s));
		return -1;
	}
	return 0;
}

natsConnection *bus_connection(void) { return bus.nc; }

bool bus_connected(void) { return bus.nc && natsConnection_Status(bus.nc) == NATS_CONN_STATUS_CONNECTED; }

/* Warns when an existing stream differs from what events.md asks. */
static void compare_stream(const struct stream_def *d, const jsStreamConfig *have)
{
	int64_t dup = bus.cfg->nats_duplicate_window_ms * NS_PER_MS;
	bool same_subjects = have->SubjectsLen == d->nsubjects;
	for (int i = 0; same_subjects && i < d->nsubjects; i++)
		same_subjects = strcmp(have->Subjects[i], d->subjects[i]) == 0;
	if (!same_subjects || have->Storage != js_FileStorage || have->Duplicates != dup) {
		char want[32], got[32];
		snprintf(want, sizeof(want), "%lldms", (long long)(dup / NS_PER_MS));
		snprintf(got, sizeof(got), "%lldms", (long long)(have->Duplicates / NS_PER_MS));
		log_warn("existing stream differs from the configuration; left as it is", "stream", d->name,
			 "duplicate_window_wanted", want, "duplicate_window_found", got,
			 "subjects_match", same_subjects ? "true" : "false",
			 "file_storage", have->Storage == js_FileStorage ? "true" : "false");
	}
}

static bool has_subject(const jsStreamConfig *c, const char *subject)
{
	for (int i = 0; i < c->SubjectsLen; i++)
		if (strcmp(c->Subjects[i], subject) == 0)
			return true;
	return false;
}

/*
 * A stream made by an older version lacks subjects this one publishes on
 * (the high lane's): they are added, everything else of it kept. 0 when it
 * had them all, 1 when they were added, -1 when they could not be.
 */
static int add_missing_subjects(const struct stream_def *d, jsStreamInfo *si)
{
	const jsStreamConfig *have = si->Config;
	const char *subjects[16];
	int n = 0;
	for (int i = 0; i < have->SubjectsLen && n < 12; i++)
		subjects[n++] = have->Subjects[i];
	int added = 0;
	for (int i = 0; i < d->nsubjects; i++) {
		if (!has_subject(have, d->subjects[i])) {
			subjects[n++] = d->subjects[i];
			added++;
		}
	}
	if (!added)
		return 0;
	jsStreamConfig sc = *have;
	sc.Subjects = subjects;
	sc.SubjectsLen = n;
	jsStreamInfo *out = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_UpdateStream(&out, bus.js, &sc, NULL, &jerr);
	if (s != NATS_OK) {
		log_error("cannot add the missing subjects to the stream", "stream", d->name, "error",
			  natsStatus_GetText(s), "detail", nats_GetLastError(NULL));
		return -1;
	}
	jsStreamInfo_Destroy(out);
	log_info("stream subjects added", "stream", d->name);
	return 1;
}

static int ensure_stream(const struct stream_def *d)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, bus.js, d->name, NULL, &jerr);
	if (s == NATS_OK) {
		int rc = add_missing_subjects(d, si);
		if (rc == 0) /* (after an update the info read before it is stale) */
			compare_stream(d, si->Config);
		jsStreamInfo_Destroy(si);
		return rc < 0 ? -1 : 0;
	}
	if (s != NATS_NOT_FOUND) {
		log_warn("cannot read stream info", "stream", d->name, "error", natsStatus_GetText(s));
		return -1;
	}
	jsStreamConfig sc;
	jsStreamConfig_Init(&sc);
	sc.Name = d->name;
	sc.Subjects = (const char **)d->subjects;
	sc.SubjectsLen = d->nsubjects;
	sc.Storage = js_FileStorage;
	sc.Retention = js_LimitsPolicy;
	sc.MaxAge = bus.cfg->nats_max_age_ms * NS_PER_MS;
	sc.Duplicates = bus.cfg->nats_duplicate_window_ms * NS_PER_MS;
	s = js_AddStream(&si, bus.js, &sc, NULL, &jerr);
	if (s != NATS_OK) {
		log_error("cannot create stream", "stream", d->name, "error", natsStatus_GetText(s),
			  "detail", nats_GetLastError(NULL));
		return -1;
	}
	jsStreamInfo_Destroy(si);
	log_info("stream created", "stream", d->name);
	return 0;
}

/*
 * The pipeline's durable pull consumers, one per lane (docs/events.md):
 * normal on sms.outbound.* (request, retry), high on sms.outbound.*.high. A
 * consumer made by an older version (filter sms.outbound.>, which would
 * take the high lane's messages too) gets the lane's filter.
 */
static int ensure_consumer(const char *name, const char *filter)
{
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetConsumerInfo(&ci, bus.js, BUS_OUTBOUND_STREAM, name, NULL, &jerr);
	if (s == NATS_OK) {
		bool same = ci->Config->FilterSubject && strcmp(ci->Config->FilterSubject, filter) == 0;
		if (!same) {
			jsConsumerConfig cc = *ci->Config;
			cc.FilterSubject = filter;
			jsConsumerInfo *out = NULL;
			s = js_UpdateConsumer(&out, bus.js, BUS_OUTBOUND_STREAM, &cc, NULL, &jerr);
			if (s != NATS_OK) {
				log_error("cannot set the pipeline consumer's filter subject", "consumer", name, "filter",
					  filter, "error", natsStatus_GetText(s), "detail", nats_GetLastError(NULL));
				jsConsumerInfo_Destroy(ci);
				return -1;
			}
			jsConsumerInfo_Destroy(out);
			log_info("consumer filter subject set", "consumer", name, "filter", filter);
		}
		jsConsumerInfo_Destroy(ci);
		return 0;
	}
	if (s != NATS_NOT_FOUND)
		return -1;
	jsConsumerConfig cc;
	jsConsumerConfig_Init(&cc);
	cc.Durable = name;
	cc.AckPolicy = js_AckExplicit;
	cc.AckWait = PIPELINE_ACK_WAIT_MS * NS_PER_MS;
	cc.DeliverPolicy = js_DeliverAll;
	cc.MaxAckPending = 10000;
	cc.FilterSubject = filter;
	s = js_AddConsumer(&ci, bus.js, BUS_OUTBOUND_STREAM, &cc, NULL, &jerr);
	if (s != NATS_OK) {
		log_error("cannot create the pipeline consumer", "consumer", name, "error", natsStatus_GetText(s),
			  "detail", nats_GetLastError(NULL));
		return -1;
	}
	jsConsumerInfo_Destroy(ci);
	log_info("consumer created", "stream", BUS_OUTBOUND_STREAM, "consumer", name);
	return 0;
}

static atomic_bool provisioned;

int bus_provision(void)
{
	if (!bus_connected())
		return -1;
	for (size_t i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
		if (ensure_stream(&streams[i]))
			return -1;
	}
	int rc = ensure_consumer(BUS_PIPELINE_CONSUMER, BUS_PIPELINE_FILTER);
	if (rc == 0)
		rc = ensure_consumer(BUS_PIPELINE_HIGH_CONSUMER, BUS_PIPELINE_HIGH_FILTER);
	if (rc == 0)
		atomic_store(&provisioned, true);
	return rc;
}

bool bus_provisioned(void) { return atomic_load(&provisioned); }

int bus_consumer_lag(const char *consumer, int timeout_ms, int64_t *pending, int64_t *ack_pending)
{
	if (!bus.js || !bus_connected())
		return -1;
	jsOptions o;
	jsOptions_Init(&o);
	o.Wait = timeout_ms;
	jsConsumerInfo *ci = NULL;
	jsErrCode jerr = 0;
	if (js_GetConsumerInfo(&ci, bus.js, BUS_OUTBOUND_STREAM, consumer, &o, &jerr) != NATS_OK || !ci) {
		jsConsumerInfo_Destroy(ci);
		return -1;
	}
	*pending = (int64_t)ci->NumPending;
	*ack_pending = ci->NumAckPending;
	jsConsumerInfo_Destroy(ci);
	return 0;
}

void bus_stop(void)
{
	bus.closing = true;
	if (bus.js)
		jsCtx_Destroy(bus.js);
	bus.js = NULL;
	if (bus.nc) {
		natsConnection_Close(bus.nc);
		natsConnection_Destroy(bus.nc);
	}
	bus.nc = NULL;
	nats_CloseAndWait(2000);
}
