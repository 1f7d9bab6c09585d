-- Idempotency records are kept for the node's IDEMPOTENCY_RETENTION (30 days by default) and then
-- deleted by the node, oldest first, a batch at a time; this index finds them without reading the
-- whole table.
CREATE INDEX requests_created ON requests (created_at);
COMMENT ON TABLE requests IS 'Idempotency records: the reply to every successful state-changing request, kept for IDEMPOTENCY_RETENTION.';
