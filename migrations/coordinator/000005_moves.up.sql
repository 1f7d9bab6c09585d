-- Moves of accounts between nodes (docs/adr/0036): one row per move, keyed by the operator's
-- request id, its state advanced step by step so that any coordinator can resume it after a
-- crash. At most one move of an account is unfinished at a time.
CREATE TABLE moves (
    request_id  text        PRIMARY KEY,
    account     text        NOT NULL,
    from_node   text        NOT NULL,
    to_node     text        NOT NULL,
    state       text        NOT NULL DEFAULT 'leaving'
                            CHECK (state IN ('leaving', 'copying', 'switching', 'arriving', 'done', 'aborted')),
    reason      text        NOT NULL DEFAULT '',
    message     text        NOT NULL DEFAULT '',
    after_seq   bigint      NOT NULL DEFAULT 0,
    copied      integer     NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (from_node <> to_node)
);
CREATE UNIQUE INDEX moves_one_per_account ON moves (account) WHERE state NOT IN ('done', 'aborted');
COMMENT ON TABLE moves IS 'Moves of accounts between nodes: leaving, copying, switching, arriving, then done (or aborted before the old node let go).';
