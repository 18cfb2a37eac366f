-- Reconciliation (domain.md): finds what got stuck and repairs it through
-- orch.transition() (so every repair writes history and a status event).
-- Run by "sms-orchestrator reconcile" (cron) and inside serve (role
-- reconciler), under an advisory lock so two passes never act at once.
--
-- Findings, each message counted once, in this order:
--   routed_published        ROUTED > stuck_after, operator row published   -> SUBMITTED
--   routed_past_window      ROUTED, operator row unpublished, first publish
--                           attempt older than the duplicate window        -> FAILED stuck_routed + dead letter
--   routed_in_window        ROUTED > stuck_after, unpublished, first attempt
--                           inside the window                              -> re-drive the publish (same Nats-Msg-Id)
--   routed_never_attempted  ROUTED > stuck_after, unpublished, never tried  -> wake the relay
--   routed_without_row      ROUTED with no operator row at all             -> needs a person
--   expired                 past valid_until, not terminal (not a ROUTED
--                           message whose publish was attempted)          -> EXPIRED + dead letter
--   operator_row_withdrawn  a pending smpp.operator row whose message is
--                           not ROUTED (any more)                          -> row withdrawn, never published
--   queued_stuck            QUEUED > stuck_after, no request pending       -> publish sms.outbound.request again
--   retry_overdue           RETRY_SCHEDULED overdue by > stuck_after       -> QUEUED now (sms.outbound.retry)
--   scheduled_overdue       SCHEDULED past send_at by > stuck_after         -> QUEUED now (sms.outbound.request)
--   operator_limit_waiting  ROUTED, operator row never attempted, operator
--                           with a throughput limit: waiting for its bucket -> nothing (not stuck)

CREATE OR REPLACE FUNCTION orch.reconcile(p_dry_run boolean, p_stuck_after interval, p_duplicate_window interval,
                                          p_limit integer DEFAULT 10000)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_found jsonb := '{}';
    v_person jsonb := '[]';
    v_wake boolean := false;
    r record;
    v_msg sms_messages;
    n_found integer;
    n_fixed integer;
