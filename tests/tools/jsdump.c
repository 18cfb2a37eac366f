/*
 * jsdump: prints every message of a JetStream stream as one JSON line
 * {"seq","subject","headers":{...},"data":"...","ts":N}, for the integration
 * tests and scripts/bench.sh. ts is the time JetStream stored the message,
 * in nanoseconds since the Unix epoch (UTC; natsMsg_GetTime).
 *
 *   jsdump nats://127.0.0.1:4222 STREAM
 *
 * Reads by sequence with js_GetMsg (no consumer is created, nothing is acked).
 * Exits 1 when the stream cannot be read.
 */
#include <nats/nats.h>
#include <stdio.h>
#include <string.h>

#include "lib/buf.h"

static void print_msg(uint64_t seq, natsMsg *m)
{
	struct buf b;
	buf_init(&b);
	buf_addf(&b, "{\"seq\":%llu,\"subject\":", (unsigned long long)seq);
	buf_add_json_str(&b, natsMsg_GetSubject(m), strlen(natsMsg_GetSubject(m)));
	buf_adds(&b, ",\"headers\":{");
	const char **keys = NULL;
	int nkeys = 0;
	if (natsMsgHeader_Keys(m, &keys, &nkeys) == NATS_OK) {
		for (int i = 0; i < nkeys; i++) {
			const char *v = NULL;
			natsMsgHeader_Get(m, keys[i], &v);
			buf_adds(&b, i ? "," : "");
			buf_add_json_str(&b, keys[i], strlen(keys[i]));
			buf_addc(&b, ':');
			buf_add_json_str(&b, v ? v : "", v ? strlen(v) : 0);
		}
		free((void *)keys);
	}
	buf_adds(&b, "},\"data\":");
	buf_add_json_str(&b, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
	buf_addf(&b, ",\"ts\":%lld}\n", (long long)natsMsg_GetTime(m));
	fwrite(b.data, 1, b.len, stdout);
	buf_release(&b);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: jsdump NATS_URL STREAM\n");
		return 2;
	}
	natsConnection *nc = NULL;
	jsCtx *js = NULL;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = natsConnection_ConnectTo(&nc, argv[1]);
	if (s == NATS_OK)
		s = natsConnection_JetStream(&js, nc, NULL);
	if (s == NATS_OK)
		s = js_GetStreamInfo(&si, js, argv[2], NULL, &jerr);
	if (s != NATS_OK) {
		fprintf(stderr, "jsdump: %s: %s\n", argv[2], natsStatus_GetText(s));
		return 1;
	}
	for (uint64_t seq = si->State.FirstSeq; si->State.Msgs > 0 && seq <= si->State.LastSeq; seq++) {
		natsMsg *m = NULL;
		if (js_GetMsg(&m, js, argv[2], seq, NULL, &jerr) == NATS_OK) {
			print_msg(seq, m);
			natsMsg_Destroy(m);
		}
	}
	jsStreamInfo_Destroy(si);
	jsCtx_Destroy(js);
	natsConnection_Destroy(nc);
	nats_CloseAndWait(1000);
	return 0;
}
