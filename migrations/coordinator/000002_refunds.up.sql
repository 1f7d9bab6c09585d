-- A refund is a transfer from the original's payee back to its payer, linked to the original by
-- refund_of. The index serves the cap (the sum of an original's refunds, read while it is locked)
-- and the original's "refunded".
ALTER TABLE transfers ADD COLUMN refund_of text REFERENCES transfers (transfer_id);
CREATE INDEX transfers_refund_of ON transfers (refund_of) WHERE refund_of IS NOT NULL;

COMMENT ON COLUMN transfers.refund_of IS 'For a refund, the transfer_id of the transfer it refunds; NULL otherwise.';
