#!/usr/bin/env bash
# The alerting rules and the Grafana dashboard (deploy/prometheus, deploy/grafana):
# promtool checks the rules and runs their unit tests; every alert has a
# severity, a summary, a description and a runbook_url whose anchor is a
# heading of docs/operations.md; the dashboard is valid JSON with a templated
# data source and expressions that parse; and every metric that a rule or a
# panel names (with the labels and label values it compares to) is one a real
# serve exposes on /metrics after some work. The last part is shown to fail
# on a renamed metric, a misspelt label and a bare histogram name.
. "$(dirname "$0")/lib.sh"
RULES=$ORCH_ROOT/deploy/prometheus/rules.yml
DASH=$ORCH_ROOT/deploy/grafana/sms-orchestrator.json
ALLOW=$ORCH_ROOT/tests/tools/metric_names_allowlist.txt
CHECK=$ORCH_ROOT/tests/tools/metric_names_check.mjs
A=acct-alert-$$

# --- promtool ------------------------------------------------------------------
ok "promtool is installed (Debian's prometheus package)" command -v promtool
out=$(promtool check rules "$RULES" 2>&1)
is "$?" 0 "promtool check rules deploy/prometheus/rules.yml"
[[ $out =~ SUCCESS ]] || diag "${out:0:1500}"
out=$(cd "$ORCH_ROOT/deploy/prometheus/tests" && promtool test rules ./*.yml 2>&1)
is "$?" 0 "promtool test rules deploy/prometheus/tests/*.yml (every alert fires when it should, and not when it should not)"
[[ $out =~ FAILED ]] && diag "${out:0:3000}"
# Every alert is under test: named in an alert_rule_test with and without an expected alert.
alerts=$(awk '$1 == "-" && $2 == "alert:" { print $3 }' "$RULES" | sort -u)
tested=$(cat "$ORCH_ROOT"/deploy/prometheus/tests/*.yml | awk '$1 == "-" && $2 == "alertname:" { print $3 }' | sort -u)
is "$(comm -23 <(echo "$alerts") <(echo "$tested") | paste -sd ' ')" "" "every alert of rules.yml has a unit test"
is "$(wc -l <<<"$alerts")" 16 "rules.yml has the 16 alerts docs/operations.md lists"

# --- the rules' annotations and runbooks -----------------------------------------
"$ORCH_ROOT/scripts/npm.sh" >"$T_TMP/npm.log" 2>&1
is "$?" 0 "scripts/npm.sh installs the yaml package the checks use"
out=$(node "$CHECK" alerts "$RULES" "$ORCH_ROOT/docs/operations.md" 2>&1)
is "$?" 0 "every alert: severity critical or warning, summary, description, runbook_url to a heading of docs/operations.md"
[ -z "${out%%*0 problems}" ] || diag "$out"
for a in $alerts; do
	grep -q "^| \[$a\](#${a,,}) |" "$ORCH_ROOT/docs/operations.md" || echo "$a"
done >"$T_TMP/unlisted"
is "$(paste -sd ' ' "$T_TMP/unlisted")" "" "docs/operations.md's alert table lists every alert"

# --- the dashboard ---------------------------------------------------------------
ok "the dashboard is valid JSON" jq -e . "$DASH"
is "$(jq -r '[.templating.list[] | select(.type == "datasource" and .query == "prometheus") | .name] | join(" ")' "$DASH")" datasource \
	"the data source is a templated variable (datasource, of type prometheus)"
is "$(jq -r '[.. | objects | select(has("targets")) | (.datasource.uid, (.targets[] | .datasource.uid))] | map(select(. != "${datasource}")) | length' "$DASH")" 0 \
	"every panel and every target uses \${datasource}"
is "$(jq -r '[.panels[] | select(.type != "row") | select((.targets // []) | length == 0)] | length' "$DASH")" 0 "every panel has a query"
for t in "Accept 5xx" "Accept p99" "Oldest unpublished outbox row" "Pipeline lag" "Routing breaker" "Dead letters" \
	"Waiting per operator" "Published per operator" "Reconcile findings" "Idempotency and Redis fail-open" "Relay publishes"; do
	jq -e --arg t "$t" '[.panels[] | select(.title == $t)] | length == 1' "$DASH" >/dev/null || echo "$t"
done >"$T_TMP/missing"
is "$(paste -sd ',' "$T_TMP/missing")" "" "the dashboard has the on-call panels (accept, outbox, relay, pipeline, breaker, dead letters, operators, reconcile, Redis)"
node "$CHECK" dashboard-rules "$DASH" >"$T_TMP/dashboard-rules.yml" 2>"$T_TMP/dashboard-rules.err"
out=$(promtool check rules "$T_TMP/dashboard-rules.yml" 2>&1)
is "$?" 0 "every dashboard expression parses (promtool, as recording rules, Grafana's variables replaced)"
[[ $out =~ SUCCESS ]] || diag "${out:0:1500}"

# --- a serve that did some work: every label the expressions use has a series ---
sql "DELETE FROM orch.operator_limits" >/dev/null
sql "INSERT INTO orch.operator_limits (operator_id, max_per_second, burst) VALUES ('op-uk', 1000, 100)" >/dev/null
# ORCH_STUCK_AFTER 10s: the reconciler role runs a pass every 5 s.
start_serve ORCH_STUCK_AFTER=10s || exit 1
send $A '{"to":"+442071838750","from":"ACME","body":"alerting check"}'
is "$STATUS" 202 "a send (to op-uk, which has a limit) is accepted"
ID=$(jq -r .messageId <<<"$BODY")
send $A '{"to":"+14155550100","from":"ACME","body":"alerting check","priority":"high"}'
bulk $A '{"messages":[{"to":"+4915112345678","from":"ACME","body":"one"},{"to":"+33612345678","from":"ACME","body":"two"}]}'
is "$STATUS" 202 "a bulk is accepted"
req GET "/v1/sms/$ID" -H "X-Consumer-Custom-ID: $A"
submitted() { [ "$(sql "SELECT status FROM orch.sms_messages WHERE id = '$ID'")" = SUBMITTED ]; }
wait_for "the message to op-uk reaches SUBMITTED" 20 submitted
scrape() { curl -sS "http://$ORCH_HTTP_LISTEN/metrics" >"$T_TMP/metrics.txt"; }
worked() {
	scrape
	grep -q '^orch_reconcile_passes_total [1-9]' "$T_TMP/metrics.txt" &&
		grep -q '^orch_operator_waiting{operator="op-uk"}' "$T_TMP/metrics.txt" &&
		grep -q '^orch_pipeline_pending{lane="high"}' "$T_TMP/metrics.txt" &&
		grep -q '^orch_operator_published_total{operator="op-uk"} [1-9]' "$T_TMP/metrics.txt"
}
wait_for "the scrape has a reconcile pass, op-uk's waiting and published series, both pipeline lanes" 20 worked
like "$(cat "$T_TMP/metrics.txt")" 'orch_outbox_backlog_limit 1000000' "orch_outbox_backlog_limit is ORCH_MAX_BACKLOG"
n_findings=$("$ORCH_BIN" reconcile --dry-run 2>/dev/null | jq '.findings | length')
is "$(grep -c '^orch_reconcile_findings_total{finding="[a-z_]*"} [0-9]' "$T_TMP/metrics.txt")" "$n_findings" \
	"every finding of a reconcile pass has its series (written from the start, at 0 until found)"
out=$(node "$CHECK" check "$RULES" "$DASH" "$T_TMP/metrics.txt" "$ALLOW" 2>"$T_TMP/check.err")
is "$?:$out" "0:" "every metric, label and label value of the rules and the dashboard is in the scrape of /metrics"
diag "$(cat "$T_TMP/check.err")"
like "$(cat "$T_TMP/check.err")" '^[0-9]+ expressions, [0-9]{2,} series names, 0 problems' "... the check read the expressions (tens of names)"
names=$(node "$CHECK" names "$RULES" "$DASH" | cut -f1 | sort -u)
diag "distinct names checked: $(grep -c '^orch_' <<<"$names") of the service's, $(grep -c '^orch:' <<<"$names") recorded"
is "$(grep -vE '^(orch_|orch:)' <<<"$names" | paste -sd ' ')" up "the only name that is not the service's own is up (allow-listed)"
is "$(grep -cvE '^\s*(#|$)' "$ALLOW")" 1 "the allow-list holds one name"
stop_serve

# --- the check fails on a renamed metric, a misspelt label, a bare histogram ----
sed 's/orch_relay_errors_total/orch_relay_error_total/' "$RULES" >"$T_TMP/rules-renamed.yml"
out=$(node "$CHECK" check "$T_TMP/rules-renamed.yml" "$DASH" "$T_TMP/metrics.txt" "$ALLOW" 2>/dev/null)
rc=$?
is "$rc" 1 "a rule naming a metric that does not exist fails the check"
like "$out" 'record orch:relay_errors:rate5m: orch_relay_error_total: no such metric in /metrics' "... naming the rule and the metric"
diag "renamed metric: $out"
jq '(.panels[] | select(.title == "Waiting per operator") | .targets[0].expr) |= sub("by \\(operator\\)"; "by (operater)")' "$DASH" >"$T_TMP/dash-label.json"
out=$(node "$CHECK" check "$RULES" "$T_TMP/dash-label.json" "$T_TMP/metrics.txt" "$ALLOW" 2>/dev/null)
is "$?" 1 "a panel grouping by a label the metric does not have fails the check"
like "$out" 'panel "Waiting per operator" A: grouping label operater is on no series of orch_operator_waiting' "... naming the panel and the label"
jq '(.panels[] | select(.title == "Accept latency") | .targets[0].expr) |= sub("orch_accept_latency_seconds_bucket"; "orch_accept_latency_seconds")' "$DASH" >"$T_TMP/dash-hist.json"
out=$(node "$CHECK" check "$RULES" "$T_TMP/dash-hist.json" "$T_TMP/metrics.txt" "$ALLOW" 2>/dev/null)
is "$?" 1 "a panel naming a histogram without _bucket/_sum/_count fails the check"
like "$out" 'orch_accept_latency_seconds is a histogram' "... saying so"
sed 's/finding!="operator_limit_waiting"/finding!="operator_limits_waiting"/' "$RULES" >"$T_TMP/rules-value.yml"
out=$(node "$CHECK" check "$T_TMP/rules-value.yml" "$DASH" "$T_TMP/metrics.txt" "$ALLOW" 2>/dev/null)
is "$?" 1 "a label value that the scrape never shows fails the check"
like "$out" 'finding="operator_limits_waiting"\}: no such value' "... naming the value"
sql "DELETE FROM orch.operator_limits" >/dev/null
done_testing
