DROP INDEX transfers_refund_of;
ALTER TABLE transfers DROP COLUMN refund_of;
