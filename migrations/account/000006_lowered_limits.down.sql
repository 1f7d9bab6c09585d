-- Fails while an account is beyond a lowered limit: raise the limit, or wait, before going down.
DROP TRIGGER accounts_no_overdraft ON accounts;
DROP FUNCTION tsbank_no_overdraft();
ALTER TABLE accounts ADD CONSTRAINT accounts_no_overdraft CHECK (balance - on_hold >= -overdraft_limit);
