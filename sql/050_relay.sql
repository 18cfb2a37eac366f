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

-- Operator rows of ROUTED messages still inside valid_until only (one
-- primary-key probe each, as in the claim below); high rows first (at most
-- nine tenths of p_limit, and of a limited operator's tokens, while normal
-- rows wait too), then in id order. An operator with a
-- row in orch.operator_limits gets only as many rows stamped as its token
-- bucket (orch.operator_buckets) holds: the bucket row is locked for this
-- statement, so two instances never grant the same tokens (one that finds
-- it locked leaves that operator's rows for its next round), and tokens are
-- taken when a row is stamped, that is just before it is published. A row
-- over the limit stays unstamped, its message ROUTED: it waits, in order,
-- and never ages towards the duplicate window.
-- The tokens a limited operator's bucket keeps back from a grant: 50 ms of
-- its rate, at most half its burst, whole tokens, and never the last one.
-- A token is taken when a row is granted, and the row reaches the
-- operator's stream a little later: 10-30 ms here, up to 150 ms on a
-- loaded 2-core machine (make bench, phase t). The reserve absorbs that
-- delay, so the operator sees at most max_per_second + burst in any second
-- by its own clock as well as by the grants'.
CREATE OR REPLACE FUNCTION orch.operator_reserve(p_max_per_second double precision, p_burst double precision)
RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT floor(greatest(0, least(p_burst - 1, p_burst / 2, p_max_per_second * 0.05)))::integer
$$;

CREATE OR REPLACE FUNCTION orch.outbox_grant_operator_rows(p_limit integer)
RETURNS bigint[] LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    v_ids bigint[] := '{}';
    v_op bigint[];
    v_limited boolean := EXISTS (SELECT 1 FROM operator_limits);
    v_now timestamptz := clock_timestamp();
    v_avail integer;
    b record;
BEGIN
    IF v_limited THEN
        -- A new limit starts with a full bucket.
        INSERT INTO operator_buckets (operator_id, tokens, refilled_at)
        SELECT l.operator_id, l.burst, clock_timestamp() FROM operator_limits l
        WHERE NOT EXISTS (SELECT 1 FROM operator_buckets x WHERE x.operator_id = l.operator_id)
        ON CONFLICT DO NOTHING;
        -- Each limited operator whose bucket this call can hold (another instance's grant holds
        -- it otherwise: its rows wait for the next round), with what it holds now (refilled
        -- lazily, capped at burst), less the reserve. Only as many of its rows as it has tokens
        -- for are locked and looked at: a grant round stays short however many rows wait.
        FOR b IN
            SELECT k.operator_id, l.max_per_second, l.burst,
                   least(l.burst::double precision,
                         k.tokens + l.max_per_second * greatest(0, extract(epoch FROM v_now - k.refilled_at))) AS tokens
            FROM operator_buckets k JOIN operator_limits l ON l.operator_id = k.operator_id
            ORDER BY k.operator_id
            FOR UPDATE OF k SKIP LOCKED
        LOOP
            v_avail := least(floor(b.tokens - operator_reserve(b.max_per_second, b.burst))::integer,
                             p_limit - cardinality(v_ids));
            CONTINUE WHEN v_avail < 1;
            WITH ch AS MATERIALIZED (
                SELECT o.id, o.priority FROM outbox o
                WHERE o.published_at IS NULL AND o.first_attempt_at IS NULL AND o.subject LIKE 'smpp.operator.%'
                  AND o.subject = 'smpp.operator.' || b.operator_id AND o.priority = 'high'
                  -- (one primary-key probe: still ROUTED and still valid: an expired message is never handed over)
                  AND (SELECT m.status = 'ROUTED' AND m.valid_until > v_now FROM sms_messages m WHERE m.id = o.message_id)
                ORDER BY o.id LIMIT v_avail
                FOR UPDATE OF o SKIP LOCKED
            ), cn AS MATERIALIZED (
                SELECT o.id, o.priority FROM outbox o
                WHERE o.published_at IS NULL AND o.first_attempt_at IS NULL AND o.subject LIKE 'smpp.operator.%'
                  AND o.subject = 'smpp.operator.' || b.operator_id AND o.priority = 'normal'
                  AND (SELECT m.status = 'ROUTED' AND m.valid_until > v_now FROM sms_messages m WHERE m.id = o.message_id)
                ORDER BY o.id LIMIT v_avail
                FOR UPDATE OF o SKIP LOCKED
            ), chosen AS (
                -- The order its tokens go in: high first, but every tenth to a normal row while both
                -- wait (normal keeps a tenth of the work, domain.md): the h-th high row gets
                -- h + (h - 1) / 9, the n-th normal row 10 n.
                SELECT c.id FROM (
                    SELECT ch.id, row_number() OVER (ORDER BY ch.id) AS rk, true AS high FROM ch
                    UNION ALL
                    SELECT cn.id, row_number() OVER (ORDER BY cn.id), false FROM cn) c
                ORDER BY CASE WHEN c.high THEN c.rk + (c.rk - 1) / 9 ELSE c.rk * 10 END, c.id
                LIMIT v_avail
            ), u AS (
                UPDATE outbox o SET first_attempt_at = clock_timestamp() FROM chosen WHERE o.id = chosen.id AND o.published_at IS NULL RETURNING o.id
            )
            SELECT coalesce(array_agg(u.id), '{}') INTO v_op FROM u;
            IF cardinality(v_op) > 0 THEN
                -- (the fraction of a token left is kept: floor()ing it away at every grant would slow the rate)
                -- (greatest(): a bucket another instance granted from after v_now was taken has no
                -- refill in this call, and its refilled_at must not go back, or the next refill would
                -- count that span twice)
                UPDATE operator_buckets k SET tokens = b.tokens - cardinality(v_op), refilled_at = greatest(k.refilled_at, v_now)
                WHERE k.operator_id = b.operator_id;
                v_ids := v_ids || v_op;
            END IF;
        END LOOP;
    END IF;
    -- Operators without a limit: high rows first (at most nine tenths of what is left while
    -- normal ones wait too), then normal, each in id order.
    IF cardinality(v_ids) < p_limit THEN
        WITH ch AS MATERIALIZED (
            SELECT o.id FROM outbox o
            WHERE o.published_at IS NULL AND o.first_attempt_at IS NULL AND o.subject LIKE 'smpp.operator.%'
              AND o.priority = 'high'
              AND (NOT v_limited OR substr(o.subject, 15) NOT IN (SELECT l.operator_id FROM operator_limits l))
              AND (SELECT m.status = 'ROUTED' AND m.valid_until > v_now FROM sms_messages m WHERE m.id = o.message_id)
            ORDER BY o.id LIMIT greatest(1, (p_limit - cardinality(v_ids)) - (p_limit - cardinality(v_ids)) / 10)
            FOR UPDATE OF o SKIP LOCKED
        ), cn AS MATERIALIZED (
            SELECT o.id FROM outbox o
            WHERE o.published_at IS NULL AND o.first_attempt_at IS NULL AND o.subject LIKE 'smpp.operator.%'
              AND o.priority = 'normal'
              AND (NOT v_limited OR substr(o.subject, 15) NOT IN (SELECT l.operator_id FROM operator_limits l))
              AND (SELECT m.status = 'ROUTED' AND m.valid_until > v_now FROM sms_messages m WHERE m.id = o.message_id)
            ORDER BY o.id LIMIT p_limit - cardinality(v_ids)
            FOR UPDATE OF o SKIP LOCKED
        ), chosen AS (
            SELECT c.id FROM (SELECT ch.id, true AS high FROM ch UNION ALL SELECT cn.id, false FROM cn) c
            ORDER BY c.high DESC, c.id LIMIT p_limit - cardinality(v_ids)
        ), u AS (
            UPDATE outbox o SET first_attempt_at = clock_timestamp() FROM chosen WHERE o.id = chosen.id AND o.published_at IS NULL RETURNING o.id
        )
        SELECT coalesce(array_agg(u.id), '{}') INTO v_op FROM u;
        v_ids := v_ids || v_op;
    END IF;
    RETURN ARRAY(SELECT unnest(v_ids) ORDER BY 1);
END
$$;

CREATE OR REPLACE FUNCTION orch.outbox_stamp_operator_rows(p_limit integer)
RETURNS integer LANGUAGE sql
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT cardinality(outbox_grant_operator_rows(p_limit))
$$;

-- The relay's stamp step: orch.outbox_stamp_operator_rows(), and when
-- rows wait for an operator's limit, in how many ms the first of those
-- operators has its next token (NULL when none wait), so the relay comes
-- back for them then and not a poll later.
-- (its first version returned stamped and next_grant_ms only: a new OUT column needs a DROP)
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc WHERE oid = 'orch.relay_stamp(integer)'::regprocedure
                                      AND NOT ('granted' = ANY (proargnames))) THEN
        DROP FUNCTION orch.relay_stamp(integer);
    END IF;
