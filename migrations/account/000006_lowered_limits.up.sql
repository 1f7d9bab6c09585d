-- An operator may lower an account's overdraft limit below what the account has already drawn
-- (issue 10): nothing is taken back, and the account may not draw further until it is within the
-- limit again. A CHECK sees only the new row, so it would refuse the lowering itself; the last line
-- of defence against overdraft becomes a trigger that refuses only a change that lowers the
-- available balance (balance - on_hold) below the limit, or keeps lowering it there.
ALTER TABLE accounts DROP CONSTRAINT accounts_no_overdraft;

CREATE FUNCTION tsbank_no_overdraft() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.balance - NEW.on_hold < -NEW.overdraft_limit
       AND (TG_OP = 'INSERT' OR NEW.balance - NEW.on_hold < OLD.balance - OLD.on_hold) THEN
        RAISE EXCEPTION 'account % would draw beyond its overdraft limit', NEW.id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER accounts_no_overdraft BEFORE INSERT OR UPDATE ON accounts
    FOR EACH ROW EXECUTE FUNCTION tsbank_no_overdraft();
