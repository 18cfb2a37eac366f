-- Views that answer a DBA's daily questions. Re-created by every migrate.

-- What is waiting in the outbox, per subject, and how long the oldest row
-- has waited. A growing age means the relay is not publishing (NATS down?).
CREATE OR REPLACE VIEW orch.v_outbox_backlog AS
SELECT subject,
       count(*)                                   AS pending,
       min(created_at)                            AS oldest_created_at,
       now() - min(created_at)                    AS oldest_age,
       max(attempts)                              AS max_attempts,
       count(*) FILTER (WHERE last_error IS NOT NULL) AS with_errors
FROM orch.outbox
WHERE published_at IS NULL
GROUP BY subject;

-- How many messages are in each state, and the oldest of them.
CREATE OR REPLACE VIEW orch.v_messages_by_status AS
SELECT s.status,
       s.terminal,
       count(m.id)         AS messages,
       min(m.created_at)   AS oldest_created_at,
       max(m.updated_at)   AS last_updated_at
FROM orch.message_states s
LEFT JOIN orch.sms_messages m ON m.status = s.status
GROUP BY s.status, s.terminal;

-- Messages in a non-terminal state for longer than p_older_than: QUEUED and
-- ROUTED by their last change, RETRY_SCHEDULED and SCHEDULED by how
-- overdue they are (a ROUTED one waiting for its operator's limit is not).
CREATE OR REPLACE FUNCTION orch.stuck_messages(p_older_than interval DEFAULT interval '60 seconds')
RETURNS TABLE (id uuid, account_id text, status text, seq integer, attempt_count integer,
               updated_at timestamptz, next_attempt_at timestamptz, stuck_for interval)
LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT m.id, m.account_id, m.status, m.seq, m.attempt_count, m.updated_at, m.next_attempt_at,
           now() - CASE WHEN m.status = 'RETRY_SCHEDULED' THEN m.next_attempt_at
                        WHEN m.status = 'SCHEDULED' THEN m.send_at ELSE m.updated_at END
    FROM sms_messages m
    WHERE (m.status = 'QUEUED' AND m.updated_at < now() - p_older_than)
       -- (a ROUTED message waiting for its operator's throughput limit is not stuck)
       OR (m.status = 'ROUTED' AND m.updated_at < now() - p_older_than
           AND NOT (EXISTS (SELECT 1 FROM operator_limits l WHERE l.operator_id = m.operator_id)
                    AND EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id AND o.subject LIKE 'smpp.operator.%'
                                AND o.published_at IS NULL AND o.first_attempt_at IS NULL)))
       OR (m.status = 'RETRY_SCHEDULED' AND m.next_attempt_at < now() - p_older_than)
       OR (m.status = 'SCHEDULED' AND m.send_at < now() - p_older_than)
    ORDER BY 8 DESC
$$;

-- The same with the threshold of the session setting orch.stuck_after
-- (SET orch.stuck_after = '5 min'), 60 seconds when unset.
CREATE OR REPLACE VIEW orch.v_stuck_messages AS
SELECT * FROM orch.stuck_messages(
    coalesce(nullif(current_setting('orch.stuck_after', true), ''), '60 seconds')::interval);

-- The pending outbox, estimated from its two ends (two index probes, no
-- count): rows between the oldest and the newest unpublished id, and the
-- age of the oldest. An upper bound when rows in between are published;
-- cheap enough to run every second for load shedding and metrics.
CREATE OR REPLACE FUNCTION orch.outbox_backlog_estimate(OUT pending bigint, OUT oldest_age_seconds double precision)
LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT max(id) FROM outbox WHERE published_at IS NULL) - o.id + 1, 0),
           coalesce(extract(epoch FROM now() - o.created_at)::double precision, 0)
    FROM (SELECT NULL) AS one
    LEFT JOIN LATERAL (SELECT id, created_at FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 1) o ON true
$$;

-- What GET /v1/sms/{messageId} answers: the message and its history as
-- JSON text, or NULL when the id is unknown or belongs to another account.
CREATE OR REPLACE FUNCTION orch.message_json(p_id uuid, p_account_id text)
RETURNS text LANGUAGE sql STABLE
SET search_path = orch, pg_catalog, pg_temp
AS $$
    SELECT json_build_object(
        'messageId', m.id, 'status', m.status, 'to', m.to_e164, 'from', m.sender,
        'encoding', m.encoding, 'segments', m.segments, 'clientReference', m.client_reference,
        'attempts', m.attempt_count, 'operatorId', m.operator_id, 'routeId', m.route_id,
        'validUntil', iso_time(m.valid_until), 'createdAt', iso_time(m.created_at),
        'updatedAt', iso_time(m.updated_at), 'priority', m.priority, 'sendAt', iso_time(m.send_at),
        'bulkId', m.bulk_id,
        'error', CASE WHEN m.last_error_code IS NOT NULL
                      THEN json_build_object('code', m.last_error_code, 'detail', m.last_error_detail) END,
        'history', (SELECT json_agg(json_build_object('status', h.status, 'at', iso_time(h.at)) ORDER BY h.seq)
                    FROM sms_status_history h WHERE h.message_id = m.id))::text
    FROM sms_messages m
    WHERE m.id = p_id AND m.account_id = p_account_id
$$;

-- Per operator with a throughput limit: the limit, what waits for it
-- (ROUTED messages whose operator row is not yet granted) and how long the
-- oldest has waited.
CREATE OR REPLACE VIEW orch.v_operator_limits AS
SELECT l.operator_id, l.max_per_second, l.burst, b.tokens, b.refilled_at,
       w.waiting, w.oldest_waiting_since, now() - w.oldest_waiting_since AS oldest_wait
FROM orch.operator_limits l
LEFT JOIN orch.operator_buckets b ON b.operator_id = l.operator_id
LEFT JOIN LATERAL (
    SELECT count(*) AS waiting, min(o.created_at) AS oldest_waiting_since FROM orch.outbox o
    WHERE o.subject = 'smpp.operator.' || l.operator_id AND o.published_at IS NULL AND o.first_attempt_at IS NULL
) w ON true;
