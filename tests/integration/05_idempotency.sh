#!/usr/bin/env bash
# Idempotency-Key: replay, 422, 409 in flight, 20 at once, 4xx not remembered, Redis down or hung.
. "$(dirname "$0")/lib.sh"
A=acct-idem-$$
REDIS_PID=$(cat "$ORCH_RUN_DIR/redis.pid")
start_serve || exit 1

send $A "$MSG" -H 'Idempotency-Key: k-replay' -H 'X-Request-ID: first'
is "$STATUS" 202 "first request: 202"
first=$BODY
is "$(header Idempotent-Replayed)" "" "first answer is not marked replayed"
send $A '{ "body" : "hello",  "from":"ACME", "to":"+1 415 555 0100" }' -H 'Idempotency-Key: k-replay'
is "$STATUS" 202 "same request re-serialized: the original status"
is "$BODY" "$first" "... and the original body, byte for byte"
is "$(header Idempotent-Replayed)" true "... marked Idempotent-Replayed: true"
is "$(header Location)" "/v1/sms/$(jq -r .messageId <<<"$first")" "... with the original Location"
send $A '{"to":"+14155550100","from":"ACME","body":"hello!"}' -H 'Idempotency-Key: k-replay'
is_problem 422 "same key, another request: 422"
is "$(jq -r .type <<<"$BODY")" "urn:sms-orchestrator:problem:idempotency-key-reused" "... of type idempotency-key-reused"
send other-$A "$MSG" -H 'Idempotency-Key: k-replay'
is "$STATUS:$(header Idempotent-Replayed)" "202:" "the same key in another account is another key"
is "$(count_messages $A)" 1 "one message for the key"
port=$(sed -E 's#.*:([0-9]+)/.*#\1#' <<<"$ORCH_REDIS_URL")
ttl=$(redis-cli -p "$port" PTTL "orch:idem:$A:k-replay")
ok "Redis holds orch:idem:{account}:{key} for the 48 h window (PTTL $ttl ms)" test "$ttl" -gt $((47 * 3600 * 1000)) -a "$ttl" -le $((48 * 3600 * 1000))
is "$(sql "SELECT round(extract(epoch FROM expires_at - created_at) / 3600) FROM orch.idempotency_keys WHERE account_id = '$A' AND idem_key = 'k-replay'")" 48 \
	"the PostgreSQL record expires after the window too"

# Redis lost the key (flushed): PostgreSQL still replays.
redis-cli -p "$port" FLUSHALL >/dev/null
send $A "$MSG" -H 'Idempotency-Key: k-replay'
is "$STATUS:$BODY" "202:$first" "Redis flushed: the PostgreSQL record replays the original answer"
is "$(header Idempotent-Replayed)" true "... marked replayed"
send $A '{"to":"+14155550100","from":"ACME","body":"other"}' -H 'Idempotency-Key: k-replay'
is_problem 422 "Redis flushed: another request with the key is still 422"
is "$(count_messages $A)" 1 "still one message"

# An in-flight marker left in Redis (written before Redis hung, the request answered while it could not
# be reached) never hides a finished request: PostgreSQL decides, and Redis is repaired from it.
fp=$(sql "SELECT fingerprint FROM orch.idempotency_keys WHERE account_id = '$A' AND idem_key = 'k-replay'")
redis-cli -p "$port" SET "orch:idem:$A:k-replay" "I:$fp" PX 28000 >/dev/null
send $A "$MSG" -H 'Idempotency-Key: k-replay'
is "$STATUS:$BODY" "202:$first" "a stale in-flight marker in Redis, a finished record in PostgreSQL: the original answer, not 409"
is "$(header Idempotent-Replayed)" true "... marked replayed"
is "$(redis-cli -p "$port" GET "orch:idem:$A:k-replay" | cut -c1-2)" "D:" "... and Redis is repaired from PostgreSQL"
redis-cli -p "$port" SET "orch:idem:$A:k-replay" "I:$fp" PX 28000 >/dev/null
send $A '{"to":"+14155550100","from":"ACME","body":"other"}' -H 'Idempotency-Key: k-replay'
is_problem 422 "a stale marker, another request with the key: still 422"
redis-cli -p "$port" SET "orch:idem:$A:k-genuine" "I:$fp" PX 28000 >/dev/null
send $A "$MSG" -H 'Idempotency-Key: k-genuine'
is_problem 409 "a marker and no finished record in PostgreSQL: the request is in flight, 409"
ok "... with Retry-After" test -n "$(header Retry-After)"
redis-cli -p "$port" DEL "orch:idem:$A:k-genuine" >/dev/null
is "$(count_messages $A)" 1 "still one message"

# 4xx is not remembered.
send $A '{"to":"+14155550100","from":"ACME"}' -H 'Idempotency-Key: k-fix'
is_problem 400 "an invalid request with a key: 400"
send $A "$MSG" -H 'Idempotency-Key: k-fix'
is "$STATUS" 202 "the fixed request with the same key: 202"

