/*
 * segcorpus: writes the segment test corpus (tests/unit/segment_corpus.h) as
 * request bodies, for tests/integration/19_preview.sh to send to
 * /v1/sms/preview and /v1/sms/send and compare.
 *
 *   segcorpus DIR
 *
 * For row N of the corpus: DIR/N.json, a send body with the row's body (as
 * bytes: an invalid byte stays raw, controls and NUL are JSON escapes) and
 * its requested encoding, and DIR/N-smart.json, the same with
 * "smartEncoding": true. Prints one line per row: N, a tab, the row's name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/segment_corpus.h"
#include "lib/buf.h"
#include "lib/banned.h"

static const char *const ENCODING[] = { [SMS_ENC_AUTO] = "auto", [SMS_ENC_GSM7] = "gsm7", [SMS_ENC_UCS2] = "ucs2" };

static int write_body(const char *dir, size_t row, const char *suffix, const char *body, size_t len,
		      enum sms_encoding_req req, const char *more)
{
	char path[4096];
	struct buf json;
	int rc = 0;

	snprintf(path, sizeof(path), "%s/%03zu%s.json", dir, row, suffix);
	buf_init(&json);
	buf_adds(&json, "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":");
	buf_add_json_str(&json, body, len);
	buf_addf(&json, ",\"encoding\":\"%s\"%s}", ENCODING[req], more);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(json.data, 1, json.len, f) != json.len) {
		fprintf(stderr, "segcorpus: cannot write %s\n", path);
		rc = -1;
	}
	if (f && fclose(f) != 0)
		rc = -1;
	buf_release(&json);
	return rc;
}

int main(int argc, char **argv)
{
	static char body[16384];

	if (argc != 2) {
		fprintf(stderr, "usage: segcorpus DIR\n");
		return 2;
	}
	for (size_t i = 0; i < SEGMENT_CORPUS_LEN; i++) {
		const struct seg_case *tc = &SEGMENT_CORPUS[i];
		size_t len = corpus_body(tc, body, sizeof(body));
		if (len == SIZE_MAX || write_body(argv[1], i, "", body, len, tc->req, "") ||
		    write_body(argv[1], i, "-smart", body, len, tc->req, ",\"smartEncoding\":true"))
			return 1;
		printf("%03zu\t%s\n", i, tc->name);
	}
	return 0;
}
