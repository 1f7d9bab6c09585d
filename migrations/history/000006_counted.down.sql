DROP INDEX transactions_uncounted;
ALTER TABLE transactions DROP COLUMN count_batch, DROP COLUMN counted_at;
DROP SEQUENCE count_batches;
