-- Redrive (domain.md): a FAILED message that failed for a reason that was
-- not its own is sent again. FAILED -> QUEUED through orch.transition_many(),
-- so with a history row, a status event (previousStatus FAILED) and a new
-- sms.outbound.request; attempt_count starts again from 0 (a fresh retry
-- budget; the history keeps the old attempts). What "sms-orchestrator
-- redrive" runs; a DBA may call orch.redrive() from psql just as well.
--
-- Refused, each message with its reason in the report, checked in this order:
--   not_found                  no message has the id (ids only)
--   not_failed                 it is not FAILED (any more: another redrive may just have moved it)
--   may_have_reached_operator  it may already be at an operator: it failed stuck_routed, or it was
--                              ever ROUTED (it has an operator id, a ROUTED history row, or any
--                              smpp.operator.* outbox row). Every message ever ROUTED is refused, not
--                              only those whose operator row was published or attempted: a withdrawn
--                              row carries a first_attempt_at whether or not it was attempted (the
--                              outbox CHECK wants one), and a purged row leaves only the history, so
--                              "never attempted" cannot be told apart safely. Such a message is sent
--                              again only as a new message, by the client.
--   expired                    its valid_until has passed (it stays FAILED)
--   own_reason                 no codes named, and its error code is not one of
--                              orch.redrive_default_reasons() (retries_exhausted, routing_unavailable):
--                              a failure of its own (no_route, invalid_argument, ...) unless a person
--                              says otherwise by naming the code
--   other_reason               codes were named (p_reasons) and its error code is not among them
--
-- Selection: p_ids, every listed id getting a verdict; or filters: the FAILED
-- messages whose error code is one of p_reasons (default: the default
-- reasons), of account p_account_id, that failed in [p_since, p_until) (the
-- time is updated_at, which a FAILED message keeps from the moment it failed).
-- They are judged in id order (oldest accept first) until p_limit may move,
-- and "more" says that others wait: call again. The refused ones met on the
-- way are listed (at most p_limit of them) and counted; the FAILED messages
-- of the account and window with other codes are counted by code
-- (otherReasons), so a dry run shows what naming a code would add.
--
-- Two at once: the messages to move are locked FOR UPDATE in id order, so a
-- second redrive waits for the first (up to the function's lock_timeout,
-- then it fails and moves nothing) and then finds them QUEUED (not_failed;
-- with filters, they are not selected any more); the move itself is a
-- compare-and-set. Each message is moved once.

-- The error codes redriven when the caller names none (domain.md): failures
-- that were not the message's own.
CREATE OR REPLACE FUNCTION orch.redrive_default_reasons()
RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT ARRAY['retries_exhausted', 'routing_unavailable']
$$;

-- Why message m may not be redriven at p_now (NULL: it may), the reasons
-- above. p_reasons: the error codes this redrive sends again; p_named: the
-- caller named them. (No SET clause, names qualified: one plan per statement.)
CREATE OR REPLACE FUNCTION orch.redrive_refusal(m orch.sms_messages, p_reasons text[], p_named boolean,
                                                p_now timestamptz)
RETURNS text LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN m.status <> 'FAILED' THEN 'not_failed'
        WHEN m.last_error_code = 'stuck_routed' OR m.operator_id IS NOT NULL
             OR EXISTS (SELECT 1 FROM orch.sms_status_history h WHERE h.message_id = m.id AND h.status = 'ROUTED')
             OR EXISTS (SELECT 1 FROM orch.outbox o WHERE o.message_id = m.id AND o.subject LIKE 'smpp.operator.%')
            THEN 'may_have_reached_operator'
        WHEN m.valid_until <= p_now THEN 'expired'
        WHEN m.last_error_code IS NULL OR NOT (m.last_error_code = ANY (p_reasons))
            THEN CASE WHEN p_named THEN 'other_reason' ELSE 'own_reason' END
    END
$$;

