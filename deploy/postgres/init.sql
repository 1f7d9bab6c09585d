-- Run once, by the postgres container on its first start (an empty volume): one database per
-- account node and per service, each owned by that identity's own role and closed to the others,
-- so a service reaches only its own data: the history cannot change a balance, and account-1's
-- role cannot touch account-2's database. The migrate job logs in as each role and creates the
-- tables, which the role then owns. The passwords come from the container's environment (psql's
-- \getenv), set from .env (deploy/secrets.sh generates them).
\getenv account_1_password ACCOUNT_1_DB_PASSWORD
\getenv account_2_password ACCOUNT_2_DB_PASSWORD
\getenv coordinator_password COORDINATOR_DB_PASSWORD
\getenv history_password HISTORY_DB_PASSWORD
\getenv auth_password AUTH_DB_PASSWORD

CREATE ROLE tsbank_account_1 LOGIN PASSWORD :'account_1_password';
CREATE ROLE tsbank_account_2 LOGIN PASSWORD :'account_2_password';
CREATE ROLE tsbank_coordinator LOGIN PASSWORD :'coordinator_password';
CREATE ROLE tsbank_history LOGIN PASSWORD :'history_password';
CREATE ROLE tsbank_auth LOGIN PASSWORD :'auth_password';

CREATE DATABASE tsbank_account_1 OWNER tsbank_account_1;
CREATE DATABASE tsbank_account_2 OWNER tsbank_account_2;
CREATE DATABASE tsbank_coordinator OWNER tsbank_coordinator;
CREATE DATABASE tsbank_history OWNER tsbank_history;
CREATE DATABASE tsbank_auth OWNER tsbank_auth;

-- Every role may connect to every database unless told otherwise; only the owner (and the
-- superuser `tsbank`, for people with psql) may here.
REVOKE CONNECT, TEMPORARY ON DATABASE tsbank_account_1, tsbank_account_2, tsbank_coordinator, tsbank_history, tsbank_auth FROM PUBLIC;
