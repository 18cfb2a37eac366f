#!/usr/bin/env bash
# The local stack: PostgreSQL, Redis, NATS with JetStream and the stand-in
# routing engine on loopback,
# each with a pidfile under .run/<profile>/, stopped by PID.
#
#   scripts/stack.sh start <run|test> [binary]   start (with the binary: migrate, and the
#                                                stand-in routing engine built beside it)
#   scripts/stack.sh stop  <run|test>            stop what start started
#   scripts/stack.sh wipe  <run|test>            stop and delete its data
#
# PostgreSQL refuses to run as root, so it runs as the postgres user; its data
# and socket live in a short /tmp directory that user can reach (a checkout
# under a private directory may not be), linked from .run/<profile>/pg.
# .run/<profile>/env holds the ORCH_* settings that point at the stack.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:?usage: stack.sh start|stop|wipe run|test [binary]}
profile=${2:?usage: stack.sh start|stop|wipe run|test [binary]}
bin=${3:-}

case $profile in
run) base=${ORCH_STACK_PORT_BASE:-15} http=${ORCH_STACK_HTTP_PORT:-8080} ;;
test) base=${ORCH_STACK_PORT_BASE:-25} http=${ORCH_STACK_PORT_BASE:-25}080 ;;
*) echo "stack.sh: profile must be run or test, got '$profile'" >&2; exit 2 ;;
esac
PG_PORT=${base}432 REDIS_PORT=${base}379 NATS_PORT=${base}222 NATS_MON=${base}822
ROUTING_PORT=${base}051 ROUTING_CONTROL=${base}052
RUN=$ROOT/.run/$profile
PGBASE=/tmp/sms-orch-$(printf '%s' "$RUN" | md5sum | cut -c1-10)
PGDATA=$PGBASE/data
PGBIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
[ -x "$PGBIN/initdb" ] || PGBIN=/usr/lib/postgresql/15/bin

log() { printf 'stack(%s): %s\n' "$profile" "$*" >&2; }
as_pg() { runuser -u postgres -- "$@"; }

wait_port() { # host port seconds what
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
		sleep 0.1
	done
	log "$4 did not open $1:$2 within $3 s"; return 1
}

# alive PID: running and not a zombie (a killed daemon whose reaper is not us stays a zombie a while, and kill -0 succeeds on it).
alive() {
	local state
	kill -0 "$1" 2>/dev/null || return 1
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$state" != Z ]
}

stop_pid() { # pidfile what
	local pidfile=$1 pid i
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile" 2>/dev/null || true)
	if [ -n "$pid" ] && alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.1; done
		alive "$pid" && { log "$2 ignored SIGTERM, killing"; kill -KILL "$pid" 2>/dev/null || true; }
	fi
	rm -f "$pidfile"
}

start_pg() {
	mkdir -p "$PGBASE"
	chown postgres: "$PGBASE"
	chmod 700 "$PGBASE"
	if [ ! -f "$PGDATA/PG_VERSION" ]; then
		as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PGBASE/initdb.log" 2>&1 \
			|| { cat "$PGBASE/initdb.log" >&2; exit 1; }
	fi
	ln -sfn "$PGBASE" "$RUN/pg"
	if as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
		log "PostgreSQL already running"
	else
		local extra="-c max_connections=300 -c shared_buffers=256MB"
		# run (make run, make bench), or any profile with ORCH_PGSS=1: pg_stat_statements for the top statements.
		[ "$profile" = run ] || [ -n "${ORCH_PGSS:-}" ] && extra="$extra -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c track_io_timing=on"
		[ "$profile" = test ] && extra="$extra -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
		# run: what docs/dba.md recommends for production ("Checkpoints and writeback"): a checkpoint every
		# 22-28 s of a drain at max_wal_size 1 GB held commits 140-235 ms as it began (its full-page
		# images); the data pages a burst of accepts evicted stayed dirty in the page cache until the
		# kernel wrote 300 MB back at once, 30 s later, and every fsync waited 90-220 ms behind it
		[ "$profile" = run ] && extra="$extra -c max_wal_size=4GB -c wal_compression=lz4 -c backend_flush_after=256kB"
		# ORCH_PG_OPTS: more server settings for a trial, e.g. "-c max_wal_size=8GB" (make bench: what checkpoints cost)
		extra="$extra ${ORCH_PG_OPTS:-}"
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGBASE/postgres.log" -w -t 30 \
			-o "-p $PG_PORT -k $PGBASE -c listen_addresses=127.0.0.1 $extra" start >/dev/null \
			|| { tail -20 "$PGBASE/postgres.log" >&2; exit 1; }
	fi
	psql -X -q -h "$PGBASE" -p "$PG_PORT" -U postgres -d postgres -tAc \
		"SELECT 1 FROM pg_database WHERE datname = 'orch'" | grep -q 1 \
		|| psql -X -q -h "$PGBASE" -p "$PG_PORT" -U postgres -d postgres -c "CREATE DATABASE orch" >/dev/null
}

