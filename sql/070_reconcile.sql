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
--   queued_stuck            QUEUED > stuck_after, no request pending nor
--                           published within stuck_after                   -> publish sms.outbound.request again
--   retry_overdue           RETRY_SCHEDULED overdue by > stuck_after       -> QUEUED now (sms.outbound.retry)
--   scheduled_overdue       SCHEDULED past send_at by > stuck_after         -> QUEUED now (sms.outbound.request)
--   operator_limit_waiting  ROUTED, operator row never attempted, operator
--                           with a throughput limit: waiting for its bucket -> nothing (not stuck)
--
-- Cost: a pass runs every few seconds next to the pipeline, so it must cost
-- milliseconds when nothing is stuck, whatever the size of the tables. Each
-- finding starts from a small set that a partial index holds: the open
-- messages (sms_messages_open_by_age; RETRY_SCHEDULED: sms_messages_retry_due)
-- or the pending outbox rows (outbox_pending). The other table is read row
-- by row, by index (outbox_message, the primary key), in a LATERAL
-- (... LIMIT 1) subquery, which the planner cannot turn into a hash join.
-- With statistics taken during a backlog (most messages ROUTED, half the
-- outbox pending) it did exactly that with the EXISTS and plain joins
-- written before: sequential scans of the whole outbox and of the messages,
-- 1.3 s a pass on 200,000 messages and 1,000,000 outbox rows, against 4 ms
-- now. For the same reason the function runs with enable_seqscan off (a
-- pass never needs to read a whole table; with stale estimates the planner
-- preferred that to the partial indexes) and jit off (a stale estimate over
-- jit_above_cost made it compile a 1 ms statement for 180 ms).

CREATE OR REPLACE FUNCTION orch.reconcile(p_dry_run boolean, p_stuck_after interval, p_duplicate_window interval,
                                          p_limit integer DEFAULT 10000)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
SET jit = off
SET enable_seqscan = off
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    -- open and unchanged since then: stuck
    v_stuck_before timestamptz := v_now - p_stuck_after;
    -- first publish attempt before then: past the duplicate window
    v_window_before timestamptz := v_now - p_duplicate_window;
    v_found jsonb := '{}';
    v_person jsonb := '[]';
    v_wake boolean := false;
    r record;
    v_msg sms_messages;
    n_found integer;
    n_fixed integer;
