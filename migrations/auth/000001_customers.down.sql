DROP TABLE customer_accounts;
DROP TABLE customers;
