#!/usr/bin/env bash
# migrate: fresh database, twice in a row, several at once, --status, a changed applied file.
. "$(dirname "$0")/lib.sh"

PGURL_BASE="host=$PGHOST port=$PGPORT user=postgres"
fresh_db() { psql -X -q -U postgres -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null; }
migrate() { local db=$1; shift; ORCH_DATABASE_URL="$PGURL_BASE dbname=$db" "$ORCH_BIN" migrate "$@"; }
q() { psql -X -q -tA -U postgres -d "$1" -c "$2"; }

fresh_db orch_mig1
ok "migrate on an empty database succeeds" migrate orch_mig1
is "$(q orch_mig1 'SELECT count(*) FROM orch.schema_migrations')" "$(ls "$ORCH_ROOT"/migrations/*.sql | wc -l)" \
	"every migration is recorded"
like "$(q orch_mig1 'SELECT checksum FROM orch.schema_migrations ORDER BY version LIMIT 1')" '^[0-9a-f]{64}$' \
	"each with a SHA-256 checksum"
sum=$(sha256sum "$ORCH_ROOT/migrations/0001_orch_schema.sql" | cut -c1-64)
is "$(q orch_mig1 'SELECT checksum FROM orch.schema_migrations WHERE version = 1')" "$sum" "the checksum is the file's SHA-256"
out=$(migrate orch_mig1 2>&1); rc=$?
like "$rc:$out" '^0:.*"applied":"0"' "migrate again: succeeds and applies nothing"
out=$(migrate orch_mig1 --status 2>&1); rc=$?
like "$rc:$out" '^0:.*0001_orch_schema.sql +applied' "--status lists the applied migration"

fresh_db orch_mig2
pids=()
for i in 1 2 3 4; do migrate orch_mig2 >"$T_TMP/par$i.log" 2>&1 & pids+=($!); done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
is "$fails" 0 "four migrates at once on an empty database all succeed"
is "$(q orch_mig2 'SELECT count(*) FROM orch.schema_migrations')" "$(ls "$ORCH_ROOT"/migrations/*.sql | wc -l)" \
	"and each migration is recorded once"
applied=$(cat "$T_TMP"/par*.log | grep -o '"applied":"[0-9]*"' | grep -vc '"0"')
is "$applied" 1 "exactly one of them applied the migrations"

# A changed applied migration: refused, named, nothing changed.
cp -r "$ORCH_ROOT/migrations" "$ORCH_ROOT/sql" "$T_TMP/"
printf '\n-- an edit after the fact\n' >>"$T_TMP/migrations/0001_orch_schema.sql"
out=$(migrate orch_mig1 --from "$T_TMP" 2>&1); rc=$?
is "$rc" 1 "a changed applied migration makes migrate fail"
like "$out" '"file":"migrations/0001_orch_schema.sql"' "the message names the changed file"
like "$out" 'has changed since it was applied' "and says what is wrong"
out=$(migrate orch_mig1 --from "$T_TMP" --status 2>&1); rc=$?
like "$rc:$out" '^1:.*0001_orch_schema.sql +CHANGED' "--status marks it CHANGED and exits 1"

# A new migration in the directory is applied, in the same transaction as sql/.
cp "$ORCH_ROOT/migrations/0001_orch_schema.sql" "$T_TMP/migrations/"
printf 'CREATE TABLE orch.mig_test (id int);\n' >"$T_TMP/migrations/9001_test.sql"
printf 'COMMENT ON TABLE orch.mig_test IS %s;\n' "'x'" >"$T_TMP/sql/999_test.sql"
out=$(migrate orch_mig1 --from "$T_TMP" 2>&1); rc=$?
like "$rc:$out" '^0:.*"file":"migrations/9001_test.sql"' "a new migration file is applied"
is "$(q orch_mig1 "SELECT obj_description('orch.mig_test'::regclass)")" "x" "and the repeatable SQL after it"
printf 'SELECT no_such_function();\n' >"$T_TMP/migrations/9002_broken.sql"
out=$(migrate orch_mig1 --from "$T_TMP" 2>&1); rc=$?
like "$rc:$out" '^1:.*9002_broken.sql' "a failing migration fails migrate and is named"
is "$(q orch_mig1 'SELECT max(version) FROM orch.schema_migrations')" 9001 "and nothing of it is recorded"

psql -X -q -U postgres -d postgres -c "DROP DATABASE orch_mig1" -c "DROP DATABASE orch_mig2" >/dev/null
done_testing
