DROP VIEW account_balances;
CREATE VIEW account_balances AS
SELECT DISTINCT ON (account) account, currency, balance_after AS balance, at AS as_of
FROM transactions
ORDER BY account, account_seq DESC;
COMMENT ON VIEW account_balances IS 'Each account''s balance after its newest transaction.';

DROP TABLE accounts;
