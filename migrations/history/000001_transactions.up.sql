-- The history database: every committed balance change of every account, one row per event,
-- written by the history service from the TSBANK_EVENTS stream. Made to be read with SQL.

CREATE TABLE transactions (
    event_id            uuid        PRIMARY KEY,
    account             text        NOT NULL,
    type                text        NOT NULL CHECK (type IN ('deposit', 'withdrawal', 'transfer_out', 'transfer_in')),
    amount              numeric     NOT NULL,
    amount_minor        bigint      NOT NULL,
    currency            char(3)     NOT NULL,
    balance_after       numeric     NOT NULL,
    balance_after_minor bigint      NOT NULL,
    at                  timestamptz NOT NULL,
    description         text        NOT NULL DEFAULT '',
    transfer_id         text,
    counterparty        text,
    node                text        NOT NULL,
    request_id          text,
    stream_seq          bigint      NOT NULL,
    ingested_at         timestamptz NOT NULL DEFAULT now()
);

-- "One account, by time" (and by time then event id, the keyset of the default sort), and "one transfer".
CREATE INDEX transactions_account_at ON transactions (account, at, event_id);
CREATE INDEX transactions_account_amount ON transactions (account, (abs(amount_minor)), event_id);
CREATE INDEX transactions_transfer ON transactions (transfer_id) WHERE transfer_id IS NOT NULL;

COMMENT ON TABLE transactions IS 'Every committed balance change, one row per event; amounts are signed (negative = money out).';
COMMENT ON COLUMN transactions.event_id IS 'The event id (UUIDv7), unique: a redelivered event is not inserted twice.';
COMMENT ON COLUMN transactions.account IS 'The account whose balance changed.';
COMMENT ON COLUMN transactions.type IS 'deposit, withdrawal, transfer_out (paying leg) or transfer_in (receiving leg).';
COMMENT ON COLUMN transactions.amount IS 'Signed amount in major units of the currency, exact (12.50 = twelve euros fifty).';
COMMENT ON COLUMN transactions.amount_minor IS 'Signed amount in minor units (1250 for 12.50 EUR).';
COMMENT ON COLUMN transactions.currency IS 'ISO 4217 currency of the account.';
COMMENT ON COLUMN transactions.balance_after IS 'The account''s ledger balance after this change, major units.';
COMMENT ON COLUMN transactions.balance_after_minor IS 'The account''s ledger balance after this change, minor units.';
COMMENT ON COLUMN transactions.at IS 'When the change committed on its account node.';
COMMENT ON COLUMN transactions.description IS 'The description the client gave, possibly empty.';
COMMENT ON COLUMN transactions.transfer_id IS 'For transfer legs: the coordinator''s transfer id, the same on both legs.';
COMMENT ON COLUMN transactions.counterparty IS 'For transfer legs: the other account.';
COMMENT ON COLUMN transactions.node IS 'The account node that committed the change.';
COMMENT ON COLUMN transactions.request_id IS 'For deposits and withdrawals: the client''s idempotency id.';
COMMENT ON COLUMN transactions.stream_seq IS 'Sequence of the event in the TSBANK_EVENTS stream.';
COMMENT ON COLUMN transactions.ingested_at IS 'When the history service wrote the row.';

-- Daily totals per account and type.
CREATE VIEW daily_totals AS
SELECT account, currency, (at AT TIME ZONE 'UTC')::date AS day, type,
       count(*) AS transactions, sum(amount) AS total
FROM transactions
GROUP BY account, currency, (at AT TIME ZONE 'UTC')::date, type;
COMMENT ON VIEW daily_totals IS 'Per account, UTC day and type: how many transactions and their signed total.';

-- A statement per account and calendar month (UTC): opening and closing balance, money in and out.
CREATE VIEW monthly_statements AS
-- An account's events reach the stream in commit order, so stream_seq orders them exactly, even
-- two with the same timestamp.
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

-- The latest known balance of every account.
CREATE VIEW account_balances AS
SELECT DISTINCT ON (account) account, currency, balance_after AS balance, at AS as_of
FROM transactions
ORDER BY account, stream_seq DESC;
COMMENT ON VIEW account_balances IS 'Each account''s balance after its newest transaction.';
