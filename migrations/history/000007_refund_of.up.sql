-- A refund's rows name the transfer they refund; the original's rows find their refunds by it.
ALTER TABLE transactions ADD COLUMN refund_of text;
CREATE INDEX transactions_refund_of ON transactions (refund_of, account) WHERE refund_of IS NOT NULL;

COMMENT ON COLUMN transactions.refund_of IS 'On a row of a refund, the transfer_id of the transfer it refunds; NULL otherwise.';
