package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tsbank/contract/natstrace"
	"tsbank/services/coordinator/transfer"
)

// Payments are written one at a time, each in its own transaction: they come from an operator,
// not from customers in bulk, so the batching of transfers' writes would buy nothing here.

const paymentColumns = `payment_id, coalesce(payer, ''), request_id, fingerprint, description, currency, amount_minor, state,
	coalesce(outcome, ''), reason, message, resends, created_at, decided_at`

// BeginPayment inserts p and its legs as preparing, or returns the payment already logged for
// its request id (transfer.ErrConflict if the fingerprints differ).
func (s *Store) BeginPayment(ctx context.Context, p transfer.Payment) (_ transfer.Payment, _ bool, err error) {
	ctx, span := logSpan(ctx, "log begin", p.ID)
	defer func() { natstrace.End(span, err) }()
	var created bool
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO payments (payment_id, request_id, fingerprint, description, currency, amount_minor)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id) WHERE payer IS NULL DO NOTHING`,
			p.ID, p.RequestID, p.Fingerprint, p.Description, p.Currency, p.AmountMinor)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		created = true
		return insertLegs(ctx, tx, p)
	})
	if err != nil {
		return p, false, fmt.Errorf("begin payment %s: %w", p.RequestID, err)
	}
	rec, err := s.PaymentByRequest(ctx, p.RequestID)
	if err == nil && !created && !bytes.Equal(rec.Fingerprint, p.Fingerprint) {
		return rec, false, transfer.ErrConflict
	}
	return rec, created, err
}

// insertLegs writes the legs of payment p, logged in tx.
func insertLegs(ctx context.Context, tx pgx.Tx, p transfer.Payment) error {
	for i, l := range p.Legs {
		if _, err := tx.Exec(ctx, `INSERT INTO payment_legs (payment_id, position, leg, account, side, currency, amount, amount_minor, counterparty)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, p.ID, i+1, l.Name, l.Account, l.Side, l.Currency, l.Amount, l.AmountMinor, l.Counterparty); err != nil {
			return err
		}
	}
	return nil
}