-- The arguments of a redrive, checked: an exception (OR003) naming the bad one.
CREATE OR REPLACE FUNCTION orch.redrive_check_args(p_ids uuid[], p_reasons text[], p_account_id text,
                                                   p_since timestamptz, p_until timestamptz, p_limit integer)
RETURNS void LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    v_bad text;
    v_n bigint;
BEGIN
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 100000 THEN
        RAISE EXCEPTION 'orch.redrive: p_limit must be 1 to 100000, not %', coalesce(p_limit::text, 'NULL')
            USING ERRCODE = 'OR003';
    END IF;
    IF p_ids IS NULL AND p_reasons IS NULL AND p_account_id IS NULL AND p_since IS NULL AND p_until IS NULL THEN
        RAISE EXCEPTION 'orch.redrive: name what to redrive: p_ids, p_reasons, p_account_id, p_since or p_until'
            USING ERRCODE = 'OR003';
    END IF;
    IF p_ids IS NOT NULL AND (p_account_id IS NOT NULL OR p_since IS NOT NULL OR p_until IS NOT NULL) THEN
        RAISE EXCEPTION 'orch.redrive: p_ids select the messages themselves; they do not go with p_account_id, p_since or p_until'
            USING ERRCODE = 'OR003';
    END IF;
    IF cardinality(p_ids) = 0 OR array_position(p_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'orch.redrive: p_ids must list message ids (no NULL)' USING ERRCODE = 'OR003';
    END IF;
    v_n := (SELECT count(DISTINCT u.i) FROM unnest(p_ids) AS u(i));
    IF v_n > p_limit THEN
        RAISE EXCEPTION 'orch.redrive: % ids, more than p_limit %', v_n, p_limit USING ERRCODE = 'OR003';
    END IF;
    IF cardinality(p_reasons) = 0 THEN
        RAISE EXCEPTION 'orch.redrive: p_reasons must list error codes (NULL: the default ones)' USING ERRCODE = 'OR003';
    END IF;
    SELECT coalesce(quote_literal(r), 'NULL') INTO v_bad FROM unnest(p_reasons) AS r
    WHERE r IS NULL OR r !~ '^[a-z0-9_]{1,64}$' LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'orch.redrive: reason % is not an error code (lower_snake_case, at most 64 characters)', v_bad
            USING ERRCODE = 'OR003';
    END IF;
    IF p_account_id = '' THEN
        RAISE EXCEPTION 'orch.redrive: p_account_id is empty' USING ERRCODE = 'OR003';
    END IF;
    IF p_since >= p_until THEN
        RAISE EXCEPTION 'orch.redrive: p_since (%) is not before p_until (%)', p_since, p_until USING ERRCODE = 'OR003';
    END IF;
END
$$;

-- A list of refusals as the report shows them: [{"id","reason","status","errorCode"}], in id order.
CREATE OR REPLACE FUNCTION orch.redrive_refused_json(p_ids uuid[], p_reasons text[])
RETURNS jsonb LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('id', u.i, 'reason', u.r, 'status', s.status,
                                                 'errorCode', s.last_error_code) ORDER BY u.i), '[]')
    FROM unnest(p_ids, p_reasons) AS u(i, r) LEFT JOIN sms_messages s ON s.id = u.i
$$;

-- Sends FAILED messages again (see above); returns the report:
--   {"dryRun", "selection": {...}, "moved": [{"id","accountId","previousErrorCode"}],
--    "refused": [{"id","reason","status","errorCode"}], "summary": {"moved": n, "refused": {reason: n}},
--    "otherReasons": {code: n}, "more": bool}
-- p_dry_run: the same report, nothing locked or changed ("moved": what would move).
--
-- Cost: with filters, the ids of the FAILED messages of the selection are
-- read once, and the messages judged in id order only until p_limit may
-- move: a run costs about its p_limit (plus the refused ones of lower id,
-- which every run meets again: they stay FAILED) and one read of the ids,
-- not a judgement of the whole window (0.5-1 s for 1,000 with 88,000 FAILED
-- messages in the window, measured on a loaded test stack).
CREATE OR REPLACE FUNCTION orch.redrive(
    p_ids        uuid[] DEFAULT NULL,
    p_reasons    text[] DEFAULT NULL,
    p_account_id text DEFAULT NULL,
    p_since      timestamptz DEFAULT NULL,
    p_until      timestamptz DEFAULT NULL,
    p_limit      integer DEFAULT 1000,
    p_dry_run    boolean DEFAULT false)
