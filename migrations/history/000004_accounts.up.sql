-- The accounts the history knows of, events or not (issue 12): account_balances left out every
-- account with no event yet, because the history knew accounts only from their events. The
-- registry (tsbank_accounts) names every account but is not SQL-visible and carries only the
-- owning node, so the history service copies the nodes' list of accounts (bank.accounts.list)
-- here every ACCOUNTS_SYNC. An account opened since the last copy has no row yet.
CREATE TABLE accounts (
    account     text        PRIMARY KEY,
    node        text        NOT NULL,
    currency    char(3)     NOT NULL,
    currency_exponent smallint NOT NULL,
    status      text        NOT NULL CHECK (status IN ('open', 'closed')),
    opened_at   timestamptz NOT NULL,
    closed_at   timestamptz,
    synced_at   timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE accounts IS 'Every account the history knows of, copied from the account nodes every ACCOUNTS_SYNC; accounts opened since the last copy are missing.';
COMMENT ON COLUMN accounts.account IS 'The account id.';
COMMENT ON COLUMN accounts.node IS 'The account node that owns it.';
COMMENT ON COLUMN accounts.currency IS 'ISO 4217 currency of the account.';
COMMENT ON COLUMN accounts.currency_exponent IS 'Its decimals (ISO 4217 minor unit): 2 for EUR, 0 for JPY.';
COMMENT ON COLUMN accounts.status IS 'open or closed, as of synced_at.';
COMMENT ON COLUMN accounts.opened_at IS 'When the account was opened on its node.';
COMMENT ON COLUMN accounts.closed_at IS 'When it was closed; NULL while open.';
COMMENT ON COLUMN accounts.synced_at IS 'When the history last copied a change of this row from the nodes.';

-- Every account with a transaction, and every account of the table above without one (balance 0
-- with its currency's decimals, as_of NULL: it has no transaction to be the balance after).
DROP VIEW account_balances;
CREATE VIEW account_balances AS
WITH latest AS (
    SELECT DISTINCT ON (account) account, currency, balance_after AS balance, at AS as_of
    FROM transactions
    ORDER BY account, account_seq DESC
)
SELECT coalesce(l.account, a.account) AS account, coalesce(l.currency, a.currency) AS currency,
       coalesce(l.balance, round(0, a.currency_exponent)) AS balance, l.as_of
FROM latest l FULL JOIN accounts a ON a.account = l.account;
COMMENT ON VIEW account_balances IS 'Each account''s balance after its newest transaction; 0, as_of NULL, for an account of the accounts table with none yet.';
