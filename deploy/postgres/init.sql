-- Run once, by the postgres container on its first start (an empty volume): one database per
-- account node and per service, each owned by that service's own role and closed to the others,
-- so a service reaches only its own data (the history service cannot change a balance). The
-- migrate job logs in as each role and creates the tables, which the role then owns. The
-- passwords come from the container's environment (psql's \getenv), set from .env.
\getenv account_password ACCOUNT_DB_PASSWORD
\getenv coordinator_password COORDINATOR_DB_PASSWORD
\getenv history_password HISTORY_DB_PASSWORD

CREATE ROLE tsbank_account LOGIN PASSWORD :'account_password';
CREATE ROLE tsbank_coordinator LOGIN PASSWORD :'coordinator_password';
CREATE ROLE tsbank_history LOGIN PASSWORD :'history_password';

CREATE DATABASE tsbank_account_1 OWNER tsbank_account;
CREATE DATABASE tsbank_account_2 OWNER tsbank_account;
CREATE DATABASE tsbank_coordinator OWNER tsbank_coordinator;
CREATE DATABASE tsbank_history OWNER tsbank_history;

-- Every role may connect to every database unless told otherwise; only the owner (and the
-- superuser `tsbank`, for people with psql) may here.
REVOKE CONNECT, TEMPORARY ON DATABASE tsbank_account_1, tsbank_account_2, tsbank_coordinator, tsbank_history FROM PUBLIC;
