package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"tsbank/contract"
	"tsbank/services/coordinator/move"
)

// Moves implements move.Store on the coordinator's database (the moves table).
type Moves struct{ s *Store }

// Moves returns the log of moves.
func (s *Store) Moves() *Moves { return &Moves{s: s} }

const moveColumns = `request_id, account, from_node, to_node, state, reason, message, after_seq, copied, created_at, updated_at`

// moveOrder ranks the states, so that a save never takes a move back (two coordinators may run
// one move at once: each step is idempotent, and the log keeps the furthest state).
const moveOrder = `CASE $1::text WHEN 'leaving' THEN 0 WHEN 'copying' THEN 1 WHEN 'switching' THEN 2 WHEN 'arriving' THEN 3 ELSE 4 END`

func scanMove(row pgx.Row) (contract.Move, error) {
	var m contract.Move
	err := row.Scan(&m.ID, &m.Account, &m.From, &m.To, &m.State, &m.Reason, &m.Message, &m.AfterSeq, &m.Copied, &m.CreatedAt, &m.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, move.ErrUnknown
	}
	return m, err
}

// Create implements move.Store.Create.
func (ms *Moves) Create(ctx context.Context, m contract.Move) (contract.Move, bool, error) {
	tag, err := ms.s.pool.Exec(ctx, `INSERT INTO moves (request_id, account, from_node, to_node, state, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (request_id) DO NOTHING`, m.ID, m.Account, m.From, m.To, m.State, m.CreatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return m, false, fmt.Errorf("%w: %s", move.ErrBusy, m.Account)
	}
	if err != nil {
		return m, false, fmt.Errorf("log move %s: %w", m.ID, err)
	}
	logged, err := ms.Get(ctx, m.ID)
	if err == nil && tag.RowsAffected() == 0 && (logged.Account != m.Account || logged.To != m.To) {
		return logged, false, move.ErrConflict
	}
	return logged, tag.RowsAffected() == 1, err
}

// Save implements move.Store.Save.
func (ms *Moves) Save(ctx context.Context, m contract.Move) (contract.Move, error) {
	_, err := ms.s.pool.Exec(ctx, `UPDATE moves SET state = $1, reason = $3, message = $4, after_seq = $5, copied = $6, updated_at = $7
		WHERE request_id = $2 AND `+moveOrder+` > CASE state WHEN 'leaving' THEN 0 WHEN 'copying' THEN 1 WHEN 'switching' THEN 2 WHEN 'arriving' THEN 3 ELSE 4 END`,
		m.State, m.ID, m.Reason, m.Message, m.AfterSeq, m.Copied, m.UpdatedAt)
	if err != nil {
		return m, fmt.Errorf("save move %s: %w", m.ID, err)
	}
	return ms.Get(ctx, m.ID)
}

// Get implements move.Store.Get.
func (ms *Moves) Get(ctx context.Context, id string) (contract.Move, error) {
	return scanMove(ms.s.pool.QueryRow(ctx, `SELECT `+moveColumns+` FROM moves WHERE request_id = $1`, id))
}

// Unfinished implements move.Store.Unfinished.
func (ms *Moves) Unfinished(ctx context.Context, before time.Time) ([]contract.Move, error) {
	rows, err := ms.s.pool.Query(ctx, `SELECT `+moveColumns+` FROM moves
		WHERE state NOT IN ('done', 'aborted') AND updated_at < $1 ORDER BY created_at LIMIT 100`, before)
	if err != nil {
		return nil, fmt.Errorf("unfinished moves: %w", err)
	}
	defer rows.Close()
	var out []contract.Move
	for rows.Next() {
		m, err := scanMove(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
