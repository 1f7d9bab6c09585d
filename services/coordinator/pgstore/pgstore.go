// Package pgstore keeps the coordinator's two-phase-commit log in its Postgres database.
package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/services/coordinator/transfer"
)

// Store implements transfer.Store.
type Store struct {
	pool *pgxpool.Pool
	// lease is how long after a decision its first re-send is due: time enough for the deciding
	// coordinator to deliver it, so recovery does not send it a second time meanwhile.
	lease time.Duration
}

// New returns a store over pool; see Store.lease.
func New(pool *pgxpool.Pool, lease time.Duration) *Store { return &Store{pool: pool, lease: lease} }

const columns = `transfer_id, from_account, request_id, fingerprint, to_account, amount, description,
	coalesce(currency, ''), coalesce(amount_minor, 0), state, coalesce(outcome, ''), reason, message,
	debit_vote, credit_vote, debit_acked, credit_acked, resends, created_at, decided_at`

func scan(row pgx.Row) (transfer.Transfer, error) {
	var t transfer.Transfer
	err := row.Scan(&t.ID, &t.From, &t.RequestID, &t.Fingerprint, &t.To, &t.Amount, &t.Description,
		&t.Currency, &t.AmountMinor, &t.State, &t.Outcome, &t.Reason, &t.Message,
		&t.DebitVote, &t.CreditVote, &t.DebitAcked, &t.CreditAcked, &t.Resends, &t.CreatedAt, &t.DecidedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, transfer.ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("read transfer: %w", err)
	}
	return t, nil
}

func scanAll(rows pgx.Rows, err error) ([]transfer.Transfer, error) {
	if err != nil {
		return nil, fmt.Errorf("read transfers: %w", err)
	}
	defer rows.Close()
	var out []transfer.Transfer
	for rows.Next() {
		t, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Begin inserts t as preparing, or returns the transfer already recorded for its request id.
func (s *Store) Begin(ctx context.Context, t transfer.Transfer) (transfer.Transfer, bool, error) {
	rec, err := scan(s.pool.QueryRow(ctx, `INSERT INTO transfers
		(transfer_id, from_account, request_id, fingerprint, to_account, amount, description)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (from_account, request_id) DO NOTHING RETURNING `+columns,
		t.ID, t.From, t.RequestID, t.Fingerprint, t.To, t.Amount, t.Description))
	if err == nil {
		return rec, true, nil
	}
	if !errors.Is(err, transfer.ErrNotFound) {
		return rec, false, fmt.Errorf("begin transfer %s: %w", t.RequestID, err)
	}
	rec, err = s.ByRequest(ctx, t.From, t.RequestID)
	if err != nil {
		return rec, false, err
	}
	if !bytes.Equal(rec.Fingerprint, t.Fingerprint) {
		return rec, false, fmt.Errorf("%w: request id %q of %s", transfer.ErrConflict, t.RequestID, t.From)
	}
	return rec, false, nil
}

// Decide writes d if the transfer is still preparing. The WHERE state = 'preparing' makes the
// decision a compare-and-set: of several coordinators deciding one transfer, one write wins and
// the others read it back.
func (s *Store) Decide(ctx context.Context, id string, d transfer.Decision) (transfer.Transfer, error) {
	rec, err := scan(s.pool.QueryRow(ctx, `UPDATE transfers SET state = $2, outcome = $2, reason = $3, message = $4,
			currency = nullif($5, ''), amount_minor = nullif($6, 0), debit_vote = $7, credit_vote = $8,
			decided_at = now(), next_attempt_at = now() + $9::interval
		WHERE transfer_id = $1 AND state = 'preparing' RETURNING `+columns,
		id, d.Outcome, d.Reason, d.Message, d.Currency, d.AmountMinor, d.DebitVote, d.CreditVote, s.lease))
	if errors.Is(err, transfer.ErrNotFound) {
		return s.Get(ctx, id) // decided already (or unknown: ErrNotFound)
	}
	return rec, err
}

// Acked records acknowledgements; with both legs the transfer is done.
func (s *Store) Acked(ctx context.Context, id string, debit, credit bool, backoff time.Duration) error {
	_, err := s.pool.Exec(ctx, `UPDATE transfers SET
			debit_acked = debit_acked OR $2, credit_acked = credit_acked OR $3,
			state = CASE WHEN (debit_acked OR $2) AND (credit_acked OR $3) THEN 'done' ELSE state END,
			done_at = CASE WHEN (debit_acked OR $2) AND (credit_acked OR $3) THEN now() END,
			next_attempt_at = now() + $4::interval
		WHERE transfer_id = $1 AND state IN ('committed', 'aborted')`, id, debit, credit, backoff)
	if err != nil {
		return fmt.Errorf("ack transfer %s: %w", id, err)
	}
	return nil
}

// Get returns transfer id.
func (s *Store) Get(ctx context.Context, id string) (transfer.Transfer, error) {
	return scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM transfers WHERE transfer_id = $1`, id))
}

// ByRequest returns the transfer paid from from with request id requestID.
func (s *Store) ByRequest(ctx context.Context, from, requestID string) (transfer.Transfer, error) {
	return scan(s.pool.QueryRow(ctx, `SELECT `+columns+` FROM transfers WHERE from_account = $1 AND request_id = $2`, from, requestID))
}

// Stuck lists transfers still preparing that were created before before.
func (s *Store) Stuck(ctx context.Context, before time.Time, limit int) ([]transfer.Transfer, error) {
	return scanAll(s.pool.Query(ctx, `SELECT `+columns+` FROM transfers
		WHERE state = 'preparing' AND created_at < $1 ORDER BY created_at LIMIT $2`, before, limit))
}

// ClaimResends takes a lease on due, decided, unacknowledged transfers. SKIP LOCKED and the
// pushed-back next_attempt_at let several instances share the work without sending twice at once
// (a second send would be harmless: every participant handler is idempotent).
func (s *Store) ClaimResends(ctx context.Context, limit int, lease time.Duration) ([]transfer.Transfer, error) {
	return scanAll(s.pool.Query(ctx, `UPDATE transfers SET next_attempt_at = now() + $2::interval, resends = resends + 1
		WHERE transfer_id IN (
			SELECT transfer_id FROM transfers
			WHERE state IN ('committed', 'aborted') AND next_attempt_at <= now()
			ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING `+columns, limit, lease))
}

// Pending lists transfers not done, oldest first.
func (s *Store) Pending(ctx context.Context, limit int) ([]transfer.Transfer, error) {
	return scanAll(s.pool.Query(ctx, `SELECT `+columns+` FROM transfers WHERE state <> 'done' ORDER BY created_at LIMIT $1`, limit))
}
