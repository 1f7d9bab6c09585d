-- A leg of a refund names the transfer it refunds, so that its event (and the history) links
-- the refund to the original.
ALTER TABLE holds ADD COLUMN refund_of text NOT NULL DEFAULT '';
COMMENT ON COLUMN holds.refund_of IS 'For a leg of a refund, the transfer_id of the transfer it refunds; empty otherwise.';