EXCEPTION WHEN undefined_function THEN NULL;
END
$$;
CREATE OR REPLACE FUNCTION orch.relay_stamp(p_limit integer, OUT stamped integer, OUT next_grant_ms integer, OUT granted bigint[])
LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
AS $$
BEGIN
    granted := outbox_grant_operator_rows(p_limit);
    stamped := cardinality(granted);
    IF EXISTS (SELECT 1 FROM operator_limits) THEN
        SELECT greatest(1, ceil(min(1000 * (1 + operator_reserve(l.max_per_second, l.burst) - least(l.burst::double precision,
                                                       coalesce(b.tokens, l.burst) + l.max_per_second
                                                           * greatest(0, extract(epoch FROM clock_timestamp() - b.refilled_at))))
                                           / l.max_per_second)))::integer
        INTO next_grant_ms
        FROM operator_limits l LEFT JOIN operator_buckets b ON b.operator_id = l.operator_id
        WHERE EXISTS (SELECT 1 FROM outbox o
                      WHERE o.published_at IS NULL AND o.first_attempt_at IS NULL
                        AND o.subject = 'smpp.operator.' || l.operator_id);
    END IF;
END
$$;

-- The next pending rows, locked for the caller's transaction: high rows
-- first, up to nine tenths of p_limit when normal rows wait too (normal
-- keeps at least a tenth of the work, domain.md), then normal rows, each
-- lane in id order. Operator rows are returned only when stamped, still
-- inside the duplicate window, and their message still ROUTED; older ones
-- are left to reconciliation (stuck_routed), and those of a message that is
-- no longer ROUTED to their withdrawal. The message check is a scalar
-- subquery on purpose: one primary-key probe per operator row reached, none
-- for other rows (an EXISTS here may be planned as a hash of every ROUTED
-- message, built on each call: slow exactly when a backlog of ROUTED
-- messages builds up). p_lane 'high' or 'normal': that lane's rows only,
-- up to all of p_limit (the relay's two batches: its high rows in a
-- transaction of their own, published and committed at once, never held
-- in a normal batch until its 500 rows are acknowledged); NULL: both.
CREATE OR REPLACE FUNCTION orch.outbox_claim(p_limit integer, p_duplicate_window interval, p_first bigint[],
                                             p_lane text)
