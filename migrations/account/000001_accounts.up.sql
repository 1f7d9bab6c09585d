-- One account node's database: its accounts, the idempotency record of every state-changing
-- request, and the transactional outbox of balance-change events.

CREATE TABLE accounts (
    id              text        PRIMARY KEY,
    currency        char(3)     NOT NULL,
    balance         bigint      NOT NULL DEFAULT 0,
    on_hold         bigint      NOT NULL DEFAULT 0 CHECK (on_hold >= 0),
    overdraft_limit bigint      NOT NULL DEFAULT 0 CHECK (overdraft_limit >= 0),
    status          text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    opened_at       timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz,
    -- The last line of defence against overdraft: the service checks first and says why.
    CONSTRAINT accounts_no_overdraft CHECK (balance - on_hold >= -overdraft_limit)
);
COMMENT ON TABLE accounts IS 'Accounts owned by this node. Amounts are integer minor units of currency.';
COMMENT ON COLUMN accounts.balance IS 'Ledger balance in minor units (cents for EUR).';
COMMENT ON COLUMN accounts.on_hold IS 'Sum of outgoing transfer holds not yet committed or aborted, minor units.';
COMMENT ON COLUMN accounts.overdraft_limit IS 'How far below zero the available balance may go, minor units; 0 = no overdraft.';

-- Idempotency: a retry with the same (account, request id) gets the stored reply; the same id
-- with another fingerprint (a hash of the operation and its fields) is a conflict.
CREATE TABLE requests (
    account_id  text        NOT NULL,
    request_id  text        NOT NULL,
    fingerprint bytea       NOT NULL,
    reply       jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, request_id)
);

-- Transactional outbox. A row commits with the balance change it describes; the relay publishes
-- unsent rows to JetStream with Nats-Msg-Id = event_id and then sets sent_at. The relay looks for
-- sent_at IS NULL rather than following seq, so a row that commits late is never skipped.
CREATE TABLE outbox (
    seq        bigserial   PRIMARY KEY,
    event_id   uuid        NOT NULL UNIQUE,
    account_id text        NOT NULL REFERENCES accounts (id),
    subject    text        NOT NULL,
    payload    jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz
);
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX outbox_account ON outbox (account_id, seq);
COMMENT ON TABLE outbox IS 'Every balance-change event of this node, kept after it is sent; sent_at NULL = not yet on the stream.';
