-- A payment moves money among 2 to 16 accounts in one two-phase commit: one row in payments for
-- its decision (written by a conditional update from 'preparing', as a transfer's), and one row
-- per leg in payment_legs for the leg's vote and acknowledgement. Payment ids come from the same
-- generator as transfer ids, so a participant's decision query finds its id in one table or the
-- other.
CREATE TABLE payments (
    payment_id      text        PRIMARY KEY,
    request_id      text        NOT NULL UNIQUE,
    fingerprint     bytea       NOT NULL,
    description     text        NOT NULL DEFAULT '',
    currency        char(3)     NOT NULL,
    amount_minor    bigint      NOT NULL CHECK (amount_minor > 0),
    state           text        NOT NULL DEFAULT 'preparing'
                                CHECK (state IN ('preparing', 'committed', 'aborted', 'done')),
    outcome         text        CHECK (outcome IN ('committed', 'aborted')),
    reason          text        NOT NULL DEFAULT '',
    message         text        NOT NULL DEFAULT '',
    resends         integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    decided_at      timestamptz,
    done_at         timestamptz,
    CONSTRAINT payments_decided CHECK ((state = 'preparing') = (outcome IS NULL))
);
CREATE INDEX payments_open ON payments (next_attempt_at) WHERE state <> 'done';

CREATE TABLE payment_legs (
    payment_id   text    NOT NULL REFERENCES payments (payment_id) ON DELETE CASCADE,
    position     integer NOT NULL CHECK (position BETWEEN 1 AND 16),
    leg          text    NOT NULL CHECK (leg ~ '^(debit|credit)\.([1-9]|1[0-6])$'),
    account      text    NOT NULL,
    side         text    NOT NULL CHECK (side IN ('debit', 'credit')),
    amount       text    NOT NULL,
    amount_minor bigint  NOT NULL CHECK (amount_minor > 0),
    vote         text    NOT NULL DEFAULT '',
    acked        boolean NOT NULL DEFAULT false,
    PRIMARY KEY (payment_id, position),
    UNIQUE (payment_id, account),
    UNIQUE (payment_id, leg)
);

COMMENT ON TABLE payments IS 'Two-phase-commit log of payments: one decision for 2 to 16 legs.';
COMMENT ON TABLE payment_legs IS 'One row per leg of a payment: its account, side, amount, vote and acknowledgement.';
COMMENT ON COLUMN payment_legs.leg IS 'The leg''s name on its node: debit.N or credit.N, N its position.';
COMMENT ON COLUMN payment_legs.vote IS 'yes, or no:<reason>; empty if it never answered.';
