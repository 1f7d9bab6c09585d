DROP TABLE holds;
ALTER TABLE accounts DROP COLUMN pending_in;
