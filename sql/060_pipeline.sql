-- The pipeline's statements (domain.md, the five stages). For a batch of
-- messages taken from sms.outbound.request / sms.outbound.retry:
--   orch.pipeline_prepare(ids): stage 1 (idempotency: a message not QUEUED
--     is skipped) and stage 2 (domain validation: blocklist, account policy,
--     validity), making REJECTED / EXPIRED messages so at once; returns what
--     routing needs for the others;
--   (routing-engine is called for each, concurrently, by the service)
--   orch.pipeline_apply(...): stages 3-5 as compare-and-set transitions:
--     ROUTED (with the operator outbox row), RETRY_SCHEDULED, FAILED.
--   orch.retry_due(limit): the retry scheduler's RETRY_SCHEDULED -> QUEUED.

-- Why a message may not be sent, or NULL: the longest blocklisted prefix,
-- a suspended account, a sender the account may not use.
-- (No SET clause, names qualified: with one, every call would be planned again.)
CREATE OR REPLACE FUNCTION orch.rejection_reason(m orch.sms_messages)
RETURNS text LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        (SELECT b.reason FROM orch.destination_blocklist b WHERE m.to_e164 LIKE b.prefix || '%'
         ORDER BY length(b.prefix) DESC LIMIT 1),
        (SELECT CASE WHEN p.suspended THEN 'account_suspended'
                     WHEN p.allowed_senders IS NOT NULL AND NOT (m.sender = ANY (p.allowed_senders)) THEN 'sender_not_allowed'
                END
         FROM orch.account_policy p WHERE p.account_id = m.account_id))
$$;

-- Its result gained the column attempt (migration 0003): an older definition must go first.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'pipeline_prepare' AND pronamespace = 'orch'::regnamespace
               AND NOT ('attempt' = ANY (proargnames))) THEN
        DROP FUNCTION orch.pipeline_prepare(uuid[]);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION orch.pipeline_prepare(p_ids uuid[])
RETURNS TABLE (id uuid, action text, account_id text, to_e164 text, sender text, encoding text,
               segments integer, attempt_count integer, attempt integer)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_expired uuid[];
    v_rejected uuid[];
    v_reasons text[];
    v_route uuid[];
BEGIN
    -- Stage 2, set-based, from one read of the batch by primary key: what is
    -- past valid_until, what domain validation refuses, and what is routed.
    WITH b AS MATERIALIZED ( -- (materialized: rejection_reason once per message, not once per use)
        SELECT s.id, s.status, s.valid_until,
               CASE WHEN s.status = 'QUEUED' AND s.valid_until > now() THEN rejection_reason(s) END AS reason
        FROM sms_messages s WHERE s.id = ANY (p_ids)
    )
    SELECT array_agg(b.id) FILTER (WHERE b.status = 'QUEUED' AND b.valid_until <= now()),
           array_agg(b.id) FILTER (WHERE b.reason IS NOT NULL),
           array_agg(b.reason) FILTER (WHERE b.reason IS NOT NULL),
           array_agg(b.id) FILTER (WHERE b.status = 'QUEUED' AND b.valid_until > now() AND b.reason IS NULL)
    INTO v_expired, v_rejected, v_reasons, v_route
    FROM b;
    PERFORM transition_many(v_expired, 'QUEUED', 'EXPIRED',
                            array_fill('expired'::text, ARRAY[coalesce(cardinality(v_expired), 0)]),
                            array_fill('valid_until passed before the message was routed'::text,
                                       ARRAY[coalesce(cardinality(v_expired), 0)]));
    PERFORM transition_many(v_rejected, 'QUEUED', 'REJECTED', v_reasons,
                            ARRAY(SELECT 'refused by domain validation: ' || r FROM unnest(v_reasons) AS r));
    RETURN QUERY
    WITH r AS (
        -- The call about to be made takes the next call number, durably, before it is made:
        -- a call that is never charged (breaker open, batch redelivered) still uses it up.
        -- (status ... IS TRUE: by primary key, see orch.transition_many)
        UPDATE sms_messages s SET routing_calls = s.routing_calls + 1
        WHERE s.id = ANY (coalesce(v_route, '{}')) AND (s.status = 'QUEUED') IS TRUE
        RETURNING s.id, s.account_id, s.to_e164, s.sender, s.encoding, s.segments, s.attempt_count,
                  s.routing_calls - 1 AS attempt
    )
    -- attempt: the number the routing call for this message carries (routing_calls before the call).
    SELECT r.id, 'route'::text, r.account_id, r.to_e164, r.sender, r.encoding, r.segments::integer,
           r.attempt_count, r.attempt
    FROM r
    UNION ALL
    SELECT s.id, CASE WHEN s.id = ANY (coalesce(v_expired, '{}')) AND s.status = 'EXPIRED' THEN 'expired'
                      WHEN s.id = ANY (coalesce(v_rejected, '{}')) AND s.status = 'REJECTED' THEN 'rejected'
                      ELSE 'skip' END,
           s.account_id, s.to_e164, s.sender, s.encoding, s.segments::integer, s.attempt_count, NULL::integer
    FROM sms_messages s
    WHERE s.id = ANY (p_ids) AND NOT EXISTS (SELECT 1 FROM r WHERE r.id = s.id)
    UNION ALL
    -- Ids with no row: unknown messages (a stream holding what the database lost); reported, acknowledged.
    SELECT u.i, 'unknown'::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::integer, NULL::integer,
           NULL::integer
    FROM unnest(p_ids) AS u(i) WHERE NOT EXISTS (SELECT 1 FROM sms_messages s WHERE s.id = u.i);