BEGIN
    -- routed_published
    n_found := 0; n_fixed := 0;
    FOR r IN SELECT m.id FROM sms_messages m
             WHERE m.status = 'ROUTED' AND m.updated_at < v_now - p_stuck_after
               AND EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id AND o.subject LIKE 'smpp.operator.%'
                           AND o.published_at IS NOT NULL)
             ORDER BY m.updated_at LIMIT p_limit LOOP
        n_found := n_found + 1;
        IF NOT p_dry_run AND transition(r.id, 'ROUTED', 'SUBMITTED') IS NOT NULL THEN
            n_fixed := n_fixed + 1;
        END IF;
    END LOOP;
    v_found := v_found || jsonb_build_object('routed_published', jsonb_build_object('found', n_found, 'repaired', n_fixed));

    -- routed_past_window
    n_found := 0; n_fixed := 0;
    FOR r IN SELECT m.id, o.first_attempt_at FROM sms_messages m
             JOIN outbox o ON o.message_id = m.id AND o.subject LIKE 'smpp.operator.%'
             WHERE m.status = 'ROUTED' AND o.published_at IS NULL AND o.first_attempt_at < v_now - p_duplicate_window
             ORDER BY m.updated_at LIMIT p_limit LOOP
        n_found := n_found + 1;
        -- The transition also withdraws the message's operator row.
        IF NOT p_dry_run AND transition(r.id, 'ROUTED', 'FAILED', 'stuck_routed',
               format('operator publish first attempted at %s was never acknowledged; not republished after the '
                      'duplicate window, to never risk a double send', iso_time(r.first_attempt_at))) IS NOT NULL THEN
            n_fixed := n_fixed + 1;
        END IF;
    END LOOP;
    v_found := v_found || jsonb_build_object('routed_past_window', jsonb_build_object('found', n_found, 'repaired', n_fixed));

    -- routed_in_window and routed_never_attempted: the relay will publish them; wake it.
    -- A never attempted row of an operator with a throughput limit is waiting for its bucket
    -- (domain.md): not stuck, only counted (operator_limit_waiting, nothing to repair).
    FOR r IN SELECT CASE WHEN o.first_attempt_at IS NOT NULL THEN 'routed_in_window'
                         WHEN EXISTS (SELECT 1 FROM operator_limits l WHERE l.operator_id = m.operator_id)
                         THEN 'operator_limit_waiting'
                         ELSE 'routed_never_attempted' END AS finding, count(*) AS n FROM sms_messages m
             JOIN outbox o ON o.message_id = m.id AND o.subject LIKE 'smpp.operator.%'
             WHERE m.status = 'ROUTED' AND m.updated_at < v_now - p_stuck_after AND o.published_at IS NULL
               AND (o.first_attempt_at IS NULL OR o.first_attempt_at >= v_now - p_duplicate_window)
             GROUP BY 1 LOOP
        v_found := v_found || jsonb_build_object(r.finding,
            jsonb_build_object('found', r.n,
                               'repaired', CASE WHEN p_dry_run OR r.finding = 'operator_limit_waiting' THEN 0 ELSE r.n END));
        v_wake := v_wake OR r.finding <> 'operator_limit_waiting';
    END LOOP;
    v_found := jsonb_build_object('routed_in_window', jsonb_build_object('found', 0, 'repaired', 0),
                                  'routed_never_attempted', jsonb_build_object('found', 0, 'repaired', 0),
                                  'operator_limit_waiting', jsonb_build_object('found', 0, 'repaired', 0)) || v_found;

    -- routed_without_row: nothing safe to do automatically.
    n_found := 0;
    FOR r IN SELECT m.id FROM sms_messages m
             WHERE m.status = 'ROUTED' AND m.updated_at < v_now - p_stuck_after
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id AND o.subject LIKE 'smpp.operator.%')
             ORDER BY m.updated_at LIMIT 100 LOOP
        n_found := n_found + 1;
        v_person := v_person || jsonb_build_array(jsonb_build_object('messageId', r.id, 'finding', 'routed_without_row',
            'why', 'ROUTED with no operator outbox row: whether it went out is unknown; check the SMPP side, then orch.transition() it'));
    END LOOP;
    v_found := v_found || jsonb_build_object('routed_without_row', jsonb_build_object('found', n_found, 'repaired', 0));

    -- expired
    n_found := 0; n_fixed := 0;
    FOR r IN SELECT m.id, m.status FROM sms_messages m
             WHERE m.status IN ('QUEUED', 'RETRY_SCHEDULED', 'ROUTED', 'SCHEDULED') AND m.valid_until < v_now
               AND NOT (m.status = 'ROUTED' AND EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id
                        AND o.subject LIKE 'smpp.operator.%' AND o.first_attempt_at IS NOT NULL))
             ORDER BY m.valid_until LIMIT p_limit LOOP
        n_found := n_found + 1;
        IF NOT p_dry_run AND transition(r.id, r.status, 'EXPIRED', 'expired',
                                        'valid_until passed before the message was submitted') IS NOT NULL THEN
            n_fixed := n_fixed + 1;
        END IF;
    END LOOP;
    v_found := v_found || jsonb_build_object('expired', jsonb_build_object('found', n_found, 'repaired', n_fixed));

    -- operator_row_withdrawn: pending operator rows of a message that is no
    -- longer ROUTED (the transitions above withdraw theirs; these are rows
    -- a transition skipped because a relay held them, or older ones). A row
    -- a relay holds now is being published: skipped, counted as not repaired.
    SELECT count(*) INTO n_found FROM (
        SELECT 1 FROM outbox o LEFT JOIN sms_messages m ON m.id = o.message_id
        WHERE o.published_at IS NULL AND o.subject LIKE 'smpp.operator.%' AND m.status IS DISTINCT FROM 'ROUTED'
        LIMIT p_limit) x;
    n_fixed := 0;
    IF n_found > 0 AND NOT p_dry_run THEN
        FOR r IN SELECT c.status, array_agg(c.id) AS ids FROM (
                     SELECT o.id, m.status FROM outbox o LEFT JOIN sms_messages m ON m.id = o.message_id
                     WHERE o.published_at IS NULL AND o.subject LIKE 'smpp.operator.%'
                       AND m.status IS DISTINCT FROM 'ROUTED'
                     ORDER BY o.id LIMIT p_limit
                     FOR UPDATE OF o SKIP LOCKED) c
                 GROUP BY c.status LOOP
            n_fixed := n_fixed + withdraw_operator_rows(r.ids, r.status);
        END LOOP;
    END IF;
    v_found := v_found || jsonb_build_object('operator_row_withdrawn', jsonb_build_object('found', n_found, 'repaired', n_fixed));

    -- queued_stuck
    n_found := 0; n_fixed := 0;
    FOR v_msg IN SELECT s.* FROM sms_messages s
             WHERE s.status = 'QUEUED' AND s.updated_at < v_now - p_stuck_after
               AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = s.id AND o.published_at IS NULL
                               AND o.subject IN ('sms.outbound.request', 'sms.outbound.retry',
                                                 'sms.outbound.request.high', 'sms.outbound.retry.high'))
             ORDER BY s.updated_at LIMIT p_limit LOOP
        n_found := n_found + 1;
        IF NOT p_dry_run THEN
            PERFORM enqueue('sms.outbound.request' || lane_suffix(v_msg.priority), 'sms.outbound.request', v_msg,
                            jsonb_build_object('messageId', v_msg.id, 'accountId', v_msg.account_id,
                                               'attempt', v_msg.attempt_count));
            n_fixed := n_fixed + 1;
            v_wake := true;
        END IF;
    END LOOP;
    v_found := v_found || jsonb_build_object('queued_stuck', jsonb_build_object('found', n_found, 'repaired', n_fixed));

    -- retry_overdue
    n_found := 0; n_fixed := 0;
    FOR r IN SELECT m.id FROM sms_messages m
             WHERE m.status = 'RETRY_SCHEDULED' AND m.next_attempt_at < v_now - p_stuck_after
             ORDER BY m.next_attempt_at LIMIT p_limit LOOP
        n_found := n_found + 1;
        IF NOT p_dry_run AND transition(r.id, 'RETRY_SCHEDULED', 'QUEUED') IS NOT NULL THEN
            n_fixed := n_fixed + 1;
            v_wake := true;
        END IF;
    END LOOP;
    v_found := v_found || jsonb_build_object('retry_overdue', jsonb_build_object('found', n_found, 'repaired', n_fixed));

    -- scheduled_overdue: the scheduler should have released these (it was down?).
    n_found := 0; n_fixed := 0;
    FOR r IN SELECT m.id FROM sms_messages m
             WHERE m.status = 'SCHEDULED' AND m.send_at < v_now - p_stuck_after AND m.valid_until > v_now
             ORDER BY m.send_at LIMIT p_limit LOOP
        n_found := n_found + 1;
        IF NOT p_dry_run AND transition(r.id, 'SCHEDULED', 'QUEUED') IS NOT NULL THEN
            n_fixed := n_fixed + 1;
            v_wake := true;
        END IF;
    END LOOP;
    v_found := v_found || jsonb_build_object('scheduled_overdue', jsonb_build_object('found', n_found, 'repaired', n_fixed));

    IF v_wake AND NOT p_dry_run THEN
        PERFORM pg_notify('orch_outbox', '');
    END IF;
    RETURN jsonb_build_object('dryRun', p_dry_run, 'findings', v_found, 'needsPerson', v_person);
END
$$;

CREATE OR REPLACE FUNCTION orch.idempotency_purge(p_batch integer)
RETURNS integer LANGUAGE sql
SET search_path = orch, pg_catalog, pg_temp
AS $$
    WITH c AS MATERIALIZED (
        SELECT account_id, idem_key FROM idempotency_keys WHERE expires_at < clock_timestamp()
        ORDER BY expires_at LIMIT p_batch
    ), d AS (
        DELETE FROM idempotency_keys k USING c WHERE k.account_id = c.account_id AND k.idem_key = c.idem_key RETURNING 1
    )
    SELECT count(*)::integer FROM d
$$;

COMMENT ON FUNCTION orch.reconcile(boolean, interval, interval, integer) IS 'One reconciliation pass (domain.md): finds stuck messages and repairs them through orch.transition(); with p_dry_run only reports; returns a JSON summary';
COMMENT ON FUNCTION orch.idempotency_purge(integer) IS 'Deletes a small batch of expired idempotency records; returns how many';
