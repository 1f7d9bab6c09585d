-- Fencing for node take-over. Several processes may run one account node (an active one and
-- standbys) over this database; the one holding the node's lease (a JetStream KV key) writes its
-- lease epoch here when it takes over, and every write transaction checks that epoch first, under a
-- share lock. A holder that was paused, lost its lease and resumed finds a newer epoch and cannot
-- write again; a take-over waits for the transactions of the previous holder that were already
-- running.
CREATE TABLE fence (
    single   boolean     PRIMARY KEY DEFAULT true CHECK (single),
    epoch    bigint      NOT NULL,
    holder   text        NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO fence (epoch, holder) VALUES (0, '');
COMMENT ON TABLE fence IS 'The lease epoch of the process allowed to write; one row.';

CREATE FUNCTION tsbank_check_fence(my_epoch bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM fence WHERE epoch = my_epoch FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'fenced: epoch % no longer holds this node''s lease', my_epoch USING ERRCODE = 'TSB01';
    END IF;
END $$;
