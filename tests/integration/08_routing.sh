#!/usr/bin/env bash
# The routing-engine client against the stand-in engine: routes, status mapping, deadlines, many calls at once, engine down.
. "$(dirname "$0")/lib.sh"
ROUTE=$ORCH_TOOLS/route
r() { "$ROUTE" "$ORCH_ROUTING_ADDR" "${2:-250}" "$1" "${3:-1}" 2>/dev/null; }
routing_control reset=1

is "$(r +14155550100 | jq -c '[.outcome,.operatorId,.routeId]')" '["ok","op-sfo","r-sfo-1"]' "longest prefix wins (+1415 over +1)"
is "$(r +12125550100 | jq -c '[.outcome,.operatorId]')" '["ok","op-nanp"]' "a shorter prefix when no longer one matches"
is "$(r +9991234567 | jq -c '[.outcome,.status,.code]')" '["permanent",5,"no_route"]' "NOT_FOUND (no route) is permanent"
is "$(r 12345 | jq -c '[.outcome,.status,.code]')" '["permanent",3,"invalid_argument"]' "INVALID_ARGUMENT is permanent"
is "$(r +8881234567 | jq -c '[.outcome,.code]')" '["permanent","invalid_operator_id"]' "an operator id that is not a subject token is permanent"
for st in UNAVAILABLE RESOURCE_EXHAUSTED ABORTED INTERNAL; do
	routing_control "fail=$st"
	is "$(r +14155550100 | jq -r .outcome)" transient "$st is transient"
done
routing_control "reset=1&fail=UNAVAILABLE&fail_first=2"
is "$(for i in 1 2 3; do r +14155550100 | jq -r .outcome; done | paste -sd,)" "transient,transient,ok" "fail_first=2 fails two calls, then answers"
routing_control "reset=1&delay_ms=400"
out=$(r +14155550100 250)
is "$(jq -c '[.outcome,.code]' <<<"$out")" '["transient","deadline_exceeded"]' "a slow engine hits the deadline: DEADLINE_EXCEEDED, transient"
diag "the call ended after $(jq .ms <<<"$out") ms (deadline 250 ms, the engine answers after 400 ms)"
routing_control "reset=1&delay_ms=100"
out=$(r +14155550100 1000 50)
is "$(jq -s 'map(select(.outcome == "ok")) | length' <<<"$out")" 50 "50 calls at once all answer"
ok "many calls in flight: 50 calls of 100 ms each end long before 50 x 100 ms ($(jq -s 'map(.ms) | max' <<<"$out") ms)" \
	test "$(jq -s 'map(.ms) | max < 2500' <<<"$out")" = true
routing_control reset=1
routing_stop
is "$(r +14155550100 | jq -c '[.outcome,.status]')" '["transient",14]' "engine down: UNAVAILABLE at once, transient"
routing_start
is "$(r +14155550100 | jq -r .outcome)" ok "engine back: the next call answers"
done_testing