RETURNS TABLE (id bigint, msg_id uuid, subject text, headers text, payload text)
LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_first bigint[] := '{}';
    v_high bigint[];
    v_normal bigint[];
    v_limited boolean := EXISTS (SELECT 1 FROM operator_limits);
    v_rest integer;
BEGIN
    IF p_lane IS NOT NULL AND p_lane NOT IN ('high', 'normal') THEN
        RAISE EXCEPTION 'outbox_claim: lane % is neither high nor normal', p_lane USING ERRCODE = '22023';
    END IF;
    IF coalesce(cardinality(p_first), 0) > 0 THEN
        v_first := ARRAY(
            SELECT o.id FROM outbox o
            WHERE o.id = ANY (p_first) AND o.published_at IS NULL
              AND (o.subject NOT LIKE 'smpp.operator.%'
                   OR (o.first_attempt_at IS NOT NULL AND o.first_attempt_at > clock_timestamp() - p_duplicate_window
                       AND (SELECT m.status FROM sms_messages m WHERE m.id = o.message_id) = 'ROUTED'))
            ORDER BY o.id
            -- (waiting, not SKIP LOCKED: another relay's stamp may hold one of these rows for a
            -- moment, having found it granted when it re-checked it; skipped, the row would wait a
            -- second for another relay and reach the operator late. Nobody holds these rows long,
            -- and no one waits for this transaction while holding them: the stamps and claims all
            -- SKIP LOCKED.)
            FOR UPDATE OF o);
    END IF;
    v_rest := p_limit - cardinality(v_first);
    -- (a limited operator's row granted in the last second is its granting relay's to publish, at
    -- once: published by another relay's next batch it would reach the operator late, bunched with
    -- later grants, above the limit in some 1 s window; after a second its relay is taken for gone)
    v_high := '{}';
    v_normal := '{}';
    IF p_lane IS DISTINCT FROM 'normal' THEN
        v_high := ARRAY(
            SELECT o.id FROM outbox o
            WHERE o.published_at IS NULL AND o.priority = 'high' AND o.id <> ALL (v_first)
              AND (o.subject NOT LIKE 'smpp.operator.%'
                   OR (o.first_attempt_at IS NOT NULL AND o.first_attempt_at > clock_timestamp() - p_duplicate_window
                       AND (SELECT m.status FROM sms_messages m WHERE m.id = o.message_id) = 'ROUTED'
                       AND NOT (v_limited AND o.first_attempt_at > clock_timestamp() - interval '1 second'
                                AND EXISTS (SELECT 1 FROM operator_limits l WHERE l.operator_id = substr(o.subject, 15)))))
            ORDER BY o.id LIMIT CASE WHEN v_rest <= 0 THEN 0 WHEN p_lane = 'high' THEN v_rest
                                     ELSE greatest(1, v_rest - v_rest / 10) END
            FOR UPDATE OF o SKIP LOCKED);
    END IF;
    IF p_lane IS DISTINCT FROM 'high' THEN
        v_normal := ARRAY(
            SELECT o.id FROM outbox o
            WHERE o.published_at IS NULL AND o.priority = 'normal' AND o.id <> ALL (v_first)
              AND (o.subject NOT LIKE 'smpp.operator.%'
                   OR (o.first_attempt_at IS NOT NULL AND o.first_attempt_at > clock_timestamp() - p_duplicate_window
                       AND (SELECT m.status FROM sms_messages m WHERE m.id = o.message_id) = 'ROUTED'
                       AND NOT (v_limited AND o.first_attempt_at > clock_timestamp() - interval '1 second'
                                AND EXISTS (SELECT 1 FROM operator_limits l WHERE l.operator_id = substr(o.subject, 15)))))
            ORDER BY o.id LIMIT greatest(0, v_rest - cardinality(v_high))
            FOR UPDATE OF o SKIP LOCKED);
    END IF;
    RETURN QUERY
    SELECT o.id, o.msg_id, o.subject, o.headers::text, o.payload::text
    FROM outbox o
    -- ("published_at IS NULL", true of every row locked above: the partial index on id is the
    -- only index on id the partitions have; without it every partition is scanned)
    WHERE o.id = ANY (v_first || v_high || v_normal) AND o.published_at IS NULL
    ORDER BY o.id = ANY (v_first) DESC, o.priority = 'high' DESC, o.id;
