-- Roles. orch_app is what the service needs and nothing more: it reads the
-- tables, changes messages only through the SECURITY DEFINER functions
-- (orch.accept_message, orch.transition), and manages outbox publication and
-- idempotency records. orch_readonly can read every table and view.
-- Both are NOLOGIN: grant them to the login roles that deploy uses
-- (GRANT orch_app TO orch_service).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orch_app') THEN
        CREATE ROLE orch_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orch_readonly') THEN
        CREATE ROLE orch_readonly NOLOGIN;
    END IF;
END
$$;

REVOKE ALL ON ALL TABLES IN SCHEMA orch FROM PUBLIC, orch_app, orch_readonly;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA orch FROM PUBLIC, orch_app, orch_readonly;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA orch FROM PUBLIC, orch_app, orch_readonly;

GRANT USAGE ON SCHEMA orch TO orch_app, orch_readonly;

-- orch_readonly: read everything.
GRANT SELECT ON ALL TABLES IN SCHEMA orch TO orch_readonly;
GRANT EXECUTE ON FUNCTION orch.stuck_messages(interval), orch.iso_time(timestamptz),
    orch.outbox_backlog_estimate(), orch.message_json(uuid, text), orch.bulk_json(uuid, text),
    orch.lane_suffix(text), orch.redrive_default_reasons() TO orch_readonly;

-- orch_app: read everything; write only what its roles need.
GRANT SELECT ON ALL TABLES IN SCHEMA orch TO orch_app;
GRANT UPDATE (first_attempt_at, attempts, last_error, published_at) ON orch.outbox TO orch_app;
GRANT DELETE ON orch.outbox TO orch_app;
GRANT INSERT, UPDATE ON orch.operator_buckets TO orch_app;
GRANT INSERT, DELETE ON orch.idempotency_keys TO orch_app;
GRANT EXECUTE ON FUNCTION
    orch.accept_message(uuid, text, text, text, text, text, integer, text, text, timestamptz, text, text, text),
    orch.transition(uuid, text, text, text, text, text, text, timestamptz, boolean),
    orch.transition_many(uuid[], text, text, text[], text[], text[], text[], timestamptz[], boolean, boolean),
    orch.accept(text, text, text, integer, text, timestamptz, text, text, timestamptz, uuid[], text[], text[],
                text[], text[], integer[], text[], text[], timestamptz[], text[], timestamptz[], uuid),
    orch.outbox_backlog_estimate(),
    orch.message_json(uuid, text),
    orch.outbox_stamp_operator_rows(integer),
    orch.relay_stamp(integer),
    orch.outbox_claim(integer, interval),
    orch.outbox_claim(integer, interval, bigint[]),
    orch.outbox_claim(integer, interval, bigint[], text),
    orch.outbox_grant_operator_rows(integer),
    orch.operator_reserve(double precision, double precision),
    orch.outbox_mark_published(bigint[]),
    orch.outbox_mark_failed(bigint[], text),
    orch.outbox_purge(interval, integer),
    orch.pipeline_prepare(uuid[]),
    orch.pipeline_apply(uuid[], text[], text[], text[], text[], text[], timestamptz[], boolean),
    orch.outbox_claim_message_rows(uuid[], interval),
    orch.retry_due(integer),
    orch.next_retry_at(),
    orch.next_due_at(),
    orch.release_scheduled(integer),
    orch.cancel(text, uuid[]),
    orch.cancel_bulk(text, uuid),
    orch.cancelable_states(),
    orch.bulk_json(uuid, text),
    orch.lane_suffix(text),
    orch.reconcile(boolean, interval, interval, integer, bigint),
    orch.redrive(uuid[], text[], text, timestamptz, timestamptz, integer, boolean),
    orch.redrive_default_reasons(),
    orch.idempotency_purge(integer),
    orch.idempotency_lookup(text, text),
    orch.stuck_messages(interval),
    orch.iso_time(timestamptz),
    orch.uuid_v7(),
    orch.uuid_v7_floor(timestamptz),
    orch.uuid_v7_time(uuid),
    orch.partition_upkeep(boolean, interval, interval, timestamptz)
TO orch_app;

-- The partitions: read through the parents; readable one by one too (a
-- DBA's query on one day).
REVOKE ALL ON ALL TABLES IN SCHEMA orch_part FROM PUBLIC, orch_app, orch_readonly;
GRANT USAGE ON SCHEMA orch_part TO orch_app, orch_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA orch_part TO orch_app, orch_readonly;
GRANT EXECUTE ON FUNCTION orch.uuid_v7_floor(timestamptz), orch.uuid_v7_time(uuid),
    orch.partition_upper(oid), orch.partition_lower(oid) TO orch_readonly;
