-- Cancel and bulk status (api.md): what POST /v1/sms/{id}/cancel,
-- POST /v1/sms/bulk/{bulkId}/cancel and GET /v1/sms/bulk/{bulkId} run.
--
-- Cancel is a compare-and-set like every transition: a message in
-- SCHEDULED, QUEUED or RETRY_SCHEDULED becomes CANCELED (history, status
-- event, no dead letter). A pipeline worker that routed the message first
-- wins (its QUEUED -> ROUTED set first): the cancel then finds ROUTED and
-- answers 409; one that comes second finds CANCELED and does nothing with
-- it. So a canceled message never reaches smpp.operator.*.

-- The cancelable states, in the order cancel tries them.
CREATE OR REPLACE FUNCTION orch.cancelable_states()
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ARRAY['SCHEDULED', 'QUEUED', 'RETRY_SCHEDULED']
$$;

-- Cancels messages of p_account_id (ids of other accounts, and unknown
-- ids, are left alone and reported with status NULL). Returns, per id, the
-- status after the call and whether this call canceled it. A message that
-- moves between states while it runs (QUEUED -> RETRY_SCHEDULED, say) is
-- tried again, a few times, in its new state.
CREATE OR REPLACE FUNCTION orch.cancel(p_account_id text, p_ids uuid[])
RETURNS TABLE (id uuid, status text, canceled boolean)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_done uuid[] := '{}';
    v_try uuid[];
    v_state text;
    v_round integer;
BEGIN
    IF p_account_id IS NULL THEN
        RAISE EXCEPTION 'orch.cancel: account id is required' USING ERRCODE = 'OR003';
    END IF;
    FOR v_round IN 1..3 LOOP
        FOREACH v_state IN ARRAY cancelable_states() LOOP
            v_try := ARRAY(SELECT s.id FROM sms_messages s
                           WHERE s.id = ANY (p_ids) AND s.account_id = p_account_id AND s.status = v_state);
            CONTINUE WHEN cardinality(v_try) = 0;
            v_done := v_done || ARRAY(
                SELECT t.id FROM transition_many(v_try, v_state, 'CANCELED',
                                                 array_fill('canceled'::text, ARRAY[cardinality(v_try)]),
                                                 array_fill('canceled by the client'::text, ARRAY[cardinality(v_try)])) t);
        END LOOP;
        EXIT WHEN NOT EXISTS (SELECT 1 FROM sms_messages s
                              WHERE s.id = ANY (p_ids) AND s.account_id = p_account_id
                                AND s.status = ANY (cancelable_states()));
    END LOOP;
    RETURN QUERY
    SELECT u.i, s.status, u.i = ANY (v_done)
    FROM (SELECT DISTINCT unnest(p_ids) AS i) u
    LEFT JOIN sms_messages s ON s.id = u.i AND s.account_id = p_account_id;
END
$$;

-- POST /v1/sms/bulk/{bulkId}/cancel: cancels every cancelable message of
-- the bulk. NULL when the bulk is unknown or another account's; else
-- {"bulkId","canceled":n,"notCancelable":{"SUBMITTED":n,...}} (every state
-- a message of the bulk is left in that cancel cannot leave; CANCELED ones
-- canceled before are neither).
CREATE OR REPLACE FUNCTION orch.cancel_bulk(p_account_id text, p_bulk_id uuid)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    v_ids uuid[];
    v_canceled integer;
BEGIN
    v_ids := ARRAY(SELECT s.id FROM sms_messages s
                   WHERE s.bulk_id = p_bulk_id AND s.account_id = p_account_id
                     AND s.status = ANY (cancelable_states()));
    IF cardinality(v_ids) = 0 AND NOT EXISTS (
            SELECT 1 FROM sms_messages s WHERE s.bulk_id = p_bulk_id AND s.account_id = p_account_id) THEN
        RETURN NULL;
    END IF;
    SELECT count(*) FILTER (WHERE c.canceled) INTO v_canceled FROM cancel(p_account_id, v_ids) c;
    RETURN jsonb_build_object(
        'bulkId', p_bulk_id, 'canceled', v_canceled,
        'notCancelable', coalesce((
            SELECT jsonb_object_agg(g.status, g.n ORDER BY g.status)
            FROM (SELECT s.status, count(*) AS n FROM sms_messages s
                  WHERE s.bulk_id = p_bulk_id AND s.account_id = p_account_id AND s.status <> 'CANCELED'
                  GROUP BY s.status) g), '{}'::jsonb));
END
$$;

-- GET /v1/sms/bulk/{bulkId}: {"bulkId","accepted","createdAt","statuses":{...}}
-- with every state of orch.message_states present (0 where none), from the
-- index on (bulk_id, status); NULL for an unknown or foreign bulk.
CREATE OR REPLACE FUNCTION orch.bulk_json(p_bulk_id uuid, p_account_id text)
RETURNS text LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    WITH g AS (
        SELECT s.status, count(*) AS n, min(s.created_at) AS created_at
        FROM sms_messages s
        WHERE s.bulk_id = p_bulk_id AND s.account_id = p_account_id
        GROUP BY s.status
    )
    SELECT json_build_object(
        'bulkId', p_bulk_id,
        'accepted', (SELECT sum(g.n) FROM g)::bigint,
        'createdAt', iso_time((SELECT min(g.created_at) FROM g)),
        'statuses', (SELECT json_object_agg(st.status, coalesce(g.n, 0) ORDER BY st.status)
                     FROM message_states st LEFT JOIN g ON g.status = st.status))::text
    WHERE EXISTS (SELECT 1 FROM g)
$$;

COMMENT ON FUNCTION orch.cancelable_states() IS 'The states cancel moves to CANCELED: SCHEDULED, QUEUED, RETRY_SCHEDULED';
COMMENT ON FUNCTION orch.cancel(text, uuid[]) IS 'Cancels the account''s messages that are still cancelable (compare-and-set); per id: the status after, and whether this call canceled it';
COMMENT ON FUNCTION orch.cancel_bulk(text, uuid) IS 'Cancels every cancelable message of a bulk; the answer of POST /v1/sms/bulk/{bulkId}/cancel as jsonb, NULL for an unknown or foreign bulk';
COMMENT ON FUNCTION orch.bulk_json(uuid, text) IS 'The answer of GET /v1/sms/bulk/{bulkId}: counts by status (every state present), NULL for an unknown or foreign bulk';
