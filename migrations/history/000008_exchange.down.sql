DROP INDEX transactions_quote;
ALTER TABLE transactions DROP COLUMN exchange;
