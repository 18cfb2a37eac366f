-- The outbox relay's statements. A relay publishes pending rows in id order:
--   1. orch.outbox_stamp_operator_rows(): in its own, committed statement,
--      records the first publish attempt of smpp.operator.* rows about to be
--      published, so no crash can hide that an operator publish may have
--      gone out (domain.md: never republish one after the duplicate window);
--   2. in one transaction: orch.outbox_claim() locks the next rows (FOR
--      UPDATE SKIP LOCKED: several relays never publish the same row at the
--      same time), the relay publishes them, orch.outbox_mark_published()
--      and orch.outbox_mark_failed() record the outcome; for an acknowledged
--      smpp.operator.* row the message moves ROUTED -> SUBMITTED in that
--      same transaction.
-- An smpp.operator.* row is stamped and claimed only while its message is
-- ROUTED. When the message fails or expires first, orch.transition()
-- withdraws the row (orch.reconcile() too, finding operator_row_withdrawn,
-- for a row that transition could not lock): published_at is set without a
-- publish and last_error says "withdrawn: ...". So published_at means "left
-- the outbox" (published, or withdrawn), and a NULL one means pending.

-- Operator rows of ROUTED messages only (one primary-key probe each, as in
-- the claim below).
CREATE OR REPLACE FUNCTION orch.outbox_stamp_operator_rows(p_limit integer)
RETURNS integer LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    WITH c AS MATERIALIZED (
        SELECT o.id FROM outbox o
        WHERE o.published_at IS NULL AND o.first_attempt_at IS NULL AND o.subject LIKE 'smpp.operator.%'
          AND (SELECT m.status FROM sms_messages m WHERE m.id = o.message_id) = 'ROUTED'
        ORDER BY o.id LIMIT p_limit
        FOR UPDATE OF o SKIP LOCKED
    ), u AS (
        UPDATE outbox o SET first_attempt_at = clock_timestamp() FROM c WHERE o.id = c.id RETURNING 1
    )
    SELECT count(*)::integer INTO n FROM u;
    RETURN n;
END
$$;

-- The next pending rows, locked for the caller's transaction. Operator rows
-- are returned only when stamped, still inside the duplicate window, and
-- their message still ROUTED; older ones are left to reconciliation
-- (stuck_routed), and those of a message that is no longer ROUTED to their
-- withdrawal. The message check is a scalar subquery on purpose: one
-- primary-key probe per operator row reached, none for other rows (an
-- EXISTS here may be planned as a hash of every ROUTED message, built on
-- each call: slow exactly when a backlog of ROUTED messages builds up).
CREATE OR REPLACE FUNCTION orch.outbox_claim(p_limit integer, p_duplicate_window interval)
RETURNS TABLE (id bigint, msg_id uuid, subject text, headers text, payload text)
LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH c AS MATERIALIZED (
        SELECT o.id FROM outbox o
        WHERE o.published_at IS NULL
          AND (o.subject NOT LIKE 'smpp.operator.%'
               OR (o.first_attempt_at IS NOT NULL AND o.first_attempt_at > clock_timestamp() - p_duplicate_window
                   AND (SELECT m.status FROM sms_messages m WHERE m.id = o.message_id) = 'ROUTED'))
        ORDER BY o.id LIMIT p_limit
        FOR UPDATE OF o SKIP LOCKED
    )
    SELECT o.id, o.msg_id, o.subject, o.headers::text, o.payload::text
    FROM c JOIN outbox o ON o.id = c.id
    ORDER BY o.id;
END
$$;

