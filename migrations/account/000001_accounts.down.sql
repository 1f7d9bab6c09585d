DROP TABLE outbox; DROP TABLE requests; DROP TABLE accounts;
