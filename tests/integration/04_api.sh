#!/usr/bin/env bash
# Every status row of api.md for /v1/sms/send, /v1/sms/bulk and GET /v1/sms/{id}.
. "$(dirname "$0")/lib.sh"
A=acct-api-$$
# The accept path alone (a split deployment): messages stay QUEUED, so their rows can be inspected.
start_serve ORCH_BULK_MAX=5 ORCH_ROLES=http,relay || exit 1

# 202
send $A '{"to":"+1 (415) 555-0100","from":"ACME","body":"Hello €","clientReference":"order-42","validityPeriod":3600,"callbackUrl":"https://example.com/cb"}' \
	-H 'X-Request-ID: req-202-a' -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
is "$STATUS" 202 "send: 202"
id=$(jq -r .messageId <<<"$BODY")
is "$(header Location)" "/v1/sms/$id" "send: Location is /v1/sms/{messageId}"
is "$(jq -c '[.status,.to,.from,.encoding,.segments,.clientReference]' <<<"$BODY")" \
	'["QUEUED","+14155550100","ACME","GSM7",1,"order-42"]' "send: normalized fields in the answer"
like "$(jq -r .createdAt <<<"$BODY")" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z$' "send: createdAt is RFC 3339 UTC"
like "$id" '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' "send: messageId is a UUIDv7"
is "$(header X-Request-ID)" req-202-a "send: the request id is echoed"
is "$(sql "SELECT status || ' ' || seq || ' ' || request_id || ' ' || traceparent || ' ' || (valid_until - created_at) FROM orch.sms_messages WHERE id = '$id'")" \
	"QUEUED 1 req-202-a 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 01:00:00" \
	"send: the row is committed before the answer (status, seq, request id, traceparent, validity)"
is "$(sql "SELECT string_agg(subject, ',' ORDER BY id) FROM orch.outbox WHERE message_id = '$id'")" \
	"sms.events.status,sms.outbound.request" "send: the status event and the request are in the outbox"
is "$(sql "SELECT headers->>'X-Request-ID' || ' ' || (headers->>'traceparent') FROM orch.outbox WHERE message_id = '$id' LIMIT 1")" \
	"req-202-a 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" "send: request id and traceparent carried into the NATS headers"
send $A '{"to":"+79161234567","from":"ACME","body":"Привет"}'
is "$(jq -c '[.encoding,.segments]' <<<"$BODY")" '["UCS2",1]' "send: Cyrillic is UCS2"
send $A '{"to":"+4915112345678","from":"ACME","body":"'"$(printf 'a%.0s' $(seq 1 161))"'"}'
is "$(jq -c '[.encoding,.segments]' <<<"$BODY")" '["GSM7",2]' "send: 161 GSM characters are 2 segments"

send $A "$MSG" -H 'Kong-Request-ID: kong-req-7'
is "$(header X-Request-ID)" kong-req-7 "Kong-Request-ID is taken as the request id when X-Request-ID is absent"
like "$(grep -c '"request_id":"kong-req-7"' "$SERVE_LOG")" '^[1-9]' "the request id is logged"

# Garbage never yields a 5xx.
codes=""
for i in $(seq 1 60); do
	head -c $((RANDOM % 3000 + 1)) /dev/urandom >"$T_TMP/junk"
	[ $((i % 3)) -eq 0 ] && { printf '{"to":"+14155550100","from":"ACME","body":"' ; head -c 200 /dev/urandom | tr -d '"\\'; printf '"}'; } >"$T_TMP/junk"
	c=$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Consumer-Custom-ID: $A" -H 'Content-Type: application/json' \
		--data-binary "@$T_TMP/junk" "$BASE_URL/v1/sms/$([ $((i % 2)) -eq 0 ] && echo send || echo bulk)")
	codes="$codes $c"
done
unlike "$codes" ' (5[0-9][0-9]|000)' "60 random bodies: no 5xx, no dropped connection"
ok "serve is still up" kill -0 "$SERVE_PID"

# GET
req GET "/v1/sms/$id" -H "X-Consumer-Custom-ID: $A"
is "$STATUS" 200 "get: 200"
is "$(jq -c '[.messageId,.status,.to,.from,.clientReference,.attempts,.error,[.history[].status]]' <<<"$BODY")" \
	"[\"$id\",\"QUEUED\",\"+14155550100\",\"ACME\",\"order-42\",0,null,[\"QUEUED\"]]" "get: the message and its history"
req GET "/v1/sms/$(echo "$id" | tr a-f A-F)" -H "X-Consumer-Custom-ID: $A"
is "$STATUS" 200 "get: an upper-case id works too"
req GET "/v1/sms/$id" -H "X-Consumer-Custom-ID: other-$A"
is_problem 404 "get: another account's message is 404"
other=$BODY
req GET "/v1/sms/0192f0c4-0000-7000-8000-000000000000" -H "X-Consumer-Custom-ID: $A"
is_problem 404 "get: an unknown id is 404"
is "$(jq -c 'del(.instance)' <<<"$other")" "$(jq -c 'del(.instance)' <<<"$BODY")" "get: foreign and unknown answer alike"
req GET "/v1/sms/not-a-uuid" -H "X-Consumer-Custom-ID: $A"
is_problem 400 "get: an id that is not a UUID is 400"

