#!/usr/bin/env bash
# The binary's command line: subcommands, --help/--version, configuration errors, secrets.
. "$(dirname "$0")/lib.sh"

version=$(cat "$ORCH_ROOT/VERSION")
for cmd in "" serve migrate reconcile redrive; do
	out=$("$ORCH_BIN" $cmd --version 2>&1); rc=$?
	is "$rc:$out" "0:sms-orchestrator $version" "${cmd:-(top)} --version prints the version"
	out=$("$ORCH_BIN" $cmd --help 2>&1); rc=$?
	like "$rc:$out" "^0:Usage: sms-orchestrator" "${cmd:-(top)} --help prints usage and exits 0"
done
out=$("$ORCH_BIN" serve --help 2>&1)
like "$out" "ORCH_DATABASE_URL.*--database-url" "help lists each setting with its flag"
out=$("$ORCH_BIN" frobnicate 2>&1); rc=$?
like "$rc:$out" '^2:.*unknown command "frobnicate"' "an unknown command exits 2 and names it"
out=$("$ORCH_BIN" migrate --bogus 2>&1); rc=$?
like "$rc:$out" '^2:.*unknown argument "--bogus"' "an unknown flag exits 2 and names it"

# A value that does not parse stops the program and names the variable.
for bad in ORCH_BULK_MAX=many ORCH_RETRY_BACKOFF=1s,2x ORCH_LOG_LEVEL=loud ORCH_NATS_PROVISION=maybe ORCH_ROLES=http,relya \
	ORCH_IDEMPOTENCY_TTL=48 ORCH_MAX_SEGMENTS=0; do
	var=${bad%%=*}
	out=$(env "$bad" "$ORCH_BIN" migrate --status 2>&1); rc=$?
	like "$rc:$out" "^2:.*configuration error: $var" "$var with a bad value: exit 2, message names it"
done
out=$("$ORCH_BIN" migrate --status --bulk-max nope 2>&1); rc=$?
like "$rc:$out" "^2:.*ORCH_BULK_MAX" "a bad flag value names its variable"

# Secrets never reach the logs, even at debug level.
out=$(ORCH_LOG_LEVEL=debug ORCH_UPSTREAM_TOKEN=tok-SECRET-123 \
	ORCH_DATABASE_URL="postgresql://nobody:pw-SECRET-456@127.0.0.1:1/orch?connect_timeout=1" \
	ORCH_REDIS_URL="redis://:pw-SECRET-789@127.0.0.1:1/0" "$ORCH_BIN" migrate 2>&1); rc=$?
is "$rc" 1 "migrate against an unreachable database exits 1"
like "$out" '"msg":"cannot connect to PostgreSQL"' "and says it cannot connect"
like "$out" 'postgresql://nobody:\*\*\*@127.0.0.1:1/orch' "the database URL is logged redacted"
unlike "$out" 'SECRET' "no password or token appears in the logs"
like "$out" '"name":"ORCH_UPSTREAM_TOKEN","value":"\(set\)"' "the token is logged only as (set)"
n=$(printf '%s\n' "$out" | grep -c '^{' || true)
m=$(printf '%s\n' "$out" | jq -c . 2>/dev/null | wc -l)
is "$m" "$n" "every log line is a JSON object"

out=$(ORCH_DATABASE_URL="postgresql://nobody@127.0.0.1:1/orch?connect_timeout=1" "$ORCH_BIN" reconcile 2>&1); rc=$?
like "$rc:$out" "^1:.*cannot connect to PostgreSQL" "reconcile with the database unreachable: exit 1 with a clear message"

# `make` (build only) on a machine without a package: one line naming it and `make deps`, nothing built.
mkdir -p "$T_TMP/fakebin"
cat >"$T_TMP/fakebin/dpkg-query" <<'FAKE'
#!/bin/sh
for a; do last=$a; done
[ "$last" = protobuf-c-compiler ] && { echo not-installed; exit 0; }
exec /usr/bin/dpkg-query "$@"
FAKE
chmod +x "$T_TMP/fakebin/dpkg-query"
out=$(cd "$ORCH_ROOT" && env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS -u ORCH_DEPS_CHECKED PATH="$T_TMP/fakebin:$PATH" make -n 2>&1); rc=$?
is "$rc" 2 "make without protobuf-c-compiler stops at once"
is "$(printf '%s\n' "$out" | wc -l)" 1 "... with one line"
like "$out" "protobuf-c-compiler.*make deps" "... naming the package and make deps"
done_testing
