ALTER TABLE accounts DROP COLUMN event_seq;
