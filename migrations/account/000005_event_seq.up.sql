-- Each account numbers its balance-change events 1, 2, 3… in commit order (the row is locked while
-- an event is written), and publishes the number with the event. The history orders an account's
-- events by it, whatever order they reached the stream in, and reconciles exactly: its rows of an
-- account up to event_seq add up to the balance read with event_seq.
ALTER TABLE accounts ADD COLUMN event_seq bigint NOT NULL DEFAULT 0 CHECK (event_seq >= 0);
COMMENT ON COLUMN accounts.event_seq IS 'Number of the newest event that changed the balance; the outbox holds events 1 to event_seq.';
-- Accounts that already have events: they count as numbered in outbox order.
UPDATE accounts a SET event_seq = (SELECT count(*) FROM outbox o WHERE o.account_id = a.id);
