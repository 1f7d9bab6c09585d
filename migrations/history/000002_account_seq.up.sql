-- Each node numbers an account's events 1, 2, 3… in commit order (accounts.event_seq) and publishes
-- the number with the event. An account's events can reach the stream out of that order (a paused
-- node's relay resuming after its successor's, a publish retried after a later one landed), so the
-- history orders them by this number, not by stream_seq, and reconciliation compares the rows up to
-- the number a node reads with its balance.
ALTER TABLE transactions ADD COLUMN account_seq bigint;
-- Rows from before are numbered in stream order, as the nodes number their older events.
UPDATE transactions t SET account_seq = n.seq
FROM (SELECT event_id, row_number() OVER (PARTITION BY account ORDER BY stream_seq) AS seq FROM transactions) n
WHERE t.event_id = n.event_id;
ALTER TABLE transactions ALTER COLUMN account_seq SET NOT NULL;
-- Not unique: two rows with one number would be a node's bug, which reconciliation reports, where a
-- unique index would stop the ingest.
CREATE INDEX transactions_account_seq ON transactions (account, account_seq);
COMMENT ON COLUMN transactions.account_seq IS 'The account''s event number on its node: 1, 2, 3… in commit order, with no gap.';

CREATE OR REPLACE VIEW monthly_statements AS
WITH ordered AS (
    SELECT account, currency, date_trunc('month', at AT TIME ZONE 'UTC')::date AS month, account_seq,
           amount, balance_after
    FROM transactions
)
SELECT account, currency, month,
       (array_agg(balance_after - amount ORDER BY account_seq))[1] AS opening_balance,
       (array_agg(balance_after ORDER BY account_seq DESC))[1] AS closing_balance,
       coalesce(sum(amount) FILTER (WHERE amount > 0), 0) AS total_in,
       coalesce(sum(amount) FILTER (WHERE amount < 0), 0) AS total_out,
       count(*) AS transactions
FROM ordered
GROUP BY account, currency, month;

CREATE OR REPLACE VIEW account_balances AS
SELECT DISTINCT ON (account) account, currency, balance_after AS balance, at AS as_of
FROM transactions
ORDER BY account, account_seq DESC;
