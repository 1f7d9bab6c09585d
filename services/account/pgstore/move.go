package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tsbank/services/account/account"
)

// Moving implements account.MoveStore.Moving.
func (s *Store) Moving(ctx context.Context, id string, fn func(*account.Account, int) error) (a account.Account, prepared int, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, checkFence, s.epoch.Load()); err != nil {
			return err
		}
		a, err = s.scan(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts a WHERE a.id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM holds WHERE account_id = $1 AND state = 'prepared'`, id).Scan(&prepared); err != nil {
			return err
		}
		before := a.Move
		if err := fn(&a, prepared); err != nil {
			return err
		}
		if a.Move == before {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE accounts SET move_state = $2, move_id = $3, move_peer = $4 WHERE id = $1`,
			id, a.Move.State, a.Move.ID, a.Move.Peer)
		return err
	})
	return a, prepared, fenced(err)
}

// Export implements account.MoveStore.Export: each row as to_jsonb makes it, so that a column a
// later migration adds travels without this code knowing it.
func (s *Store) Export(ctx context.Context, id, part, after string, limit int) (account.Page, error) {
	page := account.Page{Part: part}
	var rows pgx.Rows
	var err error
	switch part {
	case account.PartAccount:
		rows, err = s.pool.Query(ctx, `SELECT id, to_jsonb(a) FROM accounts a WHERE id = $1`, id)
	case account.PartRequests:
		rows, err = s.pool.Query(ctx, `SELECT request_id, to_jsonb(r) FROM requests r
			WHERE account_id = $1 AND request_id > $2 ORDER BY request_id LIMIT $3`, id, after, limit)
	case account.PartHolds:
		var cursor [2]string
		if after != "" {
			if err := json.Unmarshal([]byte(after), &cursor); err != nil {
				return page, fmt.Errorf("%w: a bad cursor", account.ErrMoveConflict)
			}
		}
		rows, err = s.pool.Query(ctx, `SELECT json_build_array(transfer_id, leg)::text, to_jsonb(h) FROM holds h
			WHERE account_id = $1 AND (transfer_id, leg) > ($2, $3) ORDER BY transfer_id, leg LIMIT $4`, id, cursor[0], cursor[1], limit)
	default:
		return page, fmt.Errorf("%w: no part %q", account.ErrMoveConflict, part)
	}
	if err != nil {
		return page, fmt.Errorf("export %s of %s: %w", part, id, err)
	}
	defer rows.Close()
	var last string
	for rows.Next() {
		var row []byte
		if err := rows.Scan(&last, &row); err != nil {
			return page, err
		}
		page.Rows = append(page.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return page, err
	}
	if part != account.PartAccount && len(page.Rows) == limit {
		page.Next = last
	}
	return page, nil
}

// Import implements account.MoveStore.Import. The account's row replaces the one this node had
// (it left once and comes back) with the move's state; records and legs this node already has
// are kept, since they are the same rows (the states a leg ends in never change again).
func (s *Store) Import(ctx context.Context, id string, move account.Move, part string, rows []json.RawMessage,
	allow func(*account.Account) (bool, error)) (n int, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, checkFence, s.epoch.Load()); err != nil {
			return err
		}
		var current *account.Account
		a, err := s.scan(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts a WHERE a.id = $1 FOR UPDATE`, id))
		switch {
		case err == nil:
			current = &a
		case !errors.Is(err, account.ErrNotFound):
			return err
		}
		write, err := allow(current)
		if err != nil || !write {
			return err
		}
		// Every row must be of the account being moved: the statements write only those. A page
		// is one statement, over the page as a JSON array.
		var tag interface{ RowsAffected() int64 }
		switch part {
		case account.PartAccount:
			tag, err = tx.Exec(ctx, `INSERT INTO accounts
				SELECT * FROM jsonb_populate_record(NULL::accounts,
					$2::jsonb || jsonb_build_object('move_state', $3::text, 'move_id', $4::text, 'move_peer', $5::text))
				WHERE $2::jsonb->>'id' = $1
				ON CONFLICT (id) DO UPDATE SET currency = EXCLUDED.currency, balance = EXCLUDED.balance,
					on_hold = EXCLUDED.on_hold, pending_in = EXCLUDED.pending_in, overdraft_limit = EXCLUDED.overdraft_limit,
					status = EXCLUDED.status, opened_at = EXCLUDED.opened_at, closed_at = EXCLUDED.closed_at,
					event_seq = EXCLUDED.event_seq, move_state = EXCLUDED.move_state, move_id = EXCLUDED.move_id,
					move_peer = EXCLUDED.move_peer`, id, []byte(rows[0]), move.State, move.ID, move.Peer)
		case account.PartRequests:
			tag, err = tx.Exec(ctx, `INSERT INTO requests SELECT (jsonb_populate_record(NULL::requests, r)).*
				FROM jsonb_array_elements($2::jsonb) r WHERE r->>'account_id' = $1 ON CONFLICT DO NOTHING`, id, jsonArray(rows))
		case account.PartHolds:
			tag, err = tx.Exec(ctx, `INSERT INTO holds SELECT (jsonb_populate_record(NULL::holds, r)).*
				FROM jsonb_array_elements($2::jsonb) r WHERE r->>'account_id' = $1 ON CONFLICT DO NOTHING`, id, jsonArray(rows))
		}
		if err != nil {
			return fmt.Errorf("import %s of %s: %w", part, id, err)
		}
		n = int(tag.RowsAffected())
		return nil
	})
	return n, fenced(err)
}

// jsonArray joins rows, each a JSON object, into one JSON array.
func jsonArray(rows []json.RawMessage) []byte {
	b := []byte{'['}
	for i, r := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	return append(b, ']')
}
