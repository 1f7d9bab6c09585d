-- Both rows of a cross-currency transfer (and the exchange accounts' two) carry its exchange:
-- the bank's quote id, the rate and both amounts (docs/adr/0035). Amounts stay per currency:
-- each row's own amount is in its account's currency, as every row's is.
ALTER TABLE transactions ADD COLUMN exchange jsonb;
CREATE INDEX transactions_quote ON transactions ((exchange->>'quote')) WHERE exchange IS NOT NULL;
COMMENT ON COLUMN transactions.exchange IS 'On a row of a cross-currency transfer: quote, rate, from_amount, from_currency, to_amount, to_currency; NULL otherwise.';
