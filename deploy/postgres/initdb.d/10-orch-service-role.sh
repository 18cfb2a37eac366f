#!/bin/sh
# The service's login role, created once when the postgres container
# initializes an empty data volume (/docker-entrypoint-initdb.d; it does not
# run again on an existing volume).
#
# orch_service logs in with ORCH_SERVICE_PASSWORD and is a member of orch_app,
# nothing else. orch_app is created here too (NOLOGIN, as sql/090_roles.sql
# creates it when absent); `sms-orchestrator migrate`, run as the superuser,
# then grants orch_app exactly what the service needs. serve and reconcile log
# in as orch_service: orch_app holds every function reconcile calls.
set -e
if [ -z "${ORCH_SERVICE_PASSWORD:-}" ]; then
	echo "10-orch-service-role.sh: ORCH_SERVICE_PASSWORD is not set for the postgres container" >&2
	exit 1
fi
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
	-v pw="$ORCH_SERVICE_PASSWORD" <<'EOSQL'
SELECT 'CREATE ROLE orch_app NOLOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orch_app') \gexec
SELECT 'CREATE ROLE orch_service LOGIN'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orch_service') \gexec
ALTER ROLE orch_service WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw';
GRANT orch_app TO orch_service;
EOSQL