-- The fast path of the writers (the accept writer after its commit, the
-- pipeline after the ROUTED transition): the pending rows of these
-- messages, locked for the caller's transaction (SKIP LOCKED: the ones a
-- relay holds are its to publish). Operator rows only as outbox_claim()
-- takes them: stamped (the pipeline stamps them in its ROUTED transaction),
-- inside the duplicate window, their message still ROUTED.
DROP FUNCTION IF EXISTS orch.outbox_claim_operator_rows(uuid[], interval); -- its first version, operator rows only
CREATE OR REPLACE FUNCTION orch.outbox_claim_message_rows(p_message_ids uuid[], p_duplicate_window interval)
RETURNS TABLE (id bigint, msg_id uuid, subject text, headers text, payload text)
LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH c AS MATERIALIZED (
        SELECT o.id FROM outbox o
        WHERE o.message_id = ANY (p_message_ids) AND o.published_at IS NULL
          AND (o.subject NOT LIKE 'smpp.operator.%'
               OR (o.first_attempt_at IS NOT NULL AND o.first_attempt_at > clock_timestamp() - p_duplicate_window
                   AND (SELECT m.status FROM sms_messages m WHERE m.id = o.message_id) = 'ROUTED'))
        ORDER BY o.id
        FOR UPDATE OF o SKIP LOCKED
    )
    SELECT o.id, o.msg_id, o.subject, o.headers::text, o.payload::text
    FROM c JOIN outbox o ON o.id = c.id
    ORDER BY o.id;
END
$$;

-- Marks rows published (JetStream acknowledged them); moves the messages of
-- operator rows ROUTED -> SUBMITTED. Returns how many messages moved.
CREATE OR REPLACE FUNCTION orch.outbox_mark_published(p_ids bigint[])
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    WITH u AS (
        UPDATE outbox SET published_at = clock_timestamp(), attempts = attempts + 1, last_error = NULL,
                          first_attempt_at = coalesce(first_attempt_at, clock_timestamp())
        WHERE id = ANY (p_ids) AND published_at IS NULL
        RETURNING message_id, subject
    )
    SELECT count(*)::integer INTO n
    FROM transition_many(ARRAY(SELECT u.message_id FROM u WHERE u.subject LIKE 'smpp.operator.%'),
                         'ROUTED', 'SUBMITTED');
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION orch.outbox_mark_failed(p_ids bigint[], p_error text)
RETURNS void LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE outbox SET attempts = attempts + 1, last_error = left(p_error, 500),
                      first_attempt_at = coalesce(first_attempt_at, clock_timestamp())
    WHERE id = ANY (p_ids) AND published_at IS NULL;
END
$$;

-- Deletes up to p_batch rows that left the outbox (published or withdrawn)
-- more than p_older_than ago; returns how many. Small batches, skipping locked rows: never a long lock.
-- Oldest first, as one index range on outbox_published_at, then by primary
-- key. The cut-off is a value computed first: written as clock_timestamp()
-- - p_older_than in the WHERE clause (volatile, so never an index
-- condition) it made the scan read every published row and its heap page to
-- find none old enough: 1.8 s on 1,000,000 rows, in the relay's thread
-- every 10 s and in every reconcile pass.
CREATE OR REPLACE FUNCTION orch.outbox_purge(p_older_than interval, p_batch integer)
RETURNS integer LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    v_before timestamptz := clock_timestamp() - p_older_than;
    n integer;
BEGIN
    DELETE FROM outbox WHERE id = ANY (ARRAY(
        SELECT id FROM outbox WHERE published_at < v_before
        ORDER BY published_at LIMIT p_batch
        FOR UPDATE SKIP LOCKED));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

COMMENT ON FUNCTION orch.outbox_stamp_operator_rows(integer) IS 'Relay step 1: records (and commits) the first publish attempt of the next smpp.operator rows (of ROUTED messages only) before they are published';
COMMENT ON FUNCTION orch.outbox_claim(integer, interval) IS 'Relay step 2: locks the next pending rows (FOR UPDATE SKIP LOCKED) for publishing; operator rows only when stamped, inside the duplicate window and their message still ROUTED';
COMMENT ON FUNCTION orch.outbox_claim_message_rows(uuid[], interval) IS 'Fast path of the accept writer and the pipeline: locks the pending rows of the given messages (operator rows only when stamped, in the window, message ROUTED; SKIP LOCKED) for publishing at once';
COMMENT ON FUNCTION orch.outbox_mark_published(bigint[]) IS 'Marks acknowledged rows published and moves their operator messages ROUTED -> SUBMITTED; returns how many moved';
COMMENT ON FUNCTION orch.outbox_mark_failed(bigint[], text) IS 'Records a failed publish attempt (attempts, last_error)';
COMMENT ON FUNCTION orch.outbox_purge(interval, integer) IS 'Deletes a small batch of published (or withdrawn) rows older than the retention; returns how many';
