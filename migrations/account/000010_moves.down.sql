-- An older version cannot tell an account that left this node from one it serves: it would serve
-- both, and an account would have two owners. So the downgrade refuses while any account is in a
-- move or has left.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM accounts WHERE move_state <> '') THEN
        RAISE EXCEPTION 'accounts of this node are moving or have moved to another node: a version without moves would serve them here too';
    END IF;
END $$;
CREATE OR REPLACE FUNCTION tsbank_no_overdraft() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.balance - NEW.on_hold < -NEW.overdraft_limit
       AND (TG_OP = 'INSERT' OR NEW.balance - NEW.on_hold < OLD.balance - OLD.on_hold) THEN
        RAISE EXCEPTION 'account % would draw beyond its overdraft limit', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
DROP INDEX holds_account;
ALTER TABLE accounts DROP COLUMN move_peer;
ALTER TABLE accounts DROP COLUMN move_id;
ALTER TABLE accounts DROP COLUMN move_state;