# 400: malformed JSON and field rules
for bad in '{"to":' '{} x' '[]' "{'to':1}" '' '{"to":"+14155550100",}'; do
	send $A "$bad"
	is_problem 400 "send: malformed JSON '$bad' is 400"
done
send $A '{"to":"+999 123 4567","from":"ACME","body":"x"}'
is_problem 400 "send: an unassigned country code is 400"
has_error invalid_to to "send: ... with invalid_to on to"
like "$(jq -r '.errors[0].detail' <<<"$BODY")" "country calling code 999 is not assigned" "send: ... saying which code"
send $A '{"to":"+14155550100","from":"ACME","body":"x","bodyy":"typo"}'
has_error unknown_field bodyy "send: an unknown field is 400 unknown_field"
send $A '{"from":"ACME","body":"x"}'
has_error missing_field to "send: missing to"
send $A '{"to":"+14155550100","from":"TOOLONGSENDER1","body":"x"}'
has_error invalid_from from "send: a sender of 12 characters"
send $A '{"to":"+14155550100","from":"ACME","body":""}'
has_error empty_body body "send: an empty body"
send $A '{"to":"+14155550100","from":"ACME","body":"a\u0000b"}'
has_error nul_character body "send: NUL in the body"
send $A "$(printf '{"to":"+14155550100","from":"ACME","body":"a\xffb"}')"
has_error invalid_utf8 body "send: invalid UTF-8 in the body"
send $A '{"to":"+14155550100","from":"ACME","body":"😀","encoding":"gsm7"}'
has_error not_gsm7 body "send: gsm7 with a character outside GSM 03.38"
send $A '{"to":"+14155550100","from":"ACME","body":"x","encoding":"utf8"}'
has_error invalid_encoding encoding "send: an unknown encoding"
send $A "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"$(printf 'a%.0s' $(seq 1 1531))\"}"
has_error too_many_segments body "send: 11 segments"
send $A "{\"to\":\"+14155550100\",\"from\":\"ACME\",\"body\":\"x\",\"clientReference\":\"$(printf 'r%.0s' $(seq 1 65))\"}"
has_error invalid_client_reference clientReference "send: a clientReference of 65 characters"
send $A '{"to":"+14155550100","from":"ACME","body":"x","validityPeriod":59}'
has_error invalid_validity_period validityPeriod "send: validityPeriod 59"
send $A '{"to":"+14155550100","from":"ACME","body":"x","callbackUrl":"http://example.com"}'
has_error invalid_callback_url callbackUrl "send: an http callbackUrl"
send $A '{"to":"12","from":"!","body":"","zzz":1}'
is "$(jq '.errors | length' <<<"$BODY")" 4 "send: every bad field is reported at once"
send $A "$MSG" -H 'Idempotency-Key: has space'
has_error invalid_idempotency_key Idempotency-Key "send: an Idempotency-Key with a space is 400"
send $A "$MSG" -H "Idempotency-Key: $(printf 'k%.0s' $(seq 1 256))"
has_error invalid_idempotency_key Idempotency-Key "send: an Idempotency-Key of 256 characters is 400"
before=$(count_messages $A)

# 401
req POST /v1/sms/send -H 'Content-Type: application/json' -d "$MSG"
is_problem 401 "no Kong consumer: 401"
req POST /v1/sms/send -H "X-Consumer-ID: $A" -H 'X-Anonymous-Consumer: true' -H 'Content-Type: application/json' -d "$MSG"
is_problem 401 "anonymous consumer: 401"
req POST /v1/sms/send -H "X-Consumer-ID: $A-by-id" -H 'Content-Type: application/json' -d "$MSG"
is "$STATUS" 202 "X-Consumer-ID is the account when there is no custom id"
is "$(sql "SELECT account_id FROM orch.sms_messages WHERE id = '$(jq -r .messageId <<<"$BODY")'")" "$A-by-id" "... and is stored as the account"
req GET "/v1/sms/$id"
is_problem 401 "get without a consumer: 401"

# 404, 405
req GET /v1/nope -H "X-Consumer-Custom-ID: $A"
is_problem 404 "an unknown path: 404"
req GET /v1/sms/send -H "X-Consumer-Custom-ID: $A"
is_problem 405 "GET on send: 405"
is "$(header Allow)" POST "... with Allow: POST"
req DELETE "/v1/sms/$id" -H "X-Consumer-Custom-ID: $A"
is_problem 405 "DELETE on a message: 405"
is "$(header Allow)" GET "... with Allow: GET"
# api.md: an extra path segment is an unknown path, not a bad message id.
for path in /v1/sms/send/extra /v1/sms/bulk/x/y "/v1/sms/$id/x" "/v1/sms/$id/" /v1/sms/ "/v1/sms/$id/cancel/x" /v1/sms/bulk/; do
	req GET "$path" -H "X-Consumer-Custom-ID: $A"
	is_problem 404 "GET $path: 404"