END
$$;

-- Applies the routing outcomes of a batch. p_outcome per message:
--   'routed'  -> ROUTED with operator and route (the operator outbox row is written),
--   'retry'   -> RETRY_SCHEDULED at p_next_attempt_at,
--   'failed'  -> FAILED with the error code.
-- Every one counts a routing attempt. One set-based transition per outcome.
-- Returns how many compare-and-sets found another state (a late or
-- duplicate worker).
-- p_publish_now: the caller publishes the operator rows itself right after
-- its commit (relay_publish_operator_rows): they are stamped here.
-- (It gained p_publish_now: the older definition goes first.)
DROP FUNCTION IF EXISTS orch.pipeline_apply(uuid[], text[], text[], text[], text[], text[], timestamptz[]);
CREATE OR REPLACE FUNCTION orch.pipeline_apply(
    p_ids uuid[], p_outcome text[], p_operator_id text[], p_route_id text[],
    p_error_code text[], p_error_detail text[], p_next_attempt_at timestamptz[],
    p_publish_now boolean DEFAULT false)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    moved integer := 0;
    n integer;
    v_outcome text;
    v_new text;
BEGIN
    FOREACH v_outcome IN ARRAY ARRAY['routed', 'retry', 'failed'] LOOP
        CONTINUE WHEN NOT (v_outcome = ANY (p_outcome));
        v_new := CASE v_outcome WHEN 'routed' THEN 'ROUTED' WHEN 'retry' THEN 'RETRY_SCHEDULED' ELSE 'FAILED' END;
        SELECT count(*) INTO n
        FROM transition_many(
            ARRAY(SELECT u.i FROM unnest(p_ids, p_outcome) WITH ORDINALITY AS u(i, o, k) WHERE u.o = v_outcome ORDER BY u.k),
            'QUEUED', v_new,
            ARRAY(SELECT u.v FROM unnest(p_error_code, p_outcome) WITH ORDINALITY AS u(v, o, k) WHERE u.o = v_outcome ORDER BY u.k),
            ARRAY(SELECT u.v FROM unnest(p_error_detail, p_outcome) WITH ORDINALITY AS u(v, o, k) WHERE u.o = v_outcome ORDER BY u.k),
            ARRAY(SELECT u.v FROM unnest(p_operator_id, p_outcome) WITH ORDINALITY AS u(v, o, k) WHERE u.o = v_outcome ORDER BY u.k),
            ARRAY(SELECT u.v FROM unnest(p_route_id, p_outcome) WITH ORDINALITY AS u(v, o, k) WHERE u.o = v_outcome ORDER BY u.k),
            ARRAY(SELECT u.v FROM unnest(p_next_attempt_at, p_outcome) WITH ORDINALITY AS u(v, o, k) WHERE u.o = v_outcome ORDER BY u.k),
            true, p_publish_now AND v_outcome = 'routed');
        moved := moved + n;
    END LOOP;
    IF 'retry' = ANY (p_outcome) THEN
        PERFORM pg_notify('orch_retry', '');
    END IF;
    RETURN coalesce(cardinality(array_remove(p_outcome, NULL)), 0) - moved;
END
$$;

