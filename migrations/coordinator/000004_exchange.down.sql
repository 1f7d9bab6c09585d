DROP TABLE quotes;
ALTER TABLE payment_legs DROP COLUMN counterparty;
ALTER TABLE payment_legs DROP COLUMN currency;
DELETE FROM payments WHERE payer IS NOT NULL;
DROP INDEX payments_payer_request;
DROP INDEX payments_operator_request;
ALTER TABLE payments ADD CONSTRAINT payments_request_id_key UNIQUE (request_id);
ALTER TABLE payments DROP COLUMN payer;
DROP TABLE rates;