start_redis() {
	mkdir -p "$RUN/redis"
	if [ -f "$RUN/redis.pid" ] && alive "$(cat "$RUN/redis.pid")"; then return 0; fi
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --pidfile "$RUN/redis.pid" \
		--logfile "$RUN/redis.log" --dir "$RUN/redis" --save '' --appendonly no >/dev/null
	wait_port 127.0.0.1 "$REDIS_PORT" 10 redis
}

start_nats() {
	mkdir -p "$RUN/nats"
	if [ -f "$RUN/nats.pid" ] && alive "$(cat "$RUN/nats.pid")"; then return 0; fi
	setsid nats-server -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MON" -js -sd "$RUN/nats" \
		-P "$RUN/nats.pid" -l "$RUN/nats.log" </dev/null >/dev/null 2>&1 &
	wait_port 127.0.0.1 "$NATS_PORT" 10 nats-server
}

# The stand-in routing engine, built next to the service's binary.
start_routing() {
	local standin
	standin=$(dirname "$bin")/routing-engine-standin
	[ -n "$bin" ] || return 0
	if [ ! -x "$standin" ]; then
		# (a binary copied elsewhere: without a routing engine every message waits behind an open circuit breaker)
		log "warning: no $standin beside the binary: no stand-in routing engine started (ORCH_ROUTING_ADDR must reach one)"
		return 0
	fi
	if [ -f "$RUN/routing.pid" ] && alive "$(cat "$RUN/routing.pid")"; then return 0; fi
	setsid "$standin" --listen "127.0.0.1:$ROUTING_PORT" --routes "$ROOT/data/routes.txt" \
		--control "127.0.0.1:$ROUTING_CONTROL" </dev/null >>"$RUN/routing.log" 2>&1 &
	echo $! >"$RUN/routing.pid"
	wait_port 127.0.0.1 "$ROUTING_PORT" 10 routing-engine-standin
}

write_env() {
	local sock=$PGBASE
	cat >"$RUN/env" <<EOT
# Settings for the local '$profile' stack (source this file).
export ORCH_DATABASE_URL='host=$sock port=$PG_PORT dbname=orch user=orch_service'
export ORCH_ADMIN_DATABASE_URL='host=$sock port=$PG_PORT dbname=orch user=postgres'
export ORCH_REDIS_URL='redis://127.0.0.1:$REDIS_PORT/0'
export ORCH_NATS_URL='nats://127.0.0.1:$NATS_PORT'
export ORCH_NATS_MONITOR='http://127.0.0.1:$NATS_MON'
export ORCH_HTTP_LISTEN='127.0.0.1:$http'
export ORCH_ROUTING_ADDR='127.0.0.1:$ROUTING_PORT'
export ORCH_ROUTING_CONTROL='http://127.0.0.1:$ROUTING_CONTROL'
export PGHOST='$sock' PGPORT='$PG_PORT' PGDATABASE=orch PGUSER=postgres
export ORCH_RUN_DIR='$RUN'
export ORCH_PG_DATA='$PGDATA' # the real path: the postgres user may not traverse .run/
EOT
}

# The service's login role: a member of orch_app, nothing else.
grant_service_role() {
	PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -h "$PGBASE" -p "$PG_PORT" -U postgres -d orch >/dev/null <<'EOSQL'
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orch_service') THEN
        CREATE ROLE orch_service LOGIN;
    END IF;
END $$;
GRANT orch_app TO orch_service;
EOSQL
}

case $cmd in
start)
	mkdir -p "$RUN"
	start_pg
	start_redis
	start_nats
	start_routing
	write_env
	if [ -n "$bin" ]; then
		ORCH_DATABASE_URL="host=$PGBASE port=$PG_PORT dbname=orch user=postgres" "$bin" migrate >>"$RUN/migrate.log" 2>&1 \
			|| { tail -20 "$RUN/migrate.log" >&2; exit 1; }
		grant_service_role
	fi
	routing="routing-engine stand-in :$ROUTING_PORT"
	[ -f "$RUN/routing.pid" ] && alive "$(cat "$RUN/routing.pid")" || routing="no routing-engine stand-in"
	log "up: PostgreSQL :$PG_PORT, Redis :$REDIS_PORT, NATS :$NATS_PORT, $routing (settings: .run/$profile/env)"
	;;
stop)
	stop_pid "$RUN/serve.pid" serve
	stop_pid "$RUN/routing.pid" routing-engine-standin
	stop_pid "$RUN/nats.pid" nats-server
	stop_pid "$RUN/redis.pid" redis-server
	if [ -f "$PGDATA/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
	fi
	log "stopped"
	;;
wipe)
	"$0" stop "$profile"
	rm -rf "$RUN" "$PGBASE"
	;;
*) echo "stack.sh: unknown command '$cmd'" >&2; exit 2 ;;
esac
