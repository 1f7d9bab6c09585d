-- A leg of a cross-currency transfer carries its exchange (the quote, the rate and both amounts)
-- into its event, and so into the history (docs/adr/0035). The node does not read it.
ALTER TABLE holds ADD COLUMN exchange jsonb;
COMMENT ON COLUMN holds.exchange IS 'For a leg of a cross-currency transfer: quote, rate, from_amount, from_currency, to_amount, to_currency; NULL otherwise.';
