DROP FUNCTION tsbank_check_fence(bigint);
DROP TABLE fence;
