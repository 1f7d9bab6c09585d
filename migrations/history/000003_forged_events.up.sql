-- Events the history refused because the node that published them could not have written them
-- (issue 10): the node in the subject is not the event's node, or the registry says another node,
-- or none, owns the account. They are kept here for an operator, never added to transactions, so
-- they change no balance, statement or reconciliation.
CREATE TABLE forged_events (
    stream_seq      bigint      NOT NULL,
    event_id        text        NOT NULL,
    account         text        NOT NULL,
    subject         text        NOT NULL,
    claimed_node    text        NOT NULL,
    publishing_node text,
    registry_owner  text,
    reason          text        NOT NULL CHECK (reason IN ('node_mismatch', 'subject_mismatch', 'not_owner', 'unregistered_account')),
    payload         jsonb       NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    -- A redelivered message has both again; two different messages never do, whatever id a
    -- forger puts in the event.
    PRIMARY KEY (stream_seq, event_id)
);
CREATE INDEX forged_events_account ON forged_events (account);

COMMENT ON TABLE forged_events IS 'Events refused as forged: published by a node that did not write them or does not own their account.';
COMMENT ON COLUMN forged_events.stream_seq IS 'Sequence of the message in the TSBANK_EVENTS stream.';
COMMENT ON COLUMN forged_events.event_id IS 'The id the event gives itself (not trusted, so not unique).';
COMMENT ON COLUMN forged_events.account IS 'The account the event names.';
COMMENT ON COLUMN forged_events.subject IS 'The subject it was published on.';
COMMENT ON COLUMN forged_events.claimed_node IS 'The node the event says wrote it (its node field).';
COMMENT ON COLUMN forged_events.publishing_node IS 'The node in the subject, whose NATS user published it; NULL on a subject from before bank.outbox.';
COMMENT ON COLUMN forged_events.registry_owner IS 'The node the registry says owns the account; NULL if none does.';
COMMENT ON COLUMN forged_events.reason IS 'node_mismatch, subject_mismatch, not_owner or unregistered_account.';
COMMENT ON COLUMN forged_events.payload IS 'The event as published.';
COMMENT ON COLUMN forged_events.received_at IS 'When the history recorded it.';