-- The retry scheduler: due RETRY_SCHEDULED messages become QUEUED again
-- (with their sms.outbound.retry outbox row), high ones first (normal keeps
-- a tenth of the batch while both are due). Several
-- schedulers never take the same message (SKIP LOCKED). Returns how many.
CREATE OR REPLACE FUNCTION orch.retry_due(p_limit integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
    v_high uuid[];
BEGIN
    -- High first, at most nine tenths of the batch while normal ones are due too (domain.md).
    v_high := ARRAY(
        SELECT s.id FROM sms_messages s
        WHERE s.status = 'RETRY_SCHEDULED' AND s.next_attempt_at <= clock_timestamp() AND s.priority = 'high'
        ORDER BY s.next_attempt_at LIMIT greatest(1, p_limit - p_limit / 10)
        FOR UPDATE SKIP LOCKED);
    SELECT count(*)::integer INTO n
    FROM transition_many(v_high || ARRAY(
        SELECT s.id FROM sms_messages s
        WHERE s.status = 'RETRY_SCHEDULED' AND s.next_attempt_at <= clock_timestamp() AND s.priority = 'normal'
        ORDER BY s.next_attempt_at LIMIT greatest(0, p_limit - cardinality(v_high))
        FOR UPDATE SKIP LOCKED), 'RETRY_SCHEDULED', 'QUEUED');
    RETURN n;
END
$$;

-- The scheduler's release of scheduled messages (api.md, sendAt): due
-- SCHEDULED messages become QUEUED, in send_at order (high first within a
-- moment), many per transaction, each with its sms.outbound.request row.
-- Several schedulers never take the same message (SKIP LOCKED). One past
-- its valid_until meanwhile becomes EXPIRED instead (with its dead letter).
-- Returns how many were released or expired.
CREATE OR REPLACE FUNCTION orch.release_scheduled(p_limit integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    v_due uuid[];
    v_expired uuid[];
    n integer;
BEGIN
    SELECT array_agg(d.id) FILTER (WHERE d.valid_until > clock_timestamp()),
           array_agg(d.id) FILTER (WHERE d.valid_until <= clock_timestamp())
    INTO v_due, v_expired
    FROM (SELECT s.id, s.valid_until FROM sms_messages s
          WHERE s.status = 'SCHEDULED' AND s.send_at <= clock_timestamp()
          ORDER BY s.send_at, s.priority = 'high' DESC, s.id LIMIT p_limit
          FOR UPDATE SKIP LOCKED) d;
    SELECT count(*)::integer INTO n FROM transition_many(v_due, 'SCHEDULED', 'QUEUED');
    RETURN n + (SELECT count(*)::integer FROM transition_many(
        v_expired, 'SCHEDULED', 'EXPIRED',
        array_fill('expired'::text, ARRAY[coalesce(cardinality(v_expired), 0)]),
        array_fill('valid_until passed before the scheduled message was released'::text,
                   ARRAY[coalesce(cardinality(v_expired), 0)])));
END
$$;

-- When the scheduler should wake next: the earliest next_attempt_at, or NULL.
CREATE OR REPLACE FUNCTION orch.next_retry_at()
RETURNS timestamptz LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT min(next_attempt_at) FROM sms_messages WHERE status = 'RETRY_SCHEDULED'
$$;

-- When the scheduler should wake next for anything: the earliest due
-- retry or scheduled release, or NULL (two index probes).
CREATE OR REPLACE FUNCTION orch.next_due_at()
RETURNS timestamptz LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT least((SELECT min(next_attempt_at) FROM sms_messages WHERE status = 'RETRY_SCHEDULED'),
                 (SELECT min(send_at) FROM sms_messages WHERE status = 'SCHEDULED'))
$$;

COMMENT ON FUNCTION orch.rejection_reason(orch.sms_messages) IS 'Domain validation: the blocklist reason (longest prefix), account_suspended or sender_not_allowed; NULL when the message may be sent';
COMMENT ON FUNCTION orch.pipeline_prepare(uuid[]) IS 'Pipeline stages 1-2 for a batch: skip what is not QUEUED, make EXPIRED / REJECTED at once, return routing inputs for the rest';
COMMENT ON FUNCTION orch.pipeline_apply(uuid[], text[], text[], text[], text[], text[], timestamptz[], boolean) IS 'Pipeline stages 3-5 for a batch: ROUTED / RETRY_SCHEDULED / FAILED as compare-and-set transitions; with p_publish_now the operator rows are stamped for the caller to publish at once; returns how many missed';
COMMENT ON FUNCTION orch.retry_due(integer) IS 'Retry scheduler: due RETRY_SCHEDULED messages become QUEUED with an sms.outbound.retry row; returns how many';
COMMENT ON FUNCTION orch.next_retry_at() IS 'The earliest next_attempt_at of RETRY_SCHEDULED messages';
COMMENT ON FUNCTION orch.release_scheduled(integer) IS 'Scheduler: due SCHEDULED messages become QUEUED (with their sms.outbound.request row) in send_at order, or EXPIRED when past valid_until; returns how many';
COMMENT ON FUNCTION orch.next_due_at() IS 'The earliest due retry (next_attempt_at) or scheduled release (send_at), NULL when none';
