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

// withHold locks account id, then reads its leg (transferID, leg), in the round trip that begins
// the transaction (see readModifyWrite for why the two reads are separate statements). The hold
// needs no lock of its own: every change to a leg happens under its account's row lock. found is
// false when the leg is unknown.
func (s *Store) withHold(ctx context.Context, id, transferID, leg string, decide func(a *account.Account, h *account.Hold, found bool, b *pgx.Batch) error) error {
	var a account.Account
	var h account.Hold
	found := false
	return s.readModifyWrite(ctx, []read{
		s.lockAccount(id, &a),
		{`SELECT ` + holdColumns + ` FROM holds h WHERE h.transfer_id = $1 AND h.leg = $2 AND h.account_id = $3`,
			[]any{transferID, leg, id},
			func(row pgx.Row) error {
				err := row.Scan(&h.TransferID, &h.Leg, &h.Account, &h.Amount, &h.Counterparty, &h.Description, &h.State, &h.Reason, &h.CreatedAt)
				found = err == nil
				return noRowIsNil(err)
			}},
	}, func(b *pgx.Batch) error {
		h.Currency = a.Currency
		return decide(&a, &h, found, b)
	})
}

func insertHold(b *pgx.Batch, h account.Hold) {
	b.Queue(`INSERT INTO holds (transfer_id, leg, account_id, amount, counterparty, description, state, reason, created_at, decided_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $7 = 'prepared' THEN NULL ELSE now() END)`,
		h.TransferID, h.Leg, h.Account, h.Amount, h.Counterparty, h.Description, h.State, h.Reason, h.CreatedAt)
}

// Prepare locks account id; if the leg is already known it returns it unchanged, otherwise it
// applies fn and records the leg as prepared, or as aborted with the reason if fn refuses it.
func (s *Store) Prepare(ctx context.Context, id string, h account.Hold, fn func(*account.Account, *account.Hold) error) (out account.Hold, err error) {
	err = s.withHold(ctx, id, h.TransferID, h.Leg, func(a *account.Account, known *account.Hold, found bool, b *pgx.Batch) error {
		if found {
			out = *known
			return errNothingToWrite
		}
		h.Currency, h.State = a.Currency, account.HoldPrepared
		if ferr := fn(a, &h); ferr != nil {
			reason := account.Reason(ferr)
			if reason == "" {
				return ferr
			}
			// The refusal is recorded, so a duplicate or late prepare gets the same no.
			h.State, h.Reason, h.Message = account.HoldAborted, reason, ferr.Error()
		} else if err := queueSave(b, a, nil); err != nil {
			return err
		}
		insertHold(b, h)
		out = h
		return nil
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
	err = s.withHold(ctx, id, transferID, leg, func(a *account.Account, h *account.Hold, found bool, b *pgx.Batch) error {
		switch {
		case !found && commit:
			return fmt.Errorf("%w: %s/%s on %s", account.ErrUnknownTransfer, transferID, leg, id)
		case !found:
			*h = account.Hold{TransferID: transferID, Leg: leg, Account: id, Currency: a.Currency,
				State: account.HoldAborted, Reason: "aborted_before_prepare", CreatedAt: time.Now()}
			insertHold(b, *h)
		case h.State == target:
			out = *h
			return errNothingToWrite
		case h.State != account.HoldPrepared:
			return fmt.Errorf("%w: %s/%s is %s", account.ErrDecisionConflict, transferID, leg, h.State)
		default:
			a.Settle(*h, commit)
			var ev *account.Event
			if commit {
				ev = fn(a, *h)
			}
			if err := queueSave(b, a, ev); err != nil {
				return err
			}
			h.State = target
			b.Queue(`UPDATE holds SET state = $3, decided_at = now() WHERE transfer_id = $1 AND leg = $2`, transferID, leg, target)
		}
		out = *h
		return nil
	})
	if errors.Is(err, account.ErrNotFound) && !commit {
		// Nothing was ever held on an account that does not exist.
		return account.Hold{TransferID: transferID, Leg: leg, Account: id, State: account.HoldAborted}, nil
	}
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