RETURNS jsonb LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
SET orch.transition_via = 'orch.redrive'
SET lock_timeout = '10s'
SET jit = off
AS $$
DECLARE
    v_named boolean := p_reasons IS NOT NULL;
    v_reasons text[] := coalesce(p_reasons, redrive_default_reasons());
    v_pick uuid[] := '{}';       -- the messages locked and judged below
    v_seen uuid[] := '{}';       -- with filters: refused while selecting, and why
    v_seen_why text[] := '{}';
    v_more boolean := false;
    v_other jsonb := '{}';
    v_id uuid;
    v_msg sms_messages;
    v_why text;
    v_ids uuid[];                -- after the lock: each judged id, and its refusal (NULL: it moves)
    v_why_all text[];
    v_move uuid[];
    v_done uuid[];
    v_refused_ids uuid[];
    v_refused_why text[];
BEGIN
    PERFORM redrive_check_args(p_ids, p_reasons, p_account_id, p_since, p_until, p_limit);

    IF p_ids IS NOT NULL THEN
        v_pick := ARRAY(SELECT DISTINCT u.i FROM unnest(p_ids) AS u(i) ORDER BY 1);
    ELSE
        -- The ids of the FAILED messages of the selection, read once (materialized: never an
        -- id-order walk of the whole table), then each message judged in id order until one more
        -- than p_limit may move.
        FOR v_id IN WITH c AS MATERIALIZED (
                        SELECT s.id FROM sms_messages s
                        WHERE s.status = 'FAILED' AND s.last_error_code = ANY (v_reasons)
                          AND (p_account_id IS NULL OR s.account_id = p_account_id)
                          AND (p_since IS NULL OR s.updated_at >= p_since)
                          AND (p_until IS NULL OR s.updated_at < p_until))
                    SELECT c.id FROM c ORDER BY c.id LOOP
            SELECT s.* INTO v_msg FROM sms_messages s WHERE s.id = v_id;
            v_why := redrive_refusal(v_msg, v_reasons, v_named, clock_timestamp());
            IF v_why IS NOT NULL THEN
                v_seen := v_seen || v_msg.id;
                v_seen_why := v_seen_why || v_why;
            ELSIF cardinality(v_pick) < p_limit THEN
                v_pick := v_pick || v_msg.id;
            ELSE
                v_more := true;
                EXIT;
            END IF;
        END LOOP;

        SELECT coalesce(jsonb_object_agg(g.code, g.n ORDER BY g.code), '{}') INTO v_other
        FROM (SELECT coalesce(s.last_error_code, '') AS code, count(*) AS n FROM sms_messages s
              WHERE s.status = 'FAILED' AND NOT (coalesce(s.last_error_code, '') = ANY (v_reasons))
                AND (p_account_id IS NULL OR s.account_id = p_account_id)
                AND (p_since IS NULL OR s.updated_at >= p_since)
                AND (p_until IS NULL OR s.updated_at < p_until)
              GROUP BY 1) g;
    END IF;

    -- Lock what may move, in id order (two redrives at once: the second waits here), then judge
    -- each message as it is now: what another redrive moved meanwhile is not FAILED any more.
    IF NOT p_dry_run THEN
        PERFORM 1 FROM sms_messages s WHERE s.id = ANY (v_pick) AND s.status = 'FAILED' ORDER BY s.id FOR UPDATE;
    END IF;
    SELECT array_agg(u.i ORDER BY u.i),
           array_agg(CASE WHEN s.id IS NULL THEN 'not_found'
                          ELSE redrive_refusal(s, v_reasons, v_named, clock_timestamp()) END ORDER BY u.i)
    INTO v_ids, v_why_all
    FROM unnest(v_pick) AS u(i) LEFT JOIN sms_messages s ON s.id = u.i;
    v_move := ARRAY(SELECT u.i FROM unnest(v_ids, v_why_all) AS u(i, r) WHERE u.r IS NULL ORDER BY u.i);

    IF p_dry_run THEN
        v_done := v_move;
    ELSE
        v_done := ARRAY(SELECT t.id FROM transition_many(v_move, 'FAILED', 'QUEUED') t ORDER BY t.id);
        IF cardinality(v_done) > 0 THEN
            PERFORM pg_notify('orch_outbox', ''); -- the relays publish the new requests now, not at their next poll
        END IF;
    END IF;
    -- The refused: those judged while selecting, then those judged after the lock (and, were one
    -- missed by the compare-and-set despite the lock, it is reported, never counted as moved).
    SELECT array_agg(x.i), array_agg(x.r) INTO v_refused_ids, v_refused_why FROM (
        SELECT u.i, u.r, 1 AS k FROM unnest(v_seen, v_seen_why) AS u(i, r)
        UNION ALL
        SELECT u.i, coalesce(u.r, 'not_failed'), 2 FROM unnest(v_ids, v_why_all) AS u(i, r)
        WHERE u.r IS NOT NULL OR NOT (u.i = ANY (v_done))
        ORDER BY 3, 1) x;

    RETURN jsonb_build_object(
        'dryRun', p_dry_run,
        'selection', jsonb_build_object('ids', CASE WHEN p_ids IS NOT NULL THEN cardinality(v_pick) END,
                                        'reasons', to_jsonb(v_reasons), 'reasonsNamed', v_named,
                                        'accountId', p_account_id, 'since', iso_time(p_since),
                                        'until', iso_time(p_until), 'limit', p_limit),
        'moved', coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'accountId', s.account_id,
                                                               'previousErrorCode', s.last_error_code) ORDER BY s.id)
                           FROM sms_messages s WHERE s.id = ANY (v_done)), '[]'),
        -- (listed: at most p_limit; counted: all)
        'refused', redrive_refused_json(v_refused_ids[1:p_limit], v_refused_why[1:p_limit]),
        'summary', jsonb_build_object(
            'moved', cardinality(v_done),
            'refused', (SELECT coalesce(jsonb_object_agg(g.r, g.n ORDER BY g.r), '{}')
                        FROM (SELECT u.r, count(*) AS n FROM unnest(v_refused_why) AS u(r) GROUP BY 1) g)),
        'otherReasons', v_other,
        'more', v_more);
