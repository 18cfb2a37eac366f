/*
 * The answer of POST /v1/sms/preview (api.md): what a send of the same body
 * would be sent as, without storing or sending anything. The handler parses
 * the body with request_parse_send, the very function send uses (the same
 * rules, the same smart encoding, the same segment count), and writes its
 * result with preview_json. Pure: no database, no Redis, no NATS.
 */
#ifndef ORCH_PREVIEW_H
#define ORCH_PREVIEW_H

#include "lib/buf.h"
#include "request.h"

/*
 * Appends the 200 body for a valid item (nerrors 0, borrowed) to out:
 * {"to","from","encoding","segments","characters","charactersPerSegment",
 *  "charactersRemaining","nonGsmCharacters":[...],"replacedCharacters","body"}
 * characters counts septets (GSM7) or UTF-16 units (UCS2);
 * charactersPerSegment is 160 or 70 for one segment, 153 or 67 per part of
 * more; charactersRemaining is what is still free in the last segment
 * (seg_info.remaining); nonGsmCharacters lists each character of the body
 * outside GSM 03.38 once, in order of first appearance (so [] for GSM7);
 * replacedCharacters only when smartEncoding was asked for; body is the
 * text that would be sent (after smart encoding).
 */
void preview_json(const struct sms_item *it, struct buf *out);

#endif
