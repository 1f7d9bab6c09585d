-- Moving an account to another node (docs/adr/0036). The account's row says where it is in a
-- move: '' (served here), 'leaving' (no new work: the legs in flight finish), 'gone' (it lives on
-- move_peer now, and this node may never write it again) or 'arriving' (copied here, not served
-- until the registry points here). Every change locks the row first, so the state is the fence:
-- once 'gone' commits, no later transaction of this node can change the account.
ALTER TABLE accounts ADD COLUMN move_state text NOT NULL DEFAULT ''
    CHECK (move_state IN ('', 'leaving', 'gone', 'arriving'));
ALTER TABLE accounts ADD COLUMN move_id text NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN move_peer text NOT NULL DEFAULT '';
COMMENT ON COLUMN accounts.move_state IS 'The account''s part in a move: empty (served here), leaving, gone (lives on move_peer) or arriving.';
COMMENT ON COLUMN accounts.move_id IS 'The last move of the account on this node (its request id), kept after it is done so that a repeated step is recognised.';
COMMENT ON COLUMN accounts.move_peer IS 'The other node of that move: where the account went, or where it came from.';

-- An account drawn beyond a lowered overdraft limit is allowed to stay so (migration 6); its copy
-- arriving on another node is the same account, not a new draw.
CREATE OR REPLACE FUNCTION tsbank_no_overdraft() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.balance - NEW.on_hold < -NEW.overdraft_limit
       AND NEW.move_state <> 'arriving'
       AND (TG_OP = 'INSERT' OR NEW.balance - NEW.on_hold < OLD.balance - OLD.on_hold) THEN
        RAISE EXCEPTION 'account % would draw beyond its overdraft limit', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

-- A move copies an account's legs: found by account, which the primary key (transfer, leg) cannot.
CREATE INDEX holds_account ON holds (account_id, transfer_id, leg);