// DecidePayment records d for payment id if it is still preparing, with each leg's vote, in one
// transaction, and returns the payment as decided, by this call or an earlier one.
func (s *Store) DecidePayment(ctx context.Context, id string, d transfer.PaymentDecision) (_ transfer.Payment, err error) {
	ctx, span := logSpan(ctx, "log decide", id)
	defer func() { natstrace.End(span, err) }()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE payments SET state = $2, outcome = $2, reason = $3, message = $4,
				decided_at = now(), next_attempt_at = now() + $5::interval
			WHERE payment_id = $1 AND state = 'preparing'`, id, d.Outcome, d.Reason, d.Message, s.lease)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		for i, v := range d.Votes {
			if _, err := tx.Exec(ctx, `UPDATE payment_legs SET vote = $3 WHERE payment_id = $1 AND position = $2`, id, i+1, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return transfer.Payment{ID: id}, fmt.Errorf("decide payment %s: %w", id, err)
	}
	return s.GetPayment(ctx, id)
}

// AckedPayment records the legs (by position from 1) that acknowledged the decision; with every
// leg acknowledged the payment is done, otherwise its next re-send is due after backoff.
func (s *Store) AckedPayment(ctx context.Context, id string, acked []int, backoff time.Duration) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE payment_legs SET acked = true WHERE payment_id = $1 AND position = ANY($2)`, id, acked); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE payments p SET
				state = CASE WHEN l.open = 0 THEN 'done' ELSE p.state END,
				done_at = CASE WHEN l.open = 0 THEN now() END,
				next_attempt_at = now() + $2::interval
			FROM (SELECT count(*) FILTER (WHERE NOT acked) AS open FROM payment_legs WHERE payment_id = $1) l
			WHERE p.payment_id = $1 AND p.state IN ('committed', 'aborted')`, id, backoff)
		return err
	})
	if err != nil {
		return fmt.Errorf("ack payment %s: %w", id, err)
	}
	return nil
}

// GetPayment returns payment id with its legs, transfer.ErrNotFound if there is none.
func (s *Store) GetPayment(ctx context.Context, id string) (transfer.Payment, error) {
	ps, err := s.payments(ctx, `SELECT `+paymentColumns+` FROM payments WHERE payment_id = $1`, id)
	return one(ps, err)
}

// PaymentByRequest returns the operator's payment logged for request id requestID.
func (s *Store) PaymentByRequest(ctx context.Context, requestID string) (transfer.Payment, error) {
	ps, err := s.payments(ctx, `SELECT `+paymentColumns+` FROM payments WHERE request_id = $1 AND payer IS NULL`, requestID)
	return one(ps, err)
}

// StuckPayments lists up to limit payments still preparing and created before before.
func (s *Store) StuckPayments(ctx context.Context, before time.Time, limit int) ([]transfer.Payment, error) {
	return s.payments(ctx, `SELECT `+paymentColumns+` FROM payments WHERE state = 'preparing' AND created_at < $1
		ORDER BY created_at LIMIT $2`, before, limit)
}

// ClaimPaymentResends returns up to limit decided payments with a leg unacknowledged whose
// re-send is due, and pushes their next attempt back by lease (see ClaimResends).
func (s *Store) ClaimPaymentResends(ctx context.Context, limit int, lease time.Duration) ([]transfer.Payment, error) {
	return s.payments(ctx, `UPDATE payments SET next_attempt_at = now() + $2::interval, resends = resends + 1
		WHERE payment_id IN (SELECT payment_id FROM payments
			WHERE state IN ('committed', 'aborted') AND next_attempt_at <= now()
			ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING `+paymentColumns, limit, lease)
}

// PendingPayments lists up to limit payments not done, oldest first.
func (s *Store) PendingPayments(ctx context.Context, limit int) ([]transfer.Payment, error) {
	return s.payments(ctx, `SELECT `+paymentColumns+` FROM payments WHERE state <> 'done' ORDER BY created_at LIMIT $1`, limit)
}

func one(ps []transfer.Payment, err error) (transfer.Payment, error) {
	if err != nil {
		return transfer.Payment{}, err
	}
	if len(ps) == 0 {
		return transfer.Payment{}, transfer.ErrNotFound
	}
	return ps[0], nil
}

// payments runs q for payment rows and reads each one's legs, in position order.
func (s *Store) payments(ctx context.Context, q string, args ...any) ([]transfer.Payment, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read payments: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (transfer.Payment, error) {
		var p transfer.Payment
		err := row.Scan(&p.ID, &p.Payer, &p.RequestID, &p.Fingerprint, &p.Description, &p.Currency, &p.AmountMinor, &p.State,
			&p.Outcome, &p.Reason, &p.Message, &p.Resends, &p.CreatedAt, &p.DecidedAt)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("read payments: %w", err)
	}
	for i := range ps {
		rows, err := s.pool.Query(ctx, `SELECT leg, account, side, currency, amount, amount_minor, counterparty, vote, acked
			FROM payment_legs WHERE payment_id = $1 ORDER BY position`, ps[i].ID)
		if err != nil {
			return nil, fmt.Errorf("read legs of payment %s: %w", ps[i].ID, err)
		}
		ps[i].Legs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (transfer.PaymentLeg, error) {
			var l transfer.PaymentLeg
			err := row.Scan(&l.Name, &l.Account, &l.Side, &l.Currency, &l.Amount, &l.AmountMinor, &l.Counterparty, &l.Vote, &l.Acked)
			return l, err
		})
		if err != nil {
			return nil, fmt.Errorf("read legs of payment %s: %w", ps[i].ID, err)
		}
		if ps[i].Payer != "" {
			if ps[i].Exchange, err = s.exchangeOf(ctx, ps[i].ID); err != nil {
				return nil, err
			}
		}
	}
	return ps, nil
}
