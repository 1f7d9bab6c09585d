DROP TABLE payment_legs;
DROP TABLE payments;
