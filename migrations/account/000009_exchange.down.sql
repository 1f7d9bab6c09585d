ALTER TABLE holds DROP COLUMN exchange;