BEGIN
    -- routed_published: stuck ROUTED messages (open_by_age) whose operator row was published.
    n_found := 0; n_fixed := 0;
    FOR r IN SELECT m.id FROM sms_messages m
             CROSS JOIN LATERAL (SELECT 1 FROM outbox o
                                 WHERE o.message_id = m.id AND o.subject LIKE 'smpp.operator.%'
                                   AND o.published_at IS NOT NULL
                                 LIMIT 1) published
             WHERE m.status = 'ROUTED' AND m.updated_at < v_stuck_before
             ORDER BY m.updated_at LIMIT p_limit LOOP
        n_found := n_found + 1;
        IF NOT p_dry_run AND transition(r.id, 'ROUTED', 'SUBMITTED') IS NOT NULL THEN
            n_fixed := n_fixed + 1;
        END IF;
    END LOOP;
    v_found := v_found || jsonb_build_object('routed_published', jsonb_build_object('found', n_found, 'repaired', n_fixed));

    -- routed_past_window: pending operator rows (outbox_pending) first attempted
    -- before the window, of a message still ROUTED.
    n_found := 0; n_fixed := 0;
    FOR r IN SELECT m.id, o.first_attempt_at FROM outbox o
             CROSS JOIN LATERAL (SELECT m.id, m.updated_at FROM sms_messages m
                                 WHERE m.id = o.message_id AND m.status = 'ROUTED'
                                 LIMIT 1) m
             WHERE o.published_at IS NULL AND o.subject LIKE 'smpp.operator.%' AND o.first_attempt_at < v_window_before
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

    -- routed_in_window and routed_never_attempted: pending operator rows
    -- (outbox_pending) of a stuck ROUTED message; the relay will publish them: wake it.
    -- A never attempted row of an operator with a throughput limit is waiting for its bucket
    -- (domain.md): not stuck, only counted (operator_limit_waiting, nothing to repair).
    FOR r IN SELECT CASE WHEN o.first_attempt_at IS NOT NULL THEN 'routed_in_window'
                         WHEN EXISTS (SELECT 1 FROM operator_limits l WHERE l.operator_id = stuck.operator_id)
                         THEN 'operator_limit_waiting'
                         ELSE 'routed_never_attempted' END AS finding, count(*) AS n FROM outbox o
             CROSS JOIN LATERAL (SELECT m.operator_id FROM sms_messages m
                                 WHERE m.id = o.message_id AND m.status = 'ROUTED' AND m.updated_at < v_stuck_before
                                 LIMIT 1) stuck
             WHERE o.published_at IS NULL AND o.subject LIKE 'smpp.operator.%'
               AND (o.first_attempt_at IS NULL OR o.first_attempt_at >= v_window_before)
             GROUP BY 1 LOOP
        v_found := v_found || jsonb_build_object(r.finding,
            jsonb_build_object('found', r.n,
                               'repaired', CASE WHEN p_dry_run OR r.finding = 'operator_limit_waiting' THEN 0 ELSE r.n END));
        v_wake := v_wake OR r.finding <> 'operator_limit_waiting';
    END LOOP;
    v_found := jsonb_build_object('routed_in_window', jsonb_build_object('found', 0, 'repaired', 0),
                                  'routed_never_attempted', jsonb_build_object('found', 0, 'repaired', 0),
                                  'operator_limit_waiting', jsonb_build_object('found', 0, 'repaired', 0)) || v_found;

    -- routed_without_row: stuck ROUTED messages (open_by_age) with no operator
    -- row at all. Nothing safe to do automatically.
    n_found := 0;
    FOR r IN SELECT m.id FROM sms_messages m
             LEFT JOIN LATERAL (SELECT 1 AS found FROM outbox o
                                WHERE o.message_id = m.id AND o.subject LIKE 'smpp.operator.%'
                                LIMIT 1) op_row ON true
             WHERE m.status = 'ROUTED' AND m.updated_at < v_stuck_before AND op_row.found IS NULL
             ORDER BY m.updated_at LIMIT 100 LOOP
        n_found := n_found + 1;
        v_person := v_person || jsonb_build_array(jsonb_build_object('messageId', r.id, 'finding', 'routed_without_row',
            'why', 'ROUTED with no operator outbox row: whether it went out is unknown; check the SMPP side, then orch.transition() it'));
    END LOOP;
    v_found := v_found || jsonb_build_object('routed_without_row', jsonb_build_object('found', n_found, 'repaired', 0));

    -- expired: open messages (open_by_age) past valid_until, except a ROUTED
    -- one whose operator publish was attempted (it may have gone out).
    n_found := 0; n_fixed := 0;
    FOR r IN SELECT m.id, m.status FROM sms_messages m
             LEFT JOIN LATERAL (SELECT 1 AS found FROM outbox o
                                WHERE m.status = 'ROUTED' AND o.message_id = m.id
                                  AND o.subject LIKE 'smpp.operator.%' AND o.first_attempt_at IS NOT NULL
                                LIMIT 1) attempted ON true
             WHERE m.status IN ('QUEUED', 'RETRY_SCHEDULED', 'ROUTED', 'SCHEDULED') AND m.valid_until < v_now
               AND attempted.found IS NULL
             ORDER BY m.valid_until LIMIT p_limit LOOP
        n_found := n_found + 1;
        IF NOT p_dry_run AND transition(r.id, r.status, 'EXPIRED', 'expired',
                                        'valid_until passed before the message was submitted') IS NOT NULL THEN
            n_fixed := n_fixed + 1;
        END IF;
    END LOOP;
    v_found := v_found || jsonb_build_object('expired', jsonb_build_object('found', n_found, 'repaired', n_fixed));

    -- operator_row_withdrawn: pending operator rows (outbox_pending) whose
    -- message is no longer ROUTED (the transitions above withdraw theirs;
    -- these are rows a transition skipped because a relay held them, or
    -- older ones). A row a relay holds now is being published: skipped,
    -- counted as not repaired.
    SELECT count(*) INTO n_found FROM (
        SELECT 1 FROM outbox o
        LEFT JOIN LATERAL (SELECT m.status FROM sms_messages m WHERE m.id = o.message_id LIMIT 1) m ON true
        WHERE o.published_at IS NULL AND o.subject LIKE 'smpp.operator.%' AND m.status IS DISTINCT FROM 'ROUTED'
        LIMIT p_limit) x;
    n_fixed := 0;
    IF n_found > 0 AND NOT p_dry_run THEN
        FOR r IN SELECT c.status, array_agg(c.id) AS ids FROM (
                     SELECT o.id, m.status FROM outbox o
                     LEFT JOIN LATERAL (SELECT m.status FROM sms_messages m WHERE m.id = o.message_id LIMIT 1) m ON true
                     WHERE o.published_at IS NULL AND o.subject LIKE 'smpp.operator.%'
                       AND m.status IS DISTINCT FROM 'ROUTED'
                     ORDER BY o.id LIMIT p_limit
                     FOR UPDATE OF o SKIP LOCKED) c
                 GROUP BY c.status LOOP
            n_fixed := n_fixed + withdraw_operator_rows(r.ids, r.status);
        END LOOP;
    END IF;
    v_found := v_found || jsonb_build_object('operator_row_withdrawn', jsonb_build_object('found', n_found, 'repaired', n_fixed));

    -- queued_stuck: stuck QUEUED messages (open_by_age) with no request pending, and none
    -- published within stuck_after: a request published again is given stuck_after to be
    -- taken, so a message waiting in a long backlog of the stream is published again at most
    -- once per stuck_after, not on every pass (a 100,000-message drain had 35,000 published
    -- again in five passes, each a no-op for the pipeline but work for every stage).
    n_found := 0; n_fixed := 0;
    FOR v_msg IN SELECT s.* FROM sms_messages s
             -- (coalesce(...): the probe must go by outbox_message, one message's rows; written as
             -- "published_at IS NULL" the planner could take outbox_pending for it, matching its
             -- predicate, and walk every pending row once per QUEUED message: passes of minutes
             -- during a backlog, measured by the bench's phase p)
             LEFT JOIN LATERAL (SELECT 1 AS found FROM outbox o
                                WHERE o.message_id = s.id
                                  AND coalesce(o.published_at IS NULL OR o.published_at >= v_stuck_before, false)
                                  AND o.subject IN ('sms.outbound.request', 'sms.outbound.retry',
                                                    'sms.outbound.request.high', 'sms.outbound.retry.high')
                                LIMIT 1) pending ON true
             WHERE s.status = 'QUEUED' AND s.updated_at < v_stuck_before AND pending.found IS NULL
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

    -- retry_overdue: RETRY_SCHEDULED messages (retry_due) overdue by more than stuck_after.
    n_found := 0; n_fixed := 0;
    FOR r IN SELECT m.id FROM sms_messages m
             WHERE m.status = 'RETRY_SCHEDULED' AND m.next_attempt_at < v_stuck_before
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

-- One batch of expired idempotency records, oldest first, as one index
-- range on idempotency_keys_expires (the cut-off is a value computed first,
-- as in orch.outbox_purge: clock_timestamp() in the WHERE clause read the
-- whole index to find none expired). They are deleted by ctid, row by row:
-- joined back by key, the planner hashed the whole table for each batch.
-- A record renewed meanwhile (orch.accept replaces an expired one) fails
-- the expires_at test again and is kept.
CREATE OR REPLACE FUNCTION orch.idempotency_purge(p_batch integer)
RETURNS integer LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    n integer;
BEGIN
    DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(
        SELECT ctid FROM idempotency_keys WHERE expires_at < v_now
        ORDER BY expires_at LIMIT p_batch))
      AND expires_at < v_now;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

COMMENT ON FUNCTION orch.reconcile(boolean, interval, interval, integer) IS 'One reconciliation pass (domain.md): finds stuck messages and repairs them through orch.transition(); with p_dry_run only reports; returns a JSON summary';
COMMENT ON FUNCTION orch.idempotency_purge(integer) IS 'Deletes a small batch of expired idempotency records; returns how many';
