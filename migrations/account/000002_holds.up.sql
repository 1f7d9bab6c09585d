-- Transfer legs held by two-phase commit. A prepared debit leg reserves money (accounts.on_hold);
-- a prepared credit leg is recorded as pending_in so the account cannot close under it. Commit turns
-- the hold into a balance change and an outbox event; abort releases it. A leg that voted no, or
-- that got an abort before its prepare, is kept as an 'aborted' row so a late prepare is refused.

ALTER TABLE accounts ADD COLUMN pending_in bigint NOT NULL DEFAULT 0 CHECK (pending_in >= 0);
COMMENT ON COLUMN accounts.pending_in IS 'Sum of incoming transfer legs prepared but not yet decided, minor units.';

CREATE TABLE holds (
    transfer_id  text        NOT NULL,
    leg          text        NOT NULL CHECK (leg IN ('debit', 'credit')),
    account_id   text        NOT NULL REFERENCES accounts (id),
    amount       bigint      NOT NULL CHECK (amount >= 0),
    counterparty text        NOT NULL DEFAULT '',
    description  text        NOT NULL DEFAULT '',
    state        text        NOT NULL CHECK (state IN ('prepared', 'committed', 'aborted')),
    reason       text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    decided_at   timestamptz,
    PRIMARY KEY (transfer_id, leg)
);
CREATE INDEX holds_prepared ON holds (created_at) WHERE state = 'prepared';
COMMENT ON TABLE holds IS 'Two-phase-commit legs on this node: prepared (undecided), committed or aborted.';
