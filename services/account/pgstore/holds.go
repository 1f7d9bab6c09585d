package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tsbank/contract/money"
	"tsbank/services/account/account"
)

const holdColumns = `h.transfer_id, h.leg, h.account_id, h.amount, h.counterparty, h.description, h.state, h.reason, h.created_at`

func scanHold(row pgx.Row, h *account.Hold) error {
	return row.Scan(&h.TransferID, &h.Leg, &h.Account, &h.Amount, &h.Counterparty, &h.Description, &h.State, &h.Reason, &h.CreatedAt)
}

// getHold reads and locks leg (transferID, leg); found is false if there is none.
func getHold(ctx context.Context, tx pgx.Tx, transferID, leg string) (h account.Hold, found bool, err error) {
	err = scanHold(tx.QueryRow(ctx, `SELECT `+holdColumns+` FROM holds h WHERE h.transfer_id = $1 AND h.leg = $2 FOR UPDATE`,
		transferID, leg), &h)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("read hold %s/%s: %w", transferID, leg, err)
	}
	return h, true, nil
}

func insertHold(b *pgx.Batch, h account.Hold) {
	b.Queue(`INSERT INTO holds (transfer_id, leg, account_id, amount, counterparty, description, state, reason, created_at, decided_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $7 = 'prepared' THEN NULL ELSE now() END)`,
		h.TransferID, h.Leg, h.Account, h.Amount, h.Counterparty, h.Description, h.State, h.Reason, h.CreatedAt)
}

// Prepare locks account id; if the leg is already known it returns it unchanged, otherwise it
// applies fn and records the leg as prepared, or as aborted with the reason if fn refuses it.
func (s *Store) Prepare(ctx context.Context, id string, h account.Hold, fn func(*account.Account, *account.Hold) error) (out account.Hold, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := s.lock(ctx, tx, id)
		if err != nil {
			return err
		}
		known, found, err := getHold(ctx, tx, h.TransferID, h.Leg)
		if err != nil {
			return err
		}
		if found {
			known.Currency, out = a.Currency, known
			return nil
		}
		b := &pgx.Batch{}
		h.Currency, h.State = a.Currency, account.HoldPrepared
		if ferr := fn(&a, &h); ferr != nil {
			reason := account.Reason(ferr)
			if reason == "" {
				return ferr
			}
			// The refusal is recorded, so a duplicate or late prepare gets the same no.
			h.State, h.Reason = account.HoldAborted, reason
		} else if err := queueSave(b, a, nil); err != nil {
			return err
		}
		insertHold(b, h)
		out = h
		return tx.SendBatch(ctx, b).Close()
	})
	return out, err
}

// Decide applies commit or abort to leg (transferID, leg) of account id. A leg already in that
// state is returned unchanged; an abort for an unknown leg is recorded, so that its prepare, if it
// comes later, is refused. For a committed leg, fn returns the event to write to the outbox.
func (s *Store) Decide(ctx context.Context, id, transferID, leg string, commit bool, fn func(*account.Account, account.Hold) *account.Event) (out account.Hold, err error) {
	target := account.HoldAborted
	if commit {
		target = account.HoldCommitted
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := s.lock(ctx, tx, id)
		if errors.Is(err, account.ErrNotFound) && !commit {
			// Nothing was ever held on an account that does not exist.
			out = account.Hold{TransferID: transferID, Leg: leg, Account: id, State: account.HoldAborted}
			return nil
		}
		if err != nil {
			return err
		}
		h, found, err := getHold(ctx, tx, transferID, leg)
		if err != nil {
			return err
		}
		h.Currency = a.Currency
		b := &pgx.Batch{}
		switch {
		case !found && commit:
			return fmt.Errorf("%w: %s/%s on %s", account.ErrUnknownTransfer, transferID, leg, id)
		case !found:
			h = account.Hold{TransferID: transferID, Leg: leg, Account: id, Currency: a.Currency,
				State: account.HoldAborted, Reason: "aborted_before_prepare", CreatedAt: time.Now()}
			insertHold(b, h)
		case h.State == target:
			out = h
			return nil
		case h.State != account.HoldPrepared:
			return fmt.Errorf("%w: %s/%s is %s", account.ErrDecisionConflict, transferID, leg, h.State)
		default:
			a.Settle(h, commit)
			var ev *account.Event
			if commit {
				ev = fn(&a, h)
			}
			if err := queueSave(b, a, ev); err != nil {
				return err
			}
			h.State = target
			b.Queue(`UPDATE holds SET state = $3, decided_at = now() WHERE transfer_id = $1 AND leg = $2`, transferID, leg, target)
		}
		out = h
		return tx.SendBatch(ctx, b).Close()
	})
	return out, err
}

// StaleHolds returns up to limit prepared legs created before before, oldest first.
func (s *Store) StaleHolds(ctx context.Context, before time.Time, limit int) ([]account.Hold, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+holdColumns+`, a.currency FROM holds h JOIN accounts a ON a.id = h.account_id
		WHERE h.state = 'prepared' AND h.created_at < $1 ORDER BY h.created_at LIMIT $2`, before, limit)
	if err != nil {
		return nil, fmt.Errorf("stale holds: %w", err)
	}
	defer rows.Close()
	var out []account.Hold
	for rows.Next() {
		var h account.Hold
		var code string
		if err := rows.Scan(&h.TransferID, &h.Leg, &h.Account, &h.Amount, &h.Counterparty, &h.Description, &h.State, &h.Reason, &h.CreatedAt, &code); err != nil {
			return nil, fmt.Errorf("stale holds: %w", err)
		}
		if h.Currency, err = money.LookupCurrency(code); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}
