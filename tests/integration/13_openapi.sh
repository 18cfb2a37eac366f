#!/usr/bin/env bash
# docs/openapi.yaml: Redocly's lint passes, and the document matches the real
# service (tests/tools/openapi_check.mjs: every example's status, body schema
# and headers, against serve with the gateway token configured). The
# checker's TAP lines are numbered on from this file's and counted here.
. "$(dirname "$0")/lib.sh"
A=acct-openapi-$$
TOKEN=openapi-gateway-token-$$
NPM_BIN=$ORCH_ROOT/scripts/npm/node_modules/.bin

"$ORCH_ROOT/scripts/npm.sh" >"$T_TMP/npm.log" 2>&1
rc=$?
is "$rc" 0 "scripts/npm.sh installs the documentation tools (Redocly CLI, ajv, yaml)"
[ "$rc" -eq 0 ] || sed 's/^/#   /' "$T_TMP/npm.log"

(cd "$ORCH_ROOT" && "$NPM_BIN/redocly" lint --config docs/redocly.yaml --format=stylish docs/openapi.yaml) >"$T_TMP/lint.log" 2>&1
rc=$?
is "$rc" 0 "redocly lint docs/openapi.yaml: no errors (recommended ruleset, docs/redocly.yaml)"
[ "$rc" -eq 0 ] || sed 's/^/#   /' "$T_TMP/lint.log"
grep -qE '^You have [0-9]+ warnings?' "$T_TMP/lint.log" && diag "lint: $(grep -E '^You have [0-9]+ warnings?' "$T_TMP/lint.log")"

start_serve ORCH_UPSTREAM_TOKEN="$TOKEN" || exit 1

TAP_START=$((T_N + 1)) node "$ORCH_ROOT/tests/tools/openapi_check.mjs" "$ORCH_ROOT/docs/openapi.yaml" "$BASE_URL" "$A" "$TOKEN" \
	>"$T_TMP/check.tap" 2>"$T_TMP/check.err"
rc=$?
cat "$T_TMP/check.tap"
pass=$(grep -cE '^ok [0-9]+' "$T_TMP/check.tap")
fail=$(grep -cE '^not ok [0-9]+' "$T_TMP/check.tap")
T_N=$((T_N + pass + fail)) T_FAILED=$((T_FAILED + fail))
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
	_report 1 "openapi_check.mjs exited with status $rc"
	sed 's/^/#   /' "$T_TMP/check.err" | tail -20
fi
ok "openapi_check.mjs ran its tests ($((pass + fail)))" test $((pass + fail)) -gt 0

stop_serve
rc=$?
is "$rc" 0 "serve exits 0 on SIGTERM"
unlike "$(grep -F "$TOKEN" "$SERVE_LOG")" '.' "the gateway token never appears in the logs"
done_testing
