// Package pgstore keeps the coordinator's two-phase-commit log in its Postgres database.
package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/services/coordinator/transfer"
)

// Store implements transfer.Store.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger
	// lease is how long after a decision its first re-send is due: time enough for the deciding
	// coordinator to deliver it, so recovery does not send it a second time meanwhile.
	lease time.Duration
	acks  *group[ack, error]
}

// writeTimeout bounds one batch's transaction: the callers it writes for have gone on (acks) or
// wait for it, and none of their own contexts may cancel their neighbours' write.
const writeTimeout = 10 * time.Second

// New returns a store over pool that logs what it cannot report to a caller to log; see
// Store.lease. Close it before closing pool, to write the acknowledgements still queued.
func New(pool *pgxpool.Pool, lease time.Duration, log *slog.Logger) *Store {
	s := &Store{pool: pool, log: log, lease: lease}
	s.acks = &group[ack, error]{max: 500, writers: 1, write: s.writeAcks}
	return s
}

// Close writes the acknowledgements still queued, for as long as ctx lets it. Acknowledgements
// recorded after Close are written before Acked returns.
func (s *Store) Close(ctx context.Context) error {
	if err := s.acks.close(ctx); err != nil {
		return fmt.Errorf("write queued acknowledgements: %w", err)
	}
	return nil
}

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

// ack is one call of Acked.
type ack struct {
	id            string
	debit, credit bool
	backoff       time.Duration
}

// Acked queues the acknowledgements and returns before they are written: many transfers'
// acknowledgements are then written by one statement in one transaction, off the path on which
// the client waits. A queue lost in a crash loses no money and no decision: the transfer stays
// decided and not done, so recovery re-sends the decision once its re-send is due, and every
// participant handler answers a decision it has applied already with the same acknowledgement and
// no change. The cost of a lost batch is one re-send per leg. A failed batch is logged by the
// store, which alone knows about it, so the error is always nil.
func (s *Store) Acked(_ context.Context, id string, debit, credit bool, backoff time.Duration) error {
	if c, closed := s.acks.submit(ack{id: id, debit: debit, credit: credit, backoff: backoff}); closed {
		<-c.done // after Close, nobody else waits for the write before the pool closes
	}
	return nil
}

// writeAcks writes a batch of acknowledgements. Two for one transfer (its driver's and a
// recovery's) are merged first: an UPDATE … FROM applies only one source row to each target row.
func (s *Store) writeAcks(acks []ack) []error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	var ids []string
	var debits, credits []bool
	var backoffs []int64 // microseconds: an int8 array needs no interval codec
	at := map[string]int{}
	for _, a := range acks {
		if i, ok := at[a.id]; ok {
			debits[i], credits[i] = debits[i] || a.debit, credits[i] || a.credit
			backoffs[i] = a.backoff.Microseconds()
			continue
		}
		at[a.id] = len(ids)
		ids, debits, credits = append(ids, a.id), append(debits, a.debit), append(credits, a.credit)
		backoffs = append(backoffs, a.backoff.Microseconds())
	}
	_, err := s.pool.Exec(ctx, `UPDATE transfers t SET
			debit_acked = t.debit_acked OR a.debit, credit_acked = t.credit_acked OR a.credit,
			state = CASE WHEN (t.debit_acked OR a.debit) AND (t.credit_acked OR a.credit) THEN 'done' ELSE t.state END,
			done_at = CASE WHEN (t.debit_acked OR a.debit) AND (t.credit_acked OR a.credit) THEN now() END,
			next_attempt_at = now() + a.backoff_us * interval '1 microsecond'
		FROM unnest($1::text[], $2::bool[], $3::bool[], $4::int8[]) AS a(id, debit, credit, backoff_us)
		WHERE t.transfer_id = a.id AND t.state IN ('committed', 'aborted')`, ids, debits, credits, backoffs)
	if err != nil {
		err = fmt.Errorf("ack %d transfers: %w", len(ids), err)
		s.log.Error("record acknowledgements: recovery will re-send these decisions", "transfers", len(ids), "err", err)
	}
	errs := make([]error, len(acks))
	for i := range errs {
		errs[i] = err
	}
	return errs
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
