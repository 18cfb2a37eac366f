-- What each object is, for the DBA reading \d+. Re-applied by every migrate.

COMMENT ON SCHEMA orch IS 'sms-orchestrator: outbound SMS messages, their state machine and the transactional outbox to NATS JetStream';

COMMENT ON TABLE orch.schema_migrations IS 'Versioned migrations applied by "sms-orchestrator migrate", with the checksum of each file';
COMMENT ON COLUMN orch.schema_migrations.version IS 'Number of the migration (the file name''s leading digits)';
COMMENT ON COLUMN orch.schema_migrations.name IS 'File name under migrations/';
COMMENT ON COLUMN orch.schema_migrations.checksum IS 'SHA-256 (hex) of the file as applied; migrate refuses to run when the file changed';
COMMENT ON COLUMN orch.schema_migrations.applied_at IS 'When it was applied';
COMMENT ON COLUMN orch.schema_migrations.applied_by IS 'Database role that applied it';

COMMENT ON TABLE orch.message_states IS 'The states of a message (domain.md); terminal ones end its life in this service';
COMMENT ON COLUMN orch.message_states.status IS 'State name as stored in sms_messages.status';
COMMENT ON COLUMN orch.message_states.terminal IS 'True when the message''s life in this service ends there: no transition leaves the state, except FAILED -> QUEUED, which only a person makes (orch.redrive)';
COMMENT ON COLUMN orch.message_states.description IS 'What the state means';

COMMENT ON TABLE orch.allowed_transitions IS 'The state machine: the only status changes the database accepts (enforced by a trigger on sms_messages)';
COMMENT ON COLUMN orch.allowed_transitions.from_status IS 'State the message is in';
COMMENT ON COLUMN orch.allowed_transitions.to_status IS 'State it may move to';
COMMENT ON COLUMN orch.allowed_transitions.only_via IS 'NULL, or the only function that makes this transition (FAILED -> QUEUED: orch.redrive); anything else is refused';

COMMENT ON TABLE orch.sms_messages IS 'One row per accepted outbound SMS; status changes only through orch.transition()';
COMMENT ON COLUMN orch.sms_messages.id IS 'UUIDv7 made by the service; the public messageId';
COMMENT ON COLUMN orch.sms_messages.account_id IS 'Tenant: the Kong consumer (X-Consumer-Custom-ID, else X-Consumer-ID)';
COMMENT ON COLUMN orch.sms_messages.status IS 'Current state (orch.message_states)';
COMMENT ON COLUMN orch.sms_messages.seq IS 'Per-message event sequence: 1 at QUEUED, +1 per transition; copied into every status event';
COMMENT ON COLUMN orch.sms_messages.to_e164 IS 'Destination, normalized E.164 with a leading +';
COMMENT ON COLUMN orch.sms_messages.sender IS 'Sender ID: alphanumeric (1-11), short code (3-8 digits) or E.164';
COMMENT ON COLUMN orch.sms_messages.body IS 'Message text (UTF-8)';
COMMENT ON COLUMN orch.sms_messages.encoding IS 'GSM7 or UCS2, as chosen at accept';
COMMENT ON COLUMN orch.sms_messages.segments IS 'Number of SMS segments the body takes';
COMMENT ON COLUMN orch.sms_messages.client_reference IS 'Optional client text, echoed in GET and in every event';
COMMENT ON COLUMN orch.sms_messages.callback_url IS 'Optional https URL carried in status events for webhook-dispatcher';
COMMENT ON COLUMN orch.sms_messages.attempt_count IS 'Routing attempts made so far';
COMMENT ON COLUMN orch.sms_messages.routing_calls IS 'SelectRoute calls made so far (charged or not); the next call carries this number as its attempt';
COMMENT ON COLUMN orch.sms_messages.next_attempt_at IS 'When a RETRY_SCHEDULED message is due; NULL in other states';
COMMENT ON COLUMN orch.sms_messages.operator_id IS 'Operator chosen by routing-engine (set on ROUTED); a NATS subject token';
COMMENT ON COLUMN orch.sms_messages.route_id IS 'Route chosen by routing-engine (set on ROUTED)';
COMMENT ON COLUMN orch.sms_messages.valid_until IS 'After this the message may not be handed to an operator (it becomes EXPIRED)';
COMMENT ON COLUMN orch.sms_messages.last_error_code IS 'Code of why the last attempt failed (e.g. retries_exhausted, no_route)';
COMMENT ON COLUMN orch.sms_messages.last_error_detail IS 'Human detail of the last error';
COMMENT ON COLUMN orch.sms_messages.idempotency_key IS 'The Idempotency-Key of the accepting request, when it had one';
COMMENT ON COLUMN orch.sms_messages.request_id IS 'X-Request-ID of the accepting request, carried into NATS headers';
COMMENT ON COLUMN orch.sms_messages.traceparent IS 'W3C traceparent of the accepting request, carried into NATS headers';
COMMENT ON COLUMN orch.sms_messages.created_at IS 'When the message was accepted';
COMMENT ON COLUMN orch.sms_messages.updated_at IS 'When its status last changed';
COMMENT ON COLUMN orch.sms_messages.priority IS 'normal or high: a high message goes before every waiting normal one at every stage (domain.md, priority)';
COMMENT ON COLUMN orch.sms_messages.send_at IS 'When a SCHEDULED message is released (the client''s sendAt); NULL: sent at once';
COMMENT ON COLUMN orch.sms_messages.bulk_id IS 'The bulk request that accepted the message (bulkId); NULL for send';

