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
CREATE OR REPLACE FUNCTION orch.rejection_reason(m orch.sms_messages)
RETURNS text LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        (SELECT b.reason FROM destination_blocklist b WHERE m.to_e164 LIKE b.prefix || '%'
         ORDER BY length(b.prefix) DESC LIMIT 1),
        (SELECT CASE WHEN p.suspended THEN 'account_suspended'
                     WHEN p.allowed_senders IS NOT NULL AND NOT (m.sender = ANY (p.allowed_senders)) THEN 'sender_not_allowed'
                END
         FROM account_policy p WHERE p.account_id = m.account_id))
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
DECLARE
    m sms_messages;
    v_reason text;
BEGIN
    FOR m IN SELECT * FROM sms_messages s WHERE s.id = ANY (p_ids) ORDER BY s.id LOOP
        attempt := NULL;
        IF m.status <> 'QUEUED' THEN
            id := m.id; action := 'skip';
        ELSIF m.valid_until <= now() THEN
            PERFORM transition(m.id, 'QUEUED', 'EXPIRED', 'expired', 'valid_until passed before the message was routed');
            id := m.id; action := 'expired';
        ELSE
            v_reason := rejection_reason(m);
            IF v_reason IS NOT NULL THEN
                PERFORM transition(m.id, 'QUEUED', 'REJECTED', v_reason, 'refused by domain validation: ' || v_reason);
                id := m.id; action := 'rejected';
            ELSE
                -- The call about to be made takes the next call number, durably, before it is made:
                -- a call that is never charged (breaker open, batch redelivered) still uses it up.
                UPDATE sms_messages s SET routing_calls = s.routing_calls + 1
                WHERE s.id = m.id AND s.status = 'QUEUED'
                RETURNING s.routing_calls - 1 INTO attempt;
                id := m.id; action := CASE WHEN attempt IS NULL THEN 'skip' ELSE 'route' END;
            END IF;
        END IF;
        account_id := m.account_id; to_e164 := m.to_e164; sender := m.sender; encoding := m.encoding;
        segments := m.segments; attempt_count := m.attempt_count;
        RETURN NEXT;
    END LOOP;
    -- attempt: the number the routing call for this message carries (routing_calls before the call).
-- Ids with no row: unknown messages (a stream holding what the database lost); reported, acknowledged.
    RETURN QUERY SELECT u.i, 'unknown'::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::integer, NULL::integer,
                        NULL::integer
                 FROM unnest(p_ids) AS u(i) WHERE NOT EXISTS (SELECT 1 FROM sms_messages s WHERE s.id = u.i);
END
$$;

-- Applies the routing outcomes of a batch. p_outcome per message:
--   'routed'  -> ROUTED with operator and route (the operator outbox row is written),
--   'retry'   -> RETRY_SCHEDULED at p_next_attempt_at,
--   'failed'  -> FAILED with the error code.
-- Every one counts a routing attempt. Returns the messages whose
-- compare-and-set found another state (a late or duplicate worker).
CREATE OR REPLACE FUNCTION orch.pipeline_apply(
    p_ids uuid[], p_outcome text[], p_operator_id text[], p_route_id text[],
    p_error_code text[], p_error_detail text[], p_next_attempt_at timestamptz[])
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    missed integer := 0;
    v_seq integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
        v_seq := CASE p_outcome[i]
            WHEN 'routed' THEN transition(p_ids[i], 'QUEUED', 'ROUTED', p_operator_id => p_operator_id[i],
                                          p_route_id => p_route_id[i], p_routing_attempt => true)
            WHEN 'retry' THEN transition(p_ids[i], 'QUEUED', 'RETRY_SCHEDULED', p_error_code[i], p_error_detail[i],
                                         p_next_attempt_at => p_next_attempt_at[i], p_routing_attempt => true)
            WHEN 'failed' THEN transition(p_ids[i], 'QUEUED', 'FAILED', p_error_code[i], p_error_detail[i],
                                          p_routing_attempt => true)
        END;
        IF v_seq IS NULL THEN
            missed := missed + 1;
        END IF;
    END LOOP;
    IF 'retry' = ANY (p_outcome) THEN
        PERFORM pg_notify('orch_retry', '');
    END IF;
    RETURN missed;
END
$$;

-- The retry scheduler: due RETRY_SCHEDULED messages become QUEUED again
-- (with their sms.outbound.retry outbox row). Several schedulers never take
-- the same message (SKIP LOCKED). Returns how many.
CREATE OR REPLACE FUNCTION orch.retry_due(p_limit integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    n integer := 0;
    v_id uuid;
BEGIN
    FOR v_id IN
        SELECT s.id FROM sms_messages s
        WHERE s.status = 'RETRY_SCHEDULED' AND s.next_attempt_at <= clock_timestamp()
        ORDER BY s.next_attempt_at LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    LOOP
        IF transition(v_id, 'RETRY_SCHEDULED', 'QUEUED') IS NOT NULL THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;

-- When the scheduler should wake next: the earliest next_attempt_at, or NULL.
CREATE OR REPLACE FUNCTION orch.next_retry_at()
RETURNS timestamptz LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT min(next_attempt_at) FROM sms_messages WHERE status = 'RETRY_SCHEDULED'
$$;

COMMENT ON FUNCTION orch.rejection_reason(orch.sms_messages) IS 'Domain validation: the blocklist reason (longest prefix), account_suspended or sender_not_allowed; NULL when the message may be sent';
COMMENT ON FUNCTION orch.pipeline_prepare(uuid[]) IS 'Pipeline stages 1-2 for a batch: skip what is not QUEUED, make EXPIRED / REJECTED at once, return routing inputs for the rest';
COMMENT ON FUNCTION orch.pipeline_apply(uuid[], text[], text[], text[], text[], text[], timestamptz[]) IS 'Pipeline stages 3-5 for a batch: ROUTED / RETRY_SCHEDULED / FAILED as compare-and-set transitions; returns how many missed';
COMMENT ON FUNCTION orch.retry_due(integer) IS 'Retry scheduler: due RETRY_SCHEDULED messages become QUEUED with an sms.outbound.retry row; returns how many';
COMMENT ON FUNCTION orch.next_retry_at() IS 'The earliest next_attempt_at of RETRY_SCHEDULED messages';
