DROP FUNCTION balance_at(text, timestamptz);
DROP FUNCTION balance_at_detail(text, timestamptz);
