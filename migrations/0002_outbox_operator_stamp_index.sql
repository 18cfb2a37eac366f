-- 0002: the relay stamps the first publish attempt of operator rows before
-- publishing them (sql/050_relay.sql). This partial index makes that an
-- index probe instead of a walk over every pending row.
CREATE INDEX outbox_pending_operator_unstamped ON orch.outbox (id)
    WHERE published_at IS NULL AND first_attempt_at IS NULL AND subject LIKE 'smpp.operator.%';
