-- Run once, by the postgres container on its first start (an empty volume): one database per
-- account node and per service. Each belongs to one service; the migrate job creates the tables.
CREATE DATABASE tsbank_account_1;
CREATE DATABASE tsbank_account_2;
CREATE DATABASE tsbank_coordinator;
CREATE DATABASE tsbank_history;
