CREATE OR REPLACE VIEW account_balances AS
SELECT DISTINCT ON (account) account, currency, balance_after AS balance, at AS as_of
FROM transactions
ORDER BY account, stream_seq DESC;

DROP VIEW monthly_statements;
CREATE VIEW monthly_statements AS
WITH ordered AS (
    SELECT account, currency, date_trunc('month', at AT TIME ZONE 'UTC')::date AS month, stream_seq,
           amount, balance_after
    FROM transactions
)
SELECT account, currency, month,
       (array_agg(balance_after - amount ORDER BY stream_seq))[1] AS opening_balance,
       (array_agg(balance_after ORDER BY stream_seq DESC))[1] AS closing_balance,
       coalesce(sum(amount) FILTER (WHERE amount > 0), 0) AS total_in,
       coalesce(sum(amount) FILTER (WHERE amount < 0), 0) AS total_out,
       count(*) AS transactions
FROM ordered
GROUP BY account, currency, month;
COMMENT ON VIEW monthly_statements IS 'Per account and UTC month: opening balance, closing balance, money in, money out (negative), count.';

DROP INDEX transactions_account_seq;
ALTER TABLE transactions DROP COLUMN account_seq;
