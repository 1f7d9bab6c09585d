-- The coordinator's durable log: one row per transfer. The decision (outcome) is written here, by a
-- conditional update from state 'preparing', before any participant hears it; no decision means
-- abort. Several coordinator instances share this table: the conditional update is what makes
-- exactly one of them decide a transfer.

CREATE TABLE transfers (
    transfer_id     text        PRIMARY KEY,
    from_account    text        NOT NULL,
    request_id      text        NOT NULL,
    fingerprint     bytea       NOT NULL,
    to_account      text        NOT NULL,
    amount          text        NOT NULL,
    description     text        NOT NULL DEFAULT '',
    currency        char(3),
    amount_minor    bigint,
    state           text        NOT NULL DEFAULT 'preparing'
                                CHECK (state IN ('preparing', 'committed', 'aborted', 'done')),
    outcome         text        CHECK (outcome IN ('committed', 'aborted')),
    reason          text        NOT NULL DEFAULT '',
    message         text        NOT NULL DEFAULT '',
    debit_vote      text        NOT NULL DEFAULT '',
    credit_vote     text        NOT NULL DEFAULT '',
    debit_acked     boolean     NOT NULL DEFAULT false,
    credit_acked    boolean     NOT NULL DEFAULT false,
    resends         integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz,
    done_at         timestamptz,
    UNIQUE (from_account, request_id),
    CONSTRAINT transfers_decided CHECK ((state = 'preparing') = (outcome IS NULL))
);
CREATE INDEX transfers_open ON transfers (next_attempt_at) WHERE state <> 'done';

COMMENT ON TABLE transfers IS 'Two-phase-commit log: one row per transfer, its votes, decision and acknowledgements.';
COMMENT ON COLUMN transfers.state IS 'preparing (no decision), committed or aborted (decided, not every leg acknowledged), done.';
COMMENT ON COLUMN transfers.outcome IS 'The decision, written once: committed or aborted; NULL while preparing.';
COMMENT ON COLUMN transfers.debit_vote IS 'The paying leg''s vote: yes, or no:<reason>; empty if it never answered.';
COMMENT ON COLUMN transfers.resends IS 'How many times the decision was re-sent after the first try.';
