-- Exchange rates and quotes (docs/adr/0035). Every rate ever set is kept: the one in force for a
-- pair at a moment is the newest whose valid_from is not after it. A quote fixes a rate and both
-- amounts of one cross-currency transfer until it expires; used_by names the payment that carried
-- it out, set in the transaction that logs the payment, so a quote is used once.
CREATE TABLE rates (
    request_id   text        PRIMARY KEY,
    fingerprint  bytea       NOT NULL,
    base         char(3)     NOT NULL,
    quote        char(3)     NOT NULL CHECK (quote <> base),
    rate         numeric     NOT NULL CHECK (rate > 0),
    valid_from   timestamptz NOT NULL,
    set_at       timestamptz NOT NULL DEFAULT now(),
    set_by       text        NOT NULL DEFAULT ''
);
CREATE INDEX rates_in_force ON rates (base, quote, valid_from DESC, set_at DESC);

-- A cross-currency transfer is a payment of four legs, asked by its payer: its request id is
-- scoped to the payer, as a transfer's is, while an operator's payment keeps a request id of its
-- own (payer NULL). The partial unique indexes replace the one on request_id.
ALTER TABLE payments ADD COLUMN payer text;
ALTER TABLE payments DROP CONSTRAINT payments_request_id_key;
CREATE UNIQUE INDEX payments_operator_request ON payments (request_id) WHERE payer IS NULL;
CREATE UNIQUE INDEX payments_payer_request ON payments (payer, request_id) WHERE payer IS NOT NULL;

-- Each leg has its own currency (an exchange's legs are in two), and its counterparty as its
-- event names it; a payment logged before has its payment's currency on every leg, and its
-- counterparty is never needed again (a leg is prepared once, right after it is logged).
ALTER TABLE payment_legs ADD COLUMN currency char(3);
UPDATE payment_legs l SET currency = p.currency FROM payments p WHERE p.payment_id = l.payment_id;
ALTER TABLE payment_legs ALTER COLUMN currency SET NOT NULL;
ALTER TABLE payment_legs ADD COLUMN counterparty text NOT NULL DEFAULT '';

CREATE TABLE quotes (
    quote_id      text        PRIMARY KEY,
    payer         text        NOT NULL,
    request_id    text        NOT NULL,
    fingerprint   bytea       NOT NULL,
    payee         text        NOT NULL,
    from_currency char(3)     NOT NULL,
    from_minor    bigint      NOT NULL CHECK (from_minor > 0),
    to_currency   char(3)     NOT NULL CHECK (to_currency <> from_currency),
    to_minor      bigint      NOT NULL CHECK (to_minor > 0),
    rate          numeric     NOT NULL CHECK (rate > 0),
    rate_id       text        NOT NULL REFERENCES rates (request_id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    used_by       text        UNIQUE REFERENCES payments (payment_id),
    UNIQUE (payer, request_id)
);

COMMENT ON TABLE rates IS 'Every exchange rate ever set: rate units of quote buy one unit of base, from valid_from.';
COMMENT ON COLUMN rates.set_by IS 'The operator''s own note of who set it (not authenticated: every operator is one NATS user).';
COMMENT ON TABLE quotes IS 'Quotes of cross-currency transfers: a rate and both amounts fixed until expires_at.';
COMMENT ON COLUMN quotes.to_minor IS 'from_minor at rate, rounded toward zero to to_currency''s minor unit.';
COMMENT ON COLUMN quotes.used_by IS 'The payment (four legs) that carried the quote out; NULL while unused.';
COMMENT ON COLUMN payments.payer IS 'Of a cross-currency transfer, its payer, whose request id it is; NULL for an operator''s payment.';