# 409 while the first is in flight: hold the accept transaction on a lock.
psql -X -q -U postgres -d orch -c "BEGIN; LOCK TABLE orch.idempotency_keys IN SHARE ROW EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;" >/dev/null &
lockpid=$!
sleep 0.3
curl -sS -o /dev/null -H "X-Consumer-Custom-ID: $A" -H 'Content-Type: application/json' \
	-H 'Idempotency-Key: k-slow' -d "$MSG" "$BASE_URL/v1/sms/send" &
slowpid=$!
sleep 0.3
send $A "$MSG" -H 'Idempotency-Key: k-slow'
is_problem 409 "same key while the first is in flight: 409"
is "$(jq -r .type <<<"$BODY")" "urn:sms-orchestrator:problem:idempotency-key-in-flight" "... of type idempotency-key-in-flight"
like "$(header Retry-After)" '^[0-9]+$' "... with Retry-After"
send $A '{"to":"+14155550100","from":"ACME","body":"different"}' -H 'Idempotency-Key: k-slow'
is_problem 422 "another request with an in-flight key: 422"
wait $slowpid $lockpid
send $A "$MSG" -H 'Idempotency-Key: k-slow'
is "$STATUS:$(header Idempotent-Replayed)" "202:true" "after the first finished: replayed"

# 20 concurrent requests with one key create exactly one message.
concurrent() { # key, output dir
	mkdir -p "$2"
	local pids=()
	for i in $(seq 1 20); do
		curl -sS -o "$2/$i.body" -w '%{http_code}\n' -H "X-Consumer-Custom-ID: $A" -H 'Content-Type: application/json' \
			-H "Idempotency-Key: $1" -d "$MSG" "$BASE_URL/v1/sms/send" >"$2/$i.code" &
		pids+=($!)
	done
	wait "${pids[@]}"
}
concurrent k-20 "$T_TMP/c20"
is "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A' AND idempotency_key = 'k-20'")" 1 \
	"20 concurrent requests with one key: exactly one message"
codes=$(cat "$T_TMP"/c20/*.code | sort | uniq -c | awk '{print $2}' | paste -sd,)
like "$codes" '^(202|409)(,(202|409))*$' "... each answered 202 or 409 ($codes)"
is "$(cat "$T_TMP"/c20/*.body | jq -r 'select(.messageId) | .messageId' | sort -u | wc -l)" 1 "... every 202 names the same message"

# Redis down: still accepting, still one message per key.
kill -STOP "$REDIS_PID"
t0=$(date +%s%N)
send $A "$MSG" -H 'Idempotency-Key: k-hung'
ms=$((($(date +%s%N) - t0) / 1000000))
is "$STATUS" 202 "Redis hung: still 202"
diag "answer with Redis hung took $ms ms"
ok "... within 2 s (Redis calls time out)" test "$ms" -lt 2000
send $A "$MSG" -H 'Idempotency-Key: k-hung'
is "$STATUS:$(header Idempotent-Replayed)" "202:true" "Redis hung: the PostgreSQL backstop replays"
kill -CONT "$REDIS_PID"
kill -TERM "$REDIS_PID"
for i in $(seq 1 50); do [ "$(awk '{print $3}' "/proc/$REDIS_PID/stat" 2>/dev/null || echo Z)" = Z ] && break; sleep 0.1; done
send $A "$MSG" -H 'Idempotency-Key: k-down'
is "$STATUS" 202 "Redis stopped: still 202"
concurrent k-down-20 "$T_TMP/d20"
is "$(sql "SELECT count(*) FROM orch.sms_messages WHERE account_id = '$A' AND idempotency_key = 'k-down-20'")" 1 \
	"Redis stopped, 20 concurrent requests with one key: exactly one message"
is "$(cat "$T_TMP"/d20/*.code | sort -u | paste -sd,)" 202 "... all answered 202 (one accepted, the rest replayed)"
send $A '{"to":"+14155550100","from":"ACME","body":"changed"}' -H 'Idempotency-Key: k-down-20'
is_problem 422 "Redis stopped: another request with the key is 422"
sleep 1.5
req GET /readyz
is "$STATUS:$(jq -r '.status + " " + (.checks.redis.degraded|tostring)' <<<"$BODY")" "200:degraded true" \
	"readyz: Redis down is degraded, still 200"
req GET /metrics
like "$BODY" $'\norch_redis_fail_open_total [1-9]' "metrics count the Redis fail-open"
like "$BODY" $'\norch_idempotency_replays_total [1-9]' "metrics count replays"
"$ORCH_ROOT/scripts/stack.sh" start test >/dev/null 2>&1
sleep 1.2
send $A "$MSG" -H 'Idempotency-Key: k-back'
is "$STATUS" 202 "Redis back: 202"
is "$(redis-cli -p "$port" GET "orch:idem:$A:k-back" | cut -c1-2)" "D:" "Redis back: the answer is stored in Redis again"

stop_serve; rc=$?
is "$rc" 0 "serve exits 0"
json_only
done_testing