END
$$;

COMMENT ON FUNCTION orch.redrive_default_reasons() IS 'The error codes redrive sends again when none are named: retries_exhausted, routing_unavailable (failures that were not the message''s own)';
COMMENT ON FUNCTION orch.redrive_refusal(orch.sms_messages, text[], boolean, timestamptz) IS 'Internal: why a message may not be redriven (not_failed, may_have_reached_operator, expired, own_reason, other_reason), NULL when it may';
COMMENT ON FUNCTION orch.redrive_check_args(uuid[], text[], text, timestamptz, timestamptz, integer) IS 'Internal: checks the arguments of orch.redrive(), raising OR003 with the bad one';
COMMENT ON FUNCTION orch.redrive_refused_json(uuid[], text[]) IS 'Internal: the refused list of a redrive report (id, reason, status, errorCode) for ids and their reasons';
COMMENT ON FUNCTION orch.redrive(uuid[], text[], text, timestamptz, timestamptz, integer, boolean) IS 'Redrive (domain.md): FAILED -> QUEUED with a fresh retry budget, a status event and a new sms.outbound.request, for listed ids or filters (error codes, account, failure time window), at most p_limit; refuses what may have reached an operator, what expired, and failures of a message''s own; returns a JSON report of what moved and what was refused and why';
