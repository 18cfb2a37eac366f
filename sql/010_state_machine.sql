-- The message state machine: every status change of orch.sms_messages goes
-- through orch.transition(), which in the caller's transaction
--   1. compare-and-sets the status (nothing happens when the message is not
--      in the expected state: a late or duplicate worker),
--   2. bumps the per-message seq and writes one orch.sms_status_history row,
--   3. writes the sms.events.status outbox row, and the next-step outbox row
--      where the new state needs one (domain.md).
-- A trigger refuses any status change that orch.allowed_transitions does not
-- list, also for a hand-written UPDATE.
--
-- Error codes raised here (SQLSTATE class "OR", this project's):
--   OR001  transition not allowed by the state machine
--   OR002  operator id is not a NATS subject token
--   OR003  a required argument is missing

CREATE OR REPLACE FUNCTION orch.iso_time(p_at timestamptz)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- Payload builders, shared by the set-based accept and the per-message
-- transition so every event has one shape. Plain SQL and STABLE (what they
-- call is), so the planner inlines them instead of running each per row.

-- The subject suffix of a priority lane (events.md, as documented in
-- docs/events.md): high messages go on sms.outbound.request.high and
-- sms.outbound.retry.high, which the pipeline's high lane consumes.
CREATE OR REPLACE FUNCTION orch.lane_suffix(p_priority text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_priority = 'high' THEN '.high' ELSE '' END
$$;

-- The NATS headers of events.md for an outbox row of message m.
CREATE OR REPLACE FUNCTION orch.outbox_headers(m orch.sms_messages, p_msg_id uuid)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'Nats-Msg-Id', p_msg_id::text,
        'Orch-Message-Id', m.id::text,
        'Orch-Account-Id', m.account_id,
        'X-Request-ID', m.request_id,
        'traceparent', m.traceparent,
        'Content-Type', 'application/json',
        'Orch-Priority', m.priority))
$$;

-- A CloudEvents 1.0 structured envelope.
CREATE OR REPLACE FUNCTION orch.cloudevent(p_msg_id uuid, p_type text, p_at timestamptz, p_data jsonb)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object('specversion', '1.0', 'id', p_msg_id::text, 'source', 'sms-orchestrator',
                              'type', p_type, 'time', orch.iso_time(p_at),
                              'datacontenttype', 'application/json', 'data', p_data)
$$;

-- data of an sms.events.status event for m in its (new) state.
CREATE OR REPLACE FUNCTION orch.status_event_data(m orch.sms_messages, p_previous text)
RETURNS jsonb LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'messageId', m.id, 'accountId', m.account_id, 'seq', m.seq,
        'status', m.status, 'previousStatus', p_previous, 'attempt', m.attempt_count,
        'operatorId', m.operator_id, 'routeId', m.route_id,
        'error', CASE WHEN m.last_error_code IS NOT NULL AND m.status NOT IN ('QUEUED', 'ROUTED', 'SUBMITTED')
                      THEN jsonb_build_object('code', m.last_error_code, 'detail', m.last_error_detail) END,
        'clientReference', m.client_reference, 'callbackUrl', m.callback_url,
        'bulkId', m.bulk_id, 'priority', m.priority, 'sendAt', orch.iso_time(m.send_at),
        'at', orch.iso_time(m.updated_at))
$$;

-- One outbox row for message m. Returns its msg_id (its Nats-Msg-Id).
CREATE OR REPLACE FUNCTION orch.enqueue(p_subject text, p_type text, m orch.sms_messages, p_data jsonb)
RETURNS uuid LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    v_msg_id uuid := uuid_v7();
BEGIN
    INSERT INTO outbox (msg_id, subject, message_id, headers, payload)
    VALUES (v_msg_id, p_subject, m.id, outbox_headers(m, v_msg_id),
            cloudevent(v_msg_id, p_type, clock_timestamp(), p_data));
    RETURN v_msg_id;
END
$$;

-- record_status (one message) is done set-based by orch.transition_many().
DROP FUNCTION IF EXISTS orch.record_status(orch.sms_messages, text);

