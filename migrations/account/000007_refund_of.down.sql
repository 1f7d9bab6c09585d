ALTER TABLE holds DROP COLUMN refund_of;
