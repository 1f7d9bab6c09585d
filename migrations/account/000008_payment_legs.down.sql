-- Fails while a payment's leg is stored: those holds would not fit the narrower check.
ALTER TABLE holds DROP CONSTRAINT holds_leg_check;
ALTER TABLE holds ADD CONSTRAINT holds_leg_check CHECK (leg IN ('debit', 'credit'));
COMMENT ON COLUMN holds.leg IS NULL;