-- The accept transaction's work for one HTTP request (send: one message;
-- bulk: its valid items), in one statement:
--   * the idempotency record (when the request has a key): inserted, or an
--     expired one replaced; when a live one exists nothing else is written
--     and its stored answer is returned (accepted = false) for the caller
--     to replay (same fingerprint) or refuse (another one);
--   * each message in QUEUED with seq 1, its history row, its QUEUED status
--     event and its sms.outbound.request outbox row (on its lane's subject);
--     a message with a send_at is SCHEDULED instead, and gets its request
--     when the scheduler releases it (orch.release_scheduled);
--   * p_bulk_id on every message of a bulk request.
-- The arrays hold one element per message, in the same order (p_priority
-- NULL: all normal; p_send_at NULL: all at once).
-- (It gained p_priority, p_send_at and p_bulk_id: the older definition goes first.)
DROP FUNCTION IF EXISTS orch.accept(text, text, text, integer, text, timestamptz, text, text, timestamptz, uuid[],
                                    text[], text[], text[], text[], integer[], text[], text[], timestamptz[]);
CREATE OR REPLACE FUNCTION orch.accept(
    p_account_id text, p_idempotency_key text, p_fingerprint text,
    p_response_status integer, p_response_body text, p_idempotency_expires_at timestamptz,
    p_request_id text, p_traceparent text, p_created_at timestamptz,
    p_ids uuid[], p_to text[], p_sender text[], p_body text[], p_encoding text[], p_segments integer[],
    p_client_reference text[], p_callback_url text[], p_valid_until timestamptz[],
    p_priority text[] DEFAULT NULL, p_send_at timestamptz[] DEFAULT NULL, p_bulk_id uuid DEFAULT NULL)
RETURNS TABLE (accepted boolean, response_status integer, response_body text, fingerprint text)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF p_idempotency_key IS NOT NULL THEN
        INSERT INTO idempotency_keys AS k (account_id, idem_key, fingerprint, response_status, response_body,
                                           message_ids, created_at, expires_at)
        VALUES (p_account_id, p_idempotency_key, p_fingerprint, p_response_status, p_response_body,
                p_ids, p_created_at, p_idempotency_expires_at)
        ON CONFLICT (account_id, idem_key) DO UPDATE
            SET fingerprint = EXCLUDED.fingerprint, response_status = EXCLUDED.response_status,
                response_body = EXCLUDED.response_body, message_ids = EXCLUDED.message_ids,
                created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
            WHERE k.expires_at <= now();
        IF NOT FOUND THEN
            RETURN QUERY SELECT false, k.response_status::integer, k.response_body, k.fingerprint
                         FROM idempotency_keys k
                         WHERE k.account_id = p_account_id AND k.idem_key = p_idempotency_key;
            RETURN;
        END IF;
    END IF;

    WITH m AS (
        INSERT INTO sms_messages (id, account_id, status, to_e164, sender, body, encoding, segments,
                                  client_reference, callback_url, valid_until, idempotency_key, request_id,
                                  traceparent, created_at, updated_at, priority, send_at, bulk_id)
        SELECT u.id, p_account_id, CASE WHEN u.send_at IS NULL THEN 'QUEUED' ELSE 'SCHEDULED' END,
               u.to_e164, u.sender, u.body, u.encoding, u.segments, u.client_reference,
               u.callback_url, u.valid_until, p_idempotency_key, p_request_id, p_traceparent,
               p_created_at, p_created_at, coalesce(u.priority, 'normal'), u.send_at, p_bulk_id
        FROM unnest(p_ids, p_to, p_sender, p_body, p_encoding, p_segments, p_client_reference,
                    p_callback_url, p_valid_until,
                    coalesce(p_priority, array_fill(NULL::text, ARRAY[cardinality(p_ids)])),
                    coalesce(p_send_at, array_fill(NULL::timestamptz, ARRAY[cardinality(p_ids)])))
             AS u(id, to_e164, sender, body, encoding, segments, client_reference, callback_url, valid_until,
                  priority, send_at)
        RETURNING *
    ), h AS (
        INSERT INTO sms_status_history (message_id, seq, status, at)
        SELECT m.id, 1, m.status, m.created_at FROM m
    )
    INSERT INTO outbox (msg_id, subject, message_id, headers, payload, priority)
    SELECT e.msg_id, e.subject, m.id, outbox_headers(ROW(m.*)::sms_messages, e.msg_id),
           cloudevent(e.msg_id, e.type, m.created_at, e.data), m.priority
    FROM m CROSS JOIN LATERAL (VALUES
        (uuid_v7(), 'sms.events.status', 'sms.events.status',
         status_event_data(ROW(m.*)::sms_messages, NULL), 1),
        (uuid_v7(), 'sms.outbound.request' || lane_suffix(m.priority), 'sms.outbound.request',
         jsonb_build_object('messageId', m.id, 'accountId', m.account_id, 'attempt', 0), 2))
        AS e(msg_id, subject, type, data, ord)
    WHERE e.ord = 1 OR m.status = 'QUEUED'
    ORDER BY m.id, e.ord;

    RETURN QUERY SELECT true, p_response_status, NULL::text, p_fingerprint;
END
$$;

-- The finished answer recorded for an Idempotency-Key, when there is one
-- still inside its window: PostgreSQL is the authority when Redis still
-- shows the key in flight (a marker left by a request answered while Redis
-- hung). No row: no request with the key has been answered.
CREATE OR REPLACE FUNCTION orch.idempotency_lookup(p_account_id text, p_idempotency_key text)
RETURNS TABLE (fingerprint text, response_status integer, response_body text)
LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT k.fingerprint, k.response_status::integer, k.response_body
    FROM idempotency_keys k
    WHERE k.account_id = p_account_id AND k.idem_key = p_idempotency_key AND k.expires_at > now()
$$;

-- One message without an idempotency key: for DBAs' tests and fixtures.
CREATE OR REPLACE FUNCTION orch.accept_message(
    p_id uuid, p_account_id text, p_to text, p_sender text, p_body text,
    p_encoding text, p_segments integer, p_client_reference text, p_callback_url text,
    p_valid_until timestamptz, p_idempotency_key text, p_request_id text, p_traceparent text)
RETURNS timestamptz LANGUAGE sql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT now() FROM accept(p_account_id, NULL, NULL, 202, NULL, NULL, p_request_id, p_traceparent, now(),
                             ARRAY[p_id], ARRAY[p_to], ARRAY[p_sender], ARRAY[p_body], ARRAY[p_encoding],
                             ARRAY[p_segments], ARRAY[p_client_reference], ARRAY[p_callback_url],
                             ARRAY[p_valid_until])
$$;

-- The outbox row that drives the step after m's new state, if any: its
-- subject, CloudEvents type and data (no row when the state needs none).
-- Plain SQL without a SET clause (names qualified instead): with one, every
-- call was planned again (1.4 ms a call, measured); without, one statement
-- plans it once for all its rows (0.004 ms a call).
CREATE OR REPLACE FUNCTION orch.next_step(m orch.sms_messages, p_previous text)
RETURNS TABLE (subject text, type text, data jsonb) LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT 'smpp.operator.' || m.operator_id, 'smpp.operator.submit', jsonb_build_object(
            'messageId', m.id, 'accountId', m.account_id, 'operatorId', m.operator_id,
            'routeId', m.route_id, 'to', m.to_e164, 'from', m.sender, 'body', m.body,
            'encoding', m.encoding, 'segments', m.segments, 'validUntil', orch.iso_time(m.valid_until),
            'clientReference', m.client_reference, 'priority', m.priority)
    WHERE m.status = 'ROUTED'
    UNION ALL
    SELECT 'sms.outbound.retry' || orch.lane_suffix(m.priority), 'sms.outbound.retry',
           jsonb_build_object('messageId', m.id, 'accountId', m.account_id, 'attempt', m.attempt_count)
    WHERE m.status = 'QUEUED' AND p_previous = 'RETRY_SCHEDULED'
    UNION ALL
    -- A scheduled message released: its first request, as accept writes it for one sent at once;
    -- a FAILED message redriven (orch.redrive): a new request, its retry budget fresh.
    SELECT 'sms.outbound.request' || orch.lane_suffix(m.priority), 'sms.outbound.request',
           jsonb_build_object('messageId', m.id, 'accountId', m.account_id, 'attempt', m.attempt_count)
    WHERE m.status = 'QUEUED' AND p_previous IN ('SCHEDULED', 'FAILED')
    UNION ALL
    SELECT 'sms.outbound.deadletter', 'sms.outbound.deadletter', jsonb_build_object(
            'messageId', m.id, 'accountId', m.account_id, 'status', m.status,
            'reason', m.last_error_code, 'attempts', m.attempt_count,
            'lastError', m.last_error_detail, 'to', m.to_e164, 'from', m.sender,
            'clientReference', m.client_reference, 'bulkId', m.bulk_id, 'priority', m.priority,
            'at', orch.iso_time(m.updated_at))
    WHERE m.status IN ('FAILED', 'REJECTED', 'EXPIRED')
$$;

-- enqueue_next_step (one message) was replaced by orch.next_step(), used set-based by orch.transition_many().
DROP FUNCTION IF EXISTS orch.enqueue_next_step(orch.sms_messages, text);

-- Withdraws pending operator rows (ids locked by the caller) whose message
-- became p_status: they leave the outbox without being published
-- (published_at set, last_error says why, attempts unchanged; the table's
-- CHECK wants first_attempt_at once published_at is set, so a row never
-- attempted gets the withdrawal time there). Returns how many.
CREATE OR REPLACE FUNCTION orch.withdraw_operator_rows(p_ids bigint[], p_status text)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    WITH u AS (
        UPDATE outbox SET published_at = clock_timestamp(),
                          first_attempt_at = coalesce(first_attempt_at, clock_timestamp()),
                          last_error = format('withdrawn: the message became %s before this row was published',
                                              coalesce(p_status, 'unknown (no such message)'))
        WHERE id = ANY (p_ids) AND published_at IS NULL AND subject LIKE 'smpp.operator.%'
        RETURNING 1
    )
    SELECT count(*)::integer INTO n FROM u;
    RETURN n;
END
$$;

-- The one way to change the status of messages, many at once, in one
-- statement: for each id of p_ids still in p_expected, compare-and-set to
-- p_new (nothing happens to a message in another state: a late or duplicate
-- worker), seq + 1, one orch.sms_status_history row, the sms.events.status
-- outbox row and the next-step outbox row where the new state needs one
-- (domain.md), in message-id order (per message: status event first). The
-- per-message arrays (NULL: none) are aligned with p_ids; a repeated id is
-- moved once. Returns (id, seq) of the messages moved. p_routing_attempt
-- counts one routing attempt each; FAILED -> QUEUED (orch.redrive() only)
-- starts attempt_count again from 0. ROUTED -> FAILED/EXPIRED withdraws the
-- message's pending operator row. p_stamp_operator_rows: the caller
-- publishes the new operator rows itself right after its commit, so their
-- first publish attempt is recorded now, durably, with them (see
-- orch.outbox_stamp_operator_rows for why it must be).
-- (A first version had no p_stamp_operator_rows: drop it, or calls would be ambiguous.)
DROP FUNCTION IF EXISTS orch.transition_many(uuid[], text, text, text[], text[], text[], text[], timestamptz[], boolean);
CREATE OR REPLACE FUNCTION orch.transition_many(
    p_ids             uuid[],
    p_expected        text,
    p_new             text,
    p_error_code      text[] DEFAULT NULL,
    p_error_detail    text[] DEFAULT NULL,
    p_operator_id     text[] DEFAULT NULL,
    p_route_id        text[] DEFAULT NULL,
    p_next_attempt_at timestamptz[] DEFAULT NULL,
    p_routing_attempt boolean DEFAULT false,
    p_stamp_operator_rows boolean DEFAULT false)
RETURNS TABLE (id uuid, seq integer) LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    v_ids uuid[];
    v_seqs integer[];
    v_bad text;
    v_via text;
BEGIN
    IF p_expected IS NULL OR p_new IS NULL THEN
        RAISE EXCEPTION 'orch.transition: expected and new status are required' USING ERRCODE = 'OR003';
    END IF;
    SELECT t.only_via INTO v_via FROM allowed_transitions t WHERE t.from_status = p_expected AND t.to_status = p_new;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'transition % -> % is not allowed', p_expected, p_new
            USING ERRCODE = 'OR001',
                  HINT = 'orch.allowed_transitions lists the transitions of the state machine';
    END IF;
    -- (a transition that only one function makes, FAILED -> QUEUED by orch.redrive(): see the trigger below)
    IF v_via IS NOT NULL AND current_setting('orch.transition_via', true) IS DISTINCT FROM v_via THEN
        RAISE EXCEPTION 'transition % -> % is not allowed', p_expected, p_new
            USING ERRCODE = 'OR001', DETAIL = format('Only %s() makes this transition.', v_via),
                  HINT = 'orch.allowed_transitions.only_via names the function that makes it';
    END IF;
    IF coalesce(cardinality(p_ids), 0) = 0 THEN
        RETURN;
    END IF;
    IF array_position(p_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'orch.transition: message id is required' USING ERRCODE = 'OR003';
    END IF;
    IF p_new = 'ROUTED' THEN
        SELECT coalesce(quote_literal(u.op), 'NULL') INTO v_bad
        FROM unnest(p_ids, p_operator_id) AS u(i, op)
        WHERE u.op IS NULL OR u.op !~ '^[A-Za-z0-9_-]{1,64}$' LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'operator id % is not a NATS subject token', v_bad USING ERRCODE = 'OR002';
        END IF;
    END IF;
    IF p_new = 'RETRY_SCHEDULED' AND EXISTS (SELECT 1 FROM unnest(p_ids, p_next_attempt_at) AS u(i, t) WHERE u.t IS NULL) THEN
        RAISE EXCEPTION 'RETRY_SCHEDULED needs next_attempt_at' USING ERRCODE = 'OR003';
    END IF;

    WITH x AS (
        SELECT DISTINCT ON (u.i) u.*
        FROM unnest(p_ids, p_error_code, p_error_detail, p_operator_id, p_route_id, p_next_attempt_at)
             AS u(i, error_code, error_detail, operator_id, route_id, next_attempt_at)
        WHERE u.i IS NOT NULL
        ORDER BY u.i
    ), m AS (
        UPDATE sms_messages s SET
            status = p_new,
            seq = s.seq + 1,
            updated_at = clock_timestamp(),
            -- (FAILED -> QUEUED is a redrive: a fresh retry budget; the history keeps the old attempts)
            attempt_count = CASE WHEN p_expected = 'FAILED' THEN 0 ELSE s.attempt_count END
                            + CASE WHEN p_routing_attempt THEN 1 ELSE 0 END,
            next_attempt_at = CASE WHEN p_new = 'RETRY_SCHEDULED' THEN x.next_attempt_at END,
            operator_id = CASE WHEN p_new = 'ROUTED' THEN x.operator_id ELSE s.operator_id END,
            route_id = CASE WHEN p_new = 'ROUTED' THEN x.route_id ELSE s.route_id END,
            last_error_code = CASE WHEN p_new = 'ROUTED' THEN NULL
                                   ELSE coalesce(x.error_code, s.last_error_code) END,
            last_error_detail = CASE WHEN p_new = 'ROUTED' THEN NULL
                                     WHEN x.error_code IS NOT NULL THEN x.error_detail
                                     ELSE s.last_error_detail END
        FROM x
        -- "IS TRUE": not a condition an index on status can serve, so the messages are found by
        -- primary key whatever the statistics say (stale ones, during a backlog, once had the
        -- planner scan every QUEUED message through the status index for a batch of 64).
        WHERE s.id = x.i AND (s.status = p_expected) IS TRUE
        RETURNING s.*
    ), h AS (
        INSERT INTO sms_status_history (message_id, seq, status, previous_status, error_code, error_detail, at)
        SELECT m.id, m.seq, m.status, p_expected,
               CASE WHEN m.status IN ('ROUTED', 'SUBMITTED', 'QUEUED') THEN NULL ELSE m.last_error_code END,
               CASE WHEN m.status IN ('ROUTED', 'SUBMITTED', 'QUEUED') THEN NULL ELSE m.last_error_detail END,
               m.updated_at
        FROM m
    ), e AS (
        SELECT m.id AS mid, 1 AS ord, 'sms.events.status' AS subject, 'sms.events.status' AS type,
               status_event_data(ROW(m.*)::sms_messages, p_expected) AS data, ROW(m.*)::sms_messages AS msg,
               uuid_v7() AS msg_id
        FROM m
        UNION ALL
        SELECT m.id, 2, n.subject, n.type, n.data, ROW(m.*)::sms_messages, uuid_v7()
        FROM m CROSS JOIN LATERAL next_step(ROW(m.*)::sms_messages, p_expected) n
    ), o AS (
        INSERT INTO outbox (msg_id, subject, message_id, headers, payload, first_attempt_at, priority)
        SELECT e.msg_id, e.subject, e.mid, outbox_headers(e.msg, e.msg_id),
               cloudevent(e.msg_id, e.type, clock_timestamp(), e.data),
               -- (an operator with a throughput limit: its rows are stamped when its bucket grants them)
               CASE WHEN p_stamp_operator_rows AND e.ord = 2 AND p_new = 'ROUTED'
                         AND NOT EXISTS (SELECT 1 FROM operator_limits l WHERE l.operator_id = (e.msg).operator_id)
                    THEN clock_timestamp() END,
               (e.msg).priority
        FROM e
        ORDER BY e.mid, e.ord
    )
    SELECT array_agg(m.id ORDER BY m.id), array_agg(m.seq ORDER BY m.id) INTO v_ids, v_seqs FROM m;

    IF v_ids IS NULL THEN
        RETURN;
    END IF;
    -- A ROUTED message that fails or expires must not reach its operator:
    -- withdraw its pending operator row (it leaves the outbox unpublished).
    -- SKIP LOCKED: a relay holding the row is publishing it right now;
    -- waiting for it would deadlock with outbox_mark_published(), which
    -- holds the row and CASes this message ROUTED -> SUBMITTED (it now
    -- misses). A row skipped here is withdrawn by orch.reconcile()
    -- (operator_row_withdrawn) if it is still pending then.
    IF p_expected = 'ROUTED' AND p_new IN ('FAILED', 'EXPIRED') THEN
        PERFORM withdraw_operator_rows(ARRAY(
            SELECT o.id FROM outbox o
            WHERE o.message_id = ANY (v_ids) AND o.subject LIKE 'smpp.operator.%' AND o.published_at IS NULL
            FOR UPDATE SKIP LOCKED), p_new);
    END IF;
    RETURN QUERY SELECT u.i, u.s FROM unnest(v_ids, v_seqs) AS u(i, s);
END
$$;

-- One message: orch.transition_many() for one id. Returns the new seq, or
-- NULL when the message is not in p_expected (compare-and-set missed:
-- nothing was changed). p_routing_attempt counts one routing attempt.
CREATE OR REPLACE FUNCTION orch.transition(
    p_message_id      uuid,
    p_expected        text,
    p_new             text,
    p_error_code      text DEFAULT NULL,
    p_error_detail    text DEFAULT NULL,
    p_operator_id     text DEFAULT NULL,
    p_route_id        text DEFAULT NULL,
    p_next_attempt_at timestamptz DEFAULT NULL,
    p_routing_attempt boolean DEFAULT false)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER
SET search_path = orch, pg_catalog, pg_temp
AS $$
BEGIN
    IF p_message_id IS NULL OR p_expected IS NULL OR p_new IS NULL THEN
        RAISE EXCEPTION 'orch.transition: message id, expected and new status are required'
            USING ERRCODE = 'OR003';
    END IF;
    RETURN (SELECT t.seq FROM transition_many(ARRAY[p_message_id], p_expected, p_new, ARRAY[p_error_code],
                                              ARRAY[p_error_detail], ARRAY[p_operator_id], ARRAY[p_route_id],
                                              ARRAY[p_next_attempt_at], p_routing_attempt) t);
END
$$;

-- Trigger: refuse a status change the state machine does not allow, even
-- one written by hand. A transition with only_via set (FAILED -> QUEUED:
-- 'orch.redrive') is allowed only while the setting orch.transition_via
-- holds that name, which only that function sets (for its own call).
CREATE OR REPLACE FUNCTION orch.check_transition()
RETURNS trigger LANGUAGE plpgsql
SET search_path = orch, pg_catalog, pg_temp
AS $$
DECLARE
    v_via text;
BEGIN
    SELECT t.only_via INTO v_via FROM allowed_transitions t
    WHERE t.from_status = OLD.status AND t.to_status = NEW.status;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'transition % -> % is not allowed', OLD.status, NEW.status
            USING ERRCODE = 'OR001',
                  HINT = 'use orch.transition(); orch.allowed_transitions lists the state machine';
    END IF;
    IF v_via IS NOT NULL AND current_setting('orch.transition_via', true) IS DISTINCT FROM v_via THEN
        RAISE EXCEPTION 'transition % -> % is not allowed', OLD.status, NEW.status
            USING ERRCODE = 'OR001', DETAIL = format('Only %s() makes this transition.', v_via),
                  HINT = 'orch.allowed_transitions.only_via names the function that makes it';
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS sms_messages_check_transition ON orch.sms_messages;
CREATE TRIGGER sms_messages_check_transition
    BEFORE UPDATE OF status ON orch.sms_messages
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION orch.check_transition();