COMMENT ON TABLE orch.sms_status_history IS 'Every state a message went through, in seq order (what GET /v1/sms/{id} shows)';
COMMENT ON COLUMN orch.sms_status_history.message_id IS 'The message';
COMMENT ON COLUMN orch.sms_status_history.seq IS 'The message''s seq after this change';
COMMENT ON COLUMN orch.sms_status_history.status IS 'State entered';
COMMENT ON COLUMN orch.sms_status_history.previous_status IS 'State left (NULL for QUEUED at accept)';
COMMENT ON COLUMN orch.sms_status_history.error_code IS 'Error code that caused this change, for failure states';
COMMENT ON COLUMN orch.sms_status_history.error_detail IS 'Detail of that error';
COMMENT ON COLUMN orch.sms_status_history.at IS 'When the change happened';

COMMENT ON TABLE orch.outbox IS 'Transactional outbox: NATS publications written with the change they announce; the relay publishes them in id order';
COMMENT ON COLUMN orch.outbox.id IS 'Publication order';
COMMENT ON COLUMN orch.outbox.msg_id IS 'Nats-Msg-Id: the same on every republish, so JetStream drops duplicates inside its window';
COMMENT ON COLUMN orch.outbox.subject IS 'NATS subject (sms.outbound.request, sms.events.status, smpp.operator.<id>, ...)';
COMMENT ON COLUMN orch.outbox.message_id IS 'The message the row is about';
COMMENT ON COLUMN orch.outbox.headers IS 'NATS headers to publish with (JSON object of strings)';
COMMENT ON COLUMN orch.outbox.payload IS 'CloudEvents 1.0 structured JSON payload';
COMMENT ON COLUMN orch.outbox.created_at IS 'When the row was written';
COMMENT ON COLUMN orch.outbox.first_attempt_at IS 'First publish attempt; an smpp.operator row whose first attempt is older than the duplicate window is never republished. A withdrawn row never attempted gets the withdrawal time (set whenever published_at is)';
COMMENT ON COLUMN orch.outbox.attempts IS 'Publish attempts so far';
COMMENT ON COLUMN orch.outbox.last_error IS 'Why the last publish attempt failed; on a withdrawn smpp.operator row, "withdrawn: the message became <STATUS> before this row was published"';
COMMENT ON COLUMN orch.outbox.priority IS 'The lane of the row''s message: the relay claims high rows first';
COMMENT ON COLUMN orch.outbox.published_at IS 'When the row left the outbox: JetStream acknowledged it, or (last_error "withdrawn: ...") an smpp.operator row was withdrawn unpublished because its message became FAILED or EXPIRED; NULL = pending';