END
$$;

CREATE OR REPLACE FUNCTION orch.outbox_claim(p_limit integer, p_duplicate_window interval, p_first bigint[])
RETURNS TABLE (id bigint, msg_id uuid, subject text, headers text, payload text)
LANGUAGE sql
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT * FROM outbox_claim(p_limit, p_duplicate_window, p_first, NULL::text)
$$;

CREATE OR REPLACE FUNCTION orch.outbox_claim(p_limit integer, p_duplicate_window interval)
RETURNS TABLE (id bigint, msg_id uuid, subject text, headers text, payload text)
LANGUAGE sql
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT * FROM outbox_claim(p_limit, p_duplicate_window, NULL::bigint[], NULL::text)
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
    FROM c JOIN outbox o ON o.id = c.id AND o.published_at IS NULL  -- (the partial index on id, as above)
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
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    v_before timestamptz := clock_timestamp() - p_older_than;
    n integer;
BEGIN
    -- Only the default partition: the day partitions leave whole
    -- (orch.partition_upkeep drops them), without a dead tuple.
    -- (by msg_id, the primary key: id has only the partial index of the pending rows)
    DELETE FROM orch_part.outbox_default WHERE msg_id = ANY (ARRAY(
        SELECT msg_id FROM orch_part.outbox_default WHERE published_at < v_before
        ORDER BY published_at LIMIT p_batch
        FOR UPDATE SKIP LOCKED));
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

