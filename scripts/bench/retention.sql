-- `make bench-retention` only (scripts/bench/retention.sh): the old way of
-- removing a day, kept for the comparison with dropping its partitions.
-- Never installed by migrate; created in the benchmark's own database.
--
-- bench_old.outbox_purge is orch.outbox_purge as it was before migration
-- 0006 (sql/050_relay.sql at b00df73): small batches, oldest first by
-- outbox_published_at, SKIP LOCKED, one transaction per batch (the relay and
-- the reconciler called it in a loop). One change: it deletes by msg_id,
-- the partitioned outbox's primary key (by id, which has only the partial
-- index of the pending rows there, each batch would scan every partition).
-- bench_old.message_purge is the same pattern for a day's messages and their
-- history (the old schema had none: it is what a DBA would have written).
CREATE SCHEMA IF NOT EXISTS bench_old;

CREATE OR REPLACE FUNCTION bench_old.outbox_purge(p_before timestamptz, p_batch integer)
RETURNS integer LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE n integer;
BEGIN
    DELETE FROM outbox WHERE msg_id = ANY (ARRAY(
        SELECT msg_id FROM outbox WHERE published_at < p_before
        ORDER BY published_at LIMIT p_batch
        FOR UPDATE SKIP LOCKED));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION bench_old.message_purge(p_before uuid, p_batch integer)
RETURNS integer LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    v_ids uuid[];
BEGIN
    v_ids := ARRAY(SELECT id FROM sms_messages m
                   WHERE id < p_before AND status IN (SELECT status FROM message_states WHERE terminal)
                   ORDER BY id LIMIT p_batch FOR UPDATE SKIP LOCKED);
    DELETE FROM sms_status_history WHERE message_id = ANY (v_ids);
    DELETE FROM sms_messages WHERE id = ANY (v_ids);
    RETURN cardinality(v_ids);
END
$$;

-- Removes everything older than p_before as the old purge loop did: batch
-- after batch, each committed, until a batch finds nothing.
CREATE OR REPLACE PROCEDURE bench_old.purge_before(p_before timestamptz, p_batch integer)
LANGUAGE plpgsql
AS $$
DECLARE n integer;
BEGIN
    LOOP
        n := bench_old.outbox_purge(p_before, p_batch);
        COMMIT;
        EXIT WHEN n = 0;
    END LOOP;
    LOOP
        n := bench_old.message_purge(orch.uuid_v7_floor(p_before), p_batch);
        COMMIT;
        EXIT WHEN n = 0;
    END LOOP;
END
$$;