COMMENT ON TABLE orch.idempotency_keys IS 'Idempotency-Key records (PostgreSQL backstop of the Redis fast path), one per (account, key), kept until expires_at';
COMMENT ON COLUMN orch.idempotency_keys.account_id IS 'Account the key belongs to';
COMMENT ON COLUMN orch.idempotency_keys.idem_key IS 'The Idempotency-Key header value';
COMMENT ON COLUMN orch.idempotency_keys.fingerprint IS 'SHA-256 (hex) of the normalized request; another request with the key is a 422';
COMMENT ON COLUMN orch.idempotency_keys.response_status IS 'HTTP status of the first answer, replayed';
COMMENT ON COLUMN orch.idempotency_keys.response_body IS 'JSON body of the first answer, replayed';
COMMENT ON COLUMN orch.idempotency_keys.message_ids IS 'Messages the first request created';
COMMENT ON COLUMN orch.idempotency_keys.created_at IS 'When the first request was accepted';
COMMENT ON COLUMN orch.idempotency_keys.expires_at IS 'End of the idempotency window (ORCH_IDEMPOTENCY_TTL); purged after';

COMMENT ON TABLE orch.destination_blocklist IS 'DBA-editable: E.164 prefixes that may not be sent to; the pipeline REJECTs them with reason as the error code';
COMMENT ON COLUMN orch.destination_blocklist.prefix IS 'E.164 prefix with a leading + (longest match applies)';
COMMENT ON COLUMN orch.destination_blocklist.reason IS 'Error code given to rejected messages (lower_snake_case)';
COMMENT ON COLUMN orch.destination_blocklist.note IS 'Free text: who asked, ticket';
COMMENT ON COLUMN orch.destination_blocklist.created_at IS 'When the entry was added';

COMMENT ON TABLE orch.account_policy IS 'DBA-editable: per-account suspension and allowed sender IDs; no row = no restriction';
COMMENT ON COLUMN orch.account_policy.account_id IS 'The account';
COMMENT ON COLUMN orch.account_policy.suspended IS 'True: every message of the account is REJECTED (account_suspended)';
COMMENT ON COLUMN orch.account_policy.allowed_senders IS 'When not NULL, the only sender IDs the account may use (sender_not_allowed)';
COMMENT ON COLUMN orch.account_policy.note IS 'Free text: why';
COMMENT ON COLUMN orch.account_policy.updated_at IS 'When the policy last changed';

COMMENT ON TABLE orch.operator_limits IS 'DBA-editable: per-operator throughput limits (token bucket) on publishes to smpp.operator.<operator_id>, across all serve instances; no row = no limit; a change applies within a second';
COMMENT ON COLUMN orch.operator_limits.operator_id IS 'The operator (as routing-engine names it)';
COMMENT ON COLUMN orch.operator_limits.max_per_second IS 'Sustained publishes per second (the bucket''s refill rate)';
COMMENT ON COLUMN orch.operator_limits.burst IS 'Publishes allowed at once after a quiet time (the bucket''s size)';
COMMENT ON COLUMN orch.operator_limits.note IS 'Free text: the operator''s contract, ticket';
COMMENT ON COLUMN orch.operator_limits.updated_at IS 'When the limit last changed';

COMMENT ON TABLE orch.operator_buckets IS 'The service''s own state of each limited operator''s token bucket; locked by the instance granting that operator''s next publishes';
COMMENT ON COLUMN orch.operator_buckets.operator_id IS 'The operator (orch.operator_limits)';
COMMENT ON COLUMN orch.operator_buckets.tokens IS 'Tokens left at refilled_at';
COMMENT ON COLUMN orch.operator_buckets.refilled_at IS 'When tokens was last computed; the bucket refills at max_per_second since then, up to burst';

COMMENT ON VIEW orch.v_operator_limits IS 'Per limited operator: its limit, bucket, and the ROUTED messages waiting for it';
COMMENT ON COLUMN orch.v_operator_limits.operator_id IS 'The operator';
COMMENT ON COLUMN orch.v_operator_limits.max_per_second IS 'Its limit: publishes per second';
COMMENT ON COLUMN orch.v_operator_limits.burst IS 'Its limit: publishes at once';
COMMENT ON COLUMN orch.v_operator_limits.tokens IS 'Tokens in its bucket at refilled_at (NULL: no publish since the limit was set)';
COMMENT ON COLUMN orch.v_operator_limits.refilled_at IS 'When the bucket was last taken from';
COMMENT ON COLUMN orch.v_operator_limits.waiting IS 'Operator rows waiting for the bucket (ROUTED messages, never attempted)';
COMMENT ON COLUMN orch.v_operator_limits.oldest_waiting_since IS 'When the oldest waiting row was written';
COMMENT ON COLUMN orch.v_operator_limits.oldest_wait IS 'How long the oldest waiting row has waited';

