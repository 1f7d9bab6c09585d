DROP VIEW account_balances;
DROP VIEW monthly_statements;
DROP VIEW daily_totals;
DROP TABLE transactions;
