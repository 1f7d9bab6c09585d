DROP INDEX transactions_refund_of;
ALTER TABLE transactions DROP COLUMN refund_of;