COMMENT ON VIEW orch.v_outbox_backlog IS 'Pending outbox rows per subject with the oldest age: the relay''s backlog';
COMMENT ON COLUMN orch.v_outbox_backlog.subject IS 'NATS subject';
COMMENT ON COLUMN orch.v_outbox_backlog.pending IS 'Pending rows (neither published nor withdrawn)';
COMMENT ON COLUMN orch.v_outbox_backlog.oldest_created_at IS 'Creation time of the oldest unpublished row';
COMMENT ON COLUMN orch.v_outbox_backlog.oldest_age IS 'How long the oldest unpublished row has waited';
COMMENT ON COLUMN orch.v_outbox_backlog.max_attempts IS 'Most publish attempts of a pending row';
COMMENT ON COLUMN orch.v_outbox_backlog.with_errors IS 'Pending rows whose last attempt failed';

COMMENT ON VIEW orch.v_messages_by_status IS 'Message count per state, with the oldest creation and latest change';
COMMENT ON COLUMN orch.v_messages_by_status.status IS 'State';
COMMENT ON COLUMN orch.v_messages_by_status.terminal IS 'Whether the state is terminal';
COMMENT ON COLUMN orch.v_messages_by_status.messages IS 'Messages in the state';
COMMENT ON COLUMN orch.v_messages_by_status.oldest_created_at IS 'Oldest creation time among them';
COMMENT ON COLUMN orch.v_messages_by_status.last_updated_at IS 'Latest status change among them';

COMMENT ON VIEW orch.v_stuck_messages IS 'Non-terminal messages past the threshold of setting orch.stuck_after (default 60 seconds)';
COMMENT ON COLUMN orch.v_stuck_messages.id IS 'The message';
COMMENT ON COLUMN orch.v_stuck_messages.account_id IS 'Its account';
COMMENT ON COLUMN orch.v_stuck_messages.status IS 'Its non-terminal state';
COMMENT ON COLUMN orch.v_stuck_messages.seq IS 'Its event sequence';
COMMENT ON COLUMN orch.v_stuck_messages.attempt_count IS 'Routing attempts so far';
COMMENT ON COLUMN orch.v_stuck_messages.updated_at IS 'Last status change';
COMMENT ON COLUMN orch.v_stuck_messages.next_attempt_at IS 'Due time, for RETRY_SCHEDULED';
COMMENT ON COLUMN orch.v_stuck_messages.stuck_for IS 'How long past due (RETRY_SCHEDULED) or unchanged (QUEUED, ROUTED)';

