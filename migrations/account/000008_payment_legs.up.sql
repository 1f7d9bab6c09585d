-- A payment moves money among up to 16 accounts in one two-phase commit, so its legs need names
-- distinct within it: "debit.N" and "credit.N", N its place in the request (contract.LegSide is
-- the grammar). A transfer's legs keep their names, "debit" and "credit".
ALTER TABLE holds DROP CONSTRAINT holds_leg_check;
ALTER TABLE holds ADD CONSTRAINT holds_leg_check
    CHECK (leg IN ('debit', 'credit') OR leg ~ '^(debit|credit)\.([1-9]|1[0-6])$');
COMMENT ON COLUMN holds.leg IS 'debit or credit for a transfer; debit.N or credit.N (1 to 16) for a leg of a payment.';