done
req GET /v1/sms/bulk/x -H "X-Consumer-Custom-ID: $A"
is_problem 400 "GET /v1/sms/bulk/x: 400 (a bulk id that is not a UUID)"
has_error invalid_bulk_id bulkId "... invalid_bulk_id on bulkId"
req POST /v1/sms/send/x -H "X-Consumer-Custom-ID: $A" -H 'Content-Type: application/json' -d "$MSG"
is_problem 404 "POST /v1/sms/send/x: 404"

# 413, 415
head -c 70000 /dev/zero | tr '\0' a >"$T_TMP/big"
req POST /v1/sms/send -H "X-Consumer-Custom-ID: $A" -H 'Content-Type: application/json' --data-binary "@$T_TMP/big"
is_problem 413 "send over 64 KiB: 413"
head -c $((4 * 1024 * 1024 + 10)) /dev/zero | tr '\0' a >"$T_TMP/big"
req POST /v1/sms/bulk -H "X-Consumer-Custom-ID: $A" -H 'Content-Type: application/json' --data-binary "@$T_TMP/big"
is_problem 413 "bulk over 4 MiB: 413"
req POST /v1/sms/send -H "X-Consumer-Custom-ID: $A" -H 'Content-Type: text/plain' -d "$MSG"
is_problem 415 "text/plain: 415"
req POST /v1/sms/send -H "X-Consumer-Custom-ID: $A" -d "$MSG"
is_problem 415 "form encoding (curl's default): 415"
send $A "$MSG" -H 'Content-Type: application/json; charset=utf-8'
is "$STATUS" 202 "application/json with a charset parameter is accepted"
is "$(count_messages $A)" $((before + 1)) "no rejected request wrote a message"

# Bulk
bulk $A '{"messages":[{"to":"+447911123456","from":"ACME","body":"one"},{"to":"nope","from":"ACME","body":"two"},{"to":"+33612345678","from":"ACME","body":"three","clientReference":"c3"}]}'
is "$STATUS" 202 "bulk with valid and invalid items: 202"
is "$(jq -c '[.accepted,.rejected,[.results[].index],.results[1].error.code,.results[1].error.field]' <<<"$BODY")" \
	'[2,1,[0,1,2],"invalid_to","to"]' "bulk: counts, results by index, the invalid item's error"
ids=$(jq -r '[.results[] | select(.messageId) | .messageId] | join(",")' <<<"$BODY")
is "$(sql "SELECT count(*) FROM orch.sms_messages WHERE id IN ('${ids//,/\',\'}') AND status = 'QUEUED'")" 2 "bulk: the valid items are stored"
is "$(sql "SELECT count(DISTINCT xmin::text) FROM orch.sms_messages WHERE id IN ('${ids//,/\',\'}')")" 1 "bulk: in one transaction"
like "$(jq -r .bulkId <<<"$BODY")" '^[0-9a-f-]{36}$' "bulk: a bulkId"
bulk $A '{"messages":[{"to":"x","from":"ACME","body":"one"},{"to":"+447911123456","from":"","body":"two"}]}'
is_problem 400 "bulk with no valid item: 400"
is "$(jq -c '[.results[].index, .results[].error.code]' <<<"$BODY")" '[0,1,"invalid_to","invalid_from"]' "... with the per-item results"
for b in '{}' '{"messages":[]}' '{"messages":{}}' '{"messages":[{"to":"+447911123456","from":"ACME","body":"x"}],"x":1}' \
	'{"messages":[1,2,3,4,5,6]}'; do
	bulk $A "$b"
	is_problem 400 "bulk $b: 400"
done
bulk $A '{"messages":[{"to":"+447911123456","from":"ACME","body":"x"},5]}'
is "$(jq -c '[.accepted,.results[1].error.code]' <<<"$BODY")" '[1,"invalid_type"]' "bulk: an item that is not an object is rejected by index"

stop_serve
# The gateway token.
start_serve ORCH_UPSTREAM_TOKEN=s3cr3t-token ORCH_IDEMPOTENCY_REQUIRED=true ORCH_ROLES=http,relay || exit 1
send $A "$MSG" -H 'Idempotency-Key: tok-1'
is_problem 401 "token configured, none sent: 401"
send $A "$MSG" -H 'Idempotency-Key: tok-1' -H 'X-Gateway-Token: s3cr3t-tokeN'
is_problem 401 "a wrong token: 401"
send $A "$MSG" -H 'Idempotency-Key: tok-1' -H 'X-Gateway-Token: s3cr3t-token'
is "$STATUS" 202 "the right token: 202"
send $A "$MSG" -H 'X-Gateway-Token: s3cr3t-token'
has_error missing_idempotency_key Idempotency-Key "ORCH_IDEMPOTENCY_REQUIRED: a missing key is 400"
unlike "$(cat "$SERVE_LOG")" 's3cr3t' "the token never appears in the logs"
stop_serve; rc=$?
is "$rc" 0 "serve exits 0 on SIGTERM"
unlike "$(grep '"level":"error"' "$SERVE_LOG")" '.' "no error in the serve log"
done_testing