COMMENT ON FUNCTION orch.iso_time(timestamptz) IS 'RFC 3339 UTC text with milliseconds, as in the JSON of the API and events';
COMMENT ON FUNCTION orch.enqueue(text, text, orch.sms_messages, jsonb) IS 'Writes one outbox row for a message: CloudEvents payload and NATS headers; returns its Nats-Msg-Id';
COMMENT ON FUNCTION orch.accept_message(uuid, text, text, text, text, text, integer, text, text, timestamptz, text, text, text) IS 'Accepts one message: QUEUED row, history, QUEUED status event, sms.outbound.request; call inside the accept transaction';
COMMENT ON FUNCTION orch.next_step(orch.sms_messages, text) IS 'The outbox row (subject, type, data) that drives the step after a message''s new state: operator publish, retry or dead letter; none for other states';
COMMENT ON FUNCTION orch.transition_many(uuid[], text, text, text[], text[], text[], text[], timestamptz[], boolean, boolean) IS 'Set-based orch.transition(): compare-and-sets every listed message still in the expected state, with seq+1, history, status event and next-step outbox rows in one statement; returns (id, seq) of those moved';
COMMENT ON FUNCTION orch.transition(uuid, text, text, text, text, text, text, timestamptz, boolean) IS 'The only way to change a message''s status: compare-and-set on the expected state (NULL when it missed), seq+1, history, status event, next-step outbox row; ROUTED -> FAILED/EXPIRED withdraws the pending operator row (unless a relay holds it); SQLSTATE OR001 for a transition the state machine forbids';
COMMENT ON FUNCTION orch.withdraw_operator_rows(bigint[], text) IS 'Internal: withdraws pending smpp.operator rows (locked by the caller) whose message became the given status: published_at set, never published, last_error "withdrawn: ..."; returns how many';
COMMENT ON FUNCTION orch.check_transition() IS 'Trigger: refuses a status change that orch.allowed_transitions does not list, and one it reserves to a function (only_via) made outside that function';
COMMENT ON FUNCTION orch.stuck_messages(interval) IS 'Non-terminal messages unchanged (or overdue, for RETRY_SCHEDULED) for longer than the interval';
COMMENT ON FUNCTION orch.outbox_headers(orch.sms_messages, uuid) IS 'The NATS headers (events.md) of an outbox row about a message';
COMMENT ON FUNCTION orch.cloudevent(uuid, text, timestamptz, jsonb) IS 'A CloudEvents 1.0 structured JSON envelope';
COMMENT ON FUNCTION orch.status_event_data(orch.sms_messages, text) IS 'The data of an sms.events.status event for a message in its new state';
COMMENT ON FUNCTION orch.accept(text, text, text, integer, text, timestamptz, text, text, timestamptz, uuid[], text[], text[], text[], text[], integer[], text[], text[], timestamptz[], text[], timestamptz[], uuid) IS 'The accept transaction of one HTTP request: idempotency record, then each message QUEUED with history, status event and sms.outbound.request on its lane (SCHEDULED with its status event only, when it has a send_at), with its priority and bulk id; returns the stored answer instead when the key is already used';
COMMENT ON FUNCTION orch.lane_suffix(text) IS 'The subject suffix of a priority lane: .high for high, empty for normal (sms.outbound.request.high, sms.outbound.retry.high)';
COMMENT ON FUNCTION orch.outbox_backlog_estimate() IS 'Pending outbox rows estimated from the oldest and newest unpublished ids (two index probes), and the oldest one''s age in seconds';
COMMENT ON FUNCTION orch.message_json(uuid, text) IS 'GET /v1/sms/{id}: the message and its history as JSON, NULL when unknown or another account''s';
COMMENT ON FUNCTION orch.idempotency_lookup(text, text) IS 'The stored answer of an Idempotency-Key inside its window (fingerprint, status, body); no row when none was answered';

-- Partitions (migration 0006, sql/072_partitions.sql).
COMMENT ON FUNCTION orch.uuid_v7() IS 'A new UUIDv7 (the clock in ms first): every outbox msg_id, so the outbox is cut by time';
COMMENT ON FUNCTION orch.uuid_v7_floor(timestamptz) IS 'The smallest UUIDv7 of the millisecond of a time: the partition bound of that time';
COMMENT ON FUNCTION orch.uuid_v7_time(uuid) IS 'The creation time a UUIDv7 carries (ms)';
COMMENT ON FUNCTION orch.partition_drop(text[], text[]) IS 'Drops partitions under ACCESS EXCLUSIVE on their parents, taken first in a fixed order, waiting at most 50 ms a lock a try, 100 from the third try, 200 from the fifth (10 tries): the service is held up at most that long; false when no try got the locks';
COMMENT ON FUNCTION orch.partition_create(text, date) IS 'Creates and attaches the partition of sms_messages, sms_status_history or outbox for one UTC day (history: with its foreign key to that day''s messages); NULL when it exists';
COMMENT ON FUNCTION orch.partition_parent_like(text, text, text[]) IS 'Migration 0006: a partitioned parent like the old table, with its indexes by their names so the attach reuses them';
COMMENT ON FUNCTION orch.partition_upkeep(boolean, interval, interval, timestamptz) IS 'Every reconcile pass: creates the days ahead, drops the days past retention (never one with open messages or unpublished outbox rows), counts the default partitions'' rows; dry: reports only. At most one drop (or the creates) a call, so that the parents'' locks end with it: "more": true asks the caller to call again';
COMMENT ON FUNCTION orch.partition_upper(oid) IS 'The upper bound of a range partition (NULL: MAXVALUE or default)';
COMMENT ON FUNCTION orch.partition_lower(oid) IS 'The lower bound of a range partition (NULL: MINVALUE or default)';
