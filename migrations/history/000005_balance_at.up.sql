-- An account's balance at any moment, from its numbered events (issue 13): the balance after the
-- last event before the first whose time is after the moment. Events of an account are numbered
-- 1, 2, … by its node (account_seq), so a missing one, not ingested yet, is seen as a gap; the
-- answer is then refused rather than wrong.

-- What the balance at p_at depends on: seq, the last event before the first after p_at
-- (first_after, 0 if none is here); rows, how many of the events 1 to greatest(seq, first_after)
-- the history holds; and the balance after event seq, in minor units (0 when seq is 0). The
-- history service reads this, and adds what SQL cannot know: whether an event after p_at is still
-- on its way (the node's newest event number).
CREATE FUNCTION balance_at_detail(p_account text, p_at timestamptz,
    OUT seq bigint, OUT first_after bigint, OUT rows bigint, OUT balance_minor bigint)
LANGUAGE sql STABLE AS $$
    WITH f AS (SELECT coalesce(min(account_seq), 0) AS n FROM transactions WHERE account = p_account AND at > p_at),
    k AS (SELECT CASE WHEN f.n > 0 THEN f.n - 1
            ELSE (SELECT coalesce(max(account_seq), 0) FROM transactions WHERE account = p_account) END AS k, f.n FROM f)
    SELECT k.k, k.n,
        (SELECT count(*) FROM transactions WHERE account = p_account AND account_seq BETWEEN 1 AND greatest(k.k, k.n)),
        coalesce((SELECT balance_after_minor FROM transactions WHERE account = p_account AND account_seq = k.k), 0)
    FROM k
$$;
COMMENT ON FUNCTION balance_at_detail(text, timestamptz) IS 'What balance_at depends on: the last event before the first after the moment, the rows held up to it, the balance after it (minor units).';

-- The balance of p_account at p_at, as a decimal of its currency (0 before its first event). It
-- raises when the history lacks an event it depends on. It cannot know of an event after its
-- newest row that is still on its way: for a moment later than that row, ask the service
-- (bank.history.<account>.balance_at), which checks with the node.
CREATE FUNCTION balance_at(p_account text, p_at timestamptz) RETURNS numeric
LANGUAGE plpgsql STABLE AS $$
DECLARE
    d record;
    b numeric;
BEGIN
    SELECT * INTO d FROM balance_at_detail(p_account, p_at);
    IF d.rows <> greatest(d.seq, d.first_after) THEN
        RAISE EXCEPTION 'the history lacks an event of % numbered at most %: it has not arrived yet', p_account, greatest(d.seq, d.first_after);
    END IF;
    IF d.seq = 0 THEN
        RETURN 0;
    END IF;
    SELECT balance_after INTO b FROM transactions WHERE account = p_account AND account_seq = d.seq;
    RETURN b;
END
$$;
COMMENT ON FUNCTION balance_at(text, timestamptz) IS 'The balance of an account at a moment, from its numbered events; raises if one it depends on is missing.';