COMMENT ON FUNCTION orch.outbox_stamp_operator_rows(integer) IS 'Relay step 1: records (and commits) the first publish attempt of the next smpp.operator rows (of ROUTED messages only, high first, within each limited operator''s token bucket) before they are published';
COMMENT ON FUNCTION orch.relay_stamp(integer) IS 'Relay step 1 as the relay calls it: stamps (outbox_stamp_operator_rows) and says in how many ms the next token of an operator with waiting rows is due (NULL: none wait)';
COMMENT ON FUNCTION orch.outbox_claim(integer, interval, bigint[]) IS 'Relay step 2 after a grant: the rows just granted (p_first: relay_stamp''s granted ids) first, to be published at once, then outbox_claim(p_limit, window); a limited operator''s row granted in the last second is left to the relay that granted it';
COMMENT ON FUNCTION orch.operator_reserve(double precision, double precision) IS 'Tokens a limited operator''s bucket keeps back from grants (50 ms of its rate, at most half its burst, never the last token): they absorb the delay between a grant and its publish';
COMMENT ON FUNCTION orch.outbox_grant_operator_rows(integer) IS 'Relay step 1: stamps (records the first attempt of) the next smpp.operator rows within each limited operator''s token bucket, as outbox_stamp_operator_rows; returns their ids';
COMMENT ON FUNCTION orch.outbox_claim(integer, interval, bigint[], text) IS 'Relay step 2, the whole of it: p_first''s rows first, then the next pending rows of lane p_lane (high or normal) up to p_limit, or with p_lane NULL high first (at most 9/10 of the batch), then normal; operator rows only when stamped, inside the duplicate window and their message still ROUTED (FOR UPDATE SKIP LOCKED)';
COMMENT ON FUNCTION orch.outbox_claim(integer, interval) IS 'Relay step 2: locks the next pending rows (FOR UPDATE SKIP LOCKED) for publishing, high first (at most 9/10 of the batch), then normal; operator rows only when stamped, inside the duplicate window and their message still ROUTED';
COMMENT ON FUNCTION orch.outbox_claim_message_rows(uuid[], interval) IS 'Fast path of the accept writer and the pipeline: locks the pending rows of the given messages (operator rows only when stamped, in the window, message ROUTED; SKIP LOCKED) for publishing at once';
COMMENT ON FUNCTION orch.outbox_mark_published(bigint[]) IS 'Marks acknowledged rows published and moves their operator messages ROUTED -> SUBMITTED; returns how many moved';
COMMENT ON FUNCTION orch.outbox_mark_failed(bigint[], text) IS 'Records a failed publish attempt (attempts, last_error)';
COMMENT ON FUNCTION orch.outbox_purge(interval, integer) IS 'Deletes a small batch of published (or withdrawn) rows of the default partition older than the retention; returns how many (day partitions are dropped whole by orch.partition_upkeep)';
