-- Which committed transfers the bank's counters (TSBANK_COUNTERS, docs/adr/0032) include. The
-- history counts its transfer_out rows in batches: it numbers a batch (count_batch) in one
-- statement, publishes the batch's increments with ids made of that number, then marks the rows
-- counted. After a crash between the two, the same batch is published again with the same ids,
-- which JetStream's duplicate window turns into no-ops.
CREATE SEQUENCE count_batches;
ALTER TABLE transactions ADD COLUMN count_batch bigint, ADD COLUMN counted_at timestamptz;
CREATE INDEX transactions_uncounted ON transactions (count_batch, stream_seq)
    WHERE type = 'transfer_out' AND counted_at IS NULL;
COMMENT ON COLUMN transactions.count_batch IS 'For a transfer_out row: the batch in which the bank''s counters counted it.';
COMMENT ON COLUMN transactions.counted_at IS 'For a transfer_out row: when the counters'' increments for its batch were acknowledged; NULL until then.';
