#!/usr/bin/env bash
# /readyz, /metrics, load shedding on the outbox backlog, PostgreSQL down, draining on SIGTERM.
. "$(dirname "$0")/lib.sh"
A=acct-ops-$$
start_serve || exit 1

req GET /readyz
is "$STATUS" 200 "readyz: 200 with everything up"
is "$(jq -c '[.status,.checks.postgres.ok,.checks.postgres.schemaOk,.checks.nats.ok,.checks.redis.ok]' <<<"$BODY")" \
	'["ready",true,true,true,true]' "readyz: says which part is up"
is "$(jq '.checks.postgres.schemaVersion == .checks.postgres.expectedSchemaVersion' <<<"$BODY")" true \
	"readyz: the schema is at the version the binary expects"
send $A "$MSG"
req GET /metrics
is "$(header Content-Type)" "text/plain; version=0.0.4" "metrics: Prometheus text format"
for fam in orch_http_requests_total orch_accept_latency_seconds_bucket orch_messages_accepted_total \
	orch_outbox_backlog orch_outbox_oldest_age_seconds orch_idempotency_replays_total orch_redis_fail_open_total \
	orch_load_shed_total orch_accept_transaction_messages_bucket; do
	like "$BODY" $'\n'"$fam[{ ]" "metrics: $fam"
done
like "$BODY" 'orch_http_requests_total\{route="POST /v1/sms/send",status="202"\} [1-9]' "metrics: requests by route and status"
stop_serve

# NATS down: accepting goes on, the outbox grows, readyz says NATS is down.
nats_stop
start_serve ORCH_MAX_BACKLOG=4 || exit 1
for i in 1 2 3; do send $A "$MSG"; done
is "$STATUS" 202 "NATS down: still accepting"
sleep 1.2
req GET /readyz
is "$STATUS:$(jq -c '[.status,.checks.nats.ok,.checks.postgres.ok]' <<<"$BODY")" '503:["not_ready",false,true]' "readyz: 503 saying NATS is down"
# Load shedding: more pending outbox rows than ORCH_MAX_BACKLOG.
pending=$(pending_rows)
ok "the outbox holds the pending rows ($pending)" test "$pending" -gt 4
send $A "$MSG"
is_problem 503 "backlog over ORCH_MAX_BACKLOG: 503"
like "$(header Retry-After)" '^[0-9]+$' "... with Retry-After"
is "$(jq -r .type <<<"$BODY")" "urn:sms-orchestrator:problem:overloaded" "... of type overloaded"
req GET /v1/sms/0192f0c4-0000-7000-8000-000000000000 -H "X-Consumer-Custom-ID: $A"
is "$STATUS" 404 "reads still work while shedding"
req GET /metrics
like "$BODY" $'\norch_load_shed_total [1-9]' "metrics count the shed requests"
nats_start
wait_for "NATS back: the relay drains the outbox" 10 no_pending
sleep 1.2
send $A "$MSG"
is "$STATUS" 202 "backlog drained: accepting again"
stop_serve

# PostgreSQL down: 503 with Retry-After, readyz 503 naming PostgreSQL; back: accepting again.
start_serve || exit 1
PGDATA=$ORCH_PG_DATA
runuser -u postgres -- "$(pg_config --bindir)/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null
send $A "$MSG" -H 'Idempotency-Key: k-pgdown'
is_problem 503 "PostgreSQL down: 503"
like "$(header Retry-After)" '^[0-9]+$' "... with Retry-After"
sleep 1.5
req GET /readyz
is "$STATUS:$(jq -c '[.status,.checks.postgres.ok]' <<<"$BODY")" '503:["not_ready",false]' "readyz: 503 saying PostgreSQL is down"
"$ORCH_ROOT/scripts/stack.sh" start test >/dev/null 2>&1
sleep 1.5
send $A "$MSG" -H 'Idempotency-Key: k-pgdown'
is "$STATUS:$(header Idempotent-Replayed)" "202:" "PostgreSQL back: the same key is accepted (the 503 was not remembered)"
req GET /readyz
is "$STATUS" 200 "readyz: 200 again"

# SIGTERM while requests are in flight: they are answered, then exit 0.
psql -X -q -U postgres -d orch -c "BEGIN; LOCK TABLE orch.idempotency_keys IN SHARE ROW EXCLUSIVE MODE; SELECT pg_sleep(1.5); COMMIT;" >/dev/null &
lockpid=$!
sleep 0.3
curl -sS -o "$T_TMP/drain.body" -w '%{http_code}' -H "X-Consumer-Custom-ID: $A" -H 'Content-Type: application/json' \
	-H 'Idempotency-Key: k-drain' -d "$MSG" "$BASE_URL/v1/sms/send" >"$T_TMP/drain.code" &
inflight=$!
sleep 0.3
kill -TERM "$SERVE_PID"
sleep 0.2
send $A "$MSG"
is_problem 503 "draining: a new request gets 503"
wait "$inflight" "$lockpid"
is "$(cat "$T_TMP/drain.code")" 202 "draining: the request in flight at SIGTERM is answered 202"
is "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A' AND idempotency_key = 'k-drain'")" 1 "... and its message is stored"
stop_serve; rc=$?
is "$rc" 0 "serve exits 0 after draining"
json_only
done_testing
