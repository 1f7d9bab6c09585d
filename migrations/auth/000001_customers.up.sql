-- The auth database: who may log in to NATS as a customer, and which accounts each one owns.
-- Read by the auth service at every customer login; changed by operators through
-- bank.customers.*.

CREATE TABLE customers (
    id            text        PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    -- A bcrypt hash (salt and cost inside); the password itself is never stored.
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Set once the customer is disabled: their next login is refused.
    disabled_at   timestamptz,
    -- The request id of the add that made the customer, so a repeated add is answered, not refused.
    request_id    text        NOT NULL
);

-- The account is the primary key: an account belongs to at most one customer.
CREATE TABLE customer_accounts (
    account    text        PRIMARY KEY CHECK (account ~ '^[A-Za-z0-9_-]{1,64}$'),
    customer   text        NOT NULL REFERENCES customers (id),
    granted_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX customer_accounts_customer ON customer_accounts (customer);
