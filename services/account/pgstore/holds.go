package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tsbank/contract/money"
	"tsbank/services/account/account"
)

const holdColumns = `h.transfer_id, h.leg, h.account_id, h.amount, h.counterparty, h.description, h.state, h.reason, h.created_at, h.refund_of, h.exchange`

// Legs implements account.Store.Legs in the two round trips of readModifyWrite, however many
// legs: the first locks every account of keys (in id order, so that two batches sharing accounts
// cannot deadlock) and then reads their legs; the second writes each changed account once, and
// the legs and events, each kind in one statement over arrays. The legs need no lock of their
// own: every change to a leg happens under its account's row lock.
func (s *Store) Legs(ctx context.Context, keys []account.LegKey, apply func(i int, a *account.Account, known *account.Hold) (account.Hold, bool, *account.Event, error)) error {
	var ids, transfers []string
	seen := map[string]bool{}
	wanted := map[legID]bool{}
	for _, k := range keys {
		if !seen[k.Account] {
			seen[k.Account] = true
			ids = append(ids, k.Account)
		}
		transfers = append(transfers, k.TransferID)
		wanted[legID{k.TransferID, k.Leg, k.Account}] = true
	}
	accounts := map[string]*account.Account{}
	holds := map[legID]*account.Hold{}
	stored := map[legID]bool{} // legs already in the table: updated, not inserted
	return s.readModifyWrite(ctx, []read{
		s.lockAccounts(ids, accounts),
		// By transfer id alone, which the primary key's index finds however large the table:
		// a join with the arrays of all three columns let the planner scan the whole table.
		{sql: `SELECT ` + holdColumns + ` FROM holds h WHERE h.transfer_id = ANY($1)`,
			args: []any{transfers},
			each: func(rows pgx.Rows) error {
				var h account.Hold
				var exchange []byte
				var err error
				if err := rows.Scan(&h.TransferID, &h.Leg, &h.Account, &h.Amount, &h.Counterparty, &h.Description, &h.State, &h.Reason, &h.CreatedAt, &h.RefundOf, &exchange); err != nil {
					return err
				}
				if h.Exchange, err = decodeExchange(exchange); err != nil {
					return err
				}
				if id := (legID{h.TransferID, h.Leg, h.Account}); wanted[id] {
					holds[id], stored[id] = &h, true
				}
				return nil
			}},
	}, func(b *pgx.Batch) error {
		var w writes
		var order []legID // changed legs, in the order of their first change
		inOrder := map[legID]bool{}
		for i, k := range keys {
			id := legID{k.TransferID, k.Leg, k.Account}
			a := accounts[k.Account]
			known := holds[id]
			if known != nil && a != nil {
				known.Currency = a.Currency
			}
			var work *account.Account
			if a != nil {
				copied := *a // apply works on a copy, so that a step that fails leaves no trace
				work = &copied
			}
			h, write, ev, err := apply(i, work, known)
			if err != nil || !write || a == nil {
				continue
			}
			w.keep(a, *work, ev)
			if !inOrder[id] {
				inOrder[id] = true
				order = append(order, id)
			}
			holds[id] = &h
		}
		changedLegs := make([]account.Hold, len(order))
		for i, id := range order {
			changedLegs[i] = *holds[id]
		}
		queueLegs(b, changedLegs, func(h account.Hold) bool { return stored[legID{h.TransferID, h.Leg, h.Account}] })
		return w.queue(b, s.encode)
	})
}

// writes collects what one transaction changes in accounts: each changed account once, and the
// events in the order they happened (the domain numbered them, each as its account's next).
type writes struct {
	accounts []*account.Account
	changed  map[string]bool
	events   []*account.Event
}

// keep makes after the state of a, and keeps ev, if any, to be written to the outbox.
func (w *writes) keep(a *account.Account, after account.Account, ev *account.Event) {
	*a = after
	if !w.changed[a.ID] {
		if w.changed == nil {
			w.changed = map[string]bool{}
		}
		w.changed[a.ID] = true
		w.accounts = append(w.accounts, a)
	}
	if ev != nil {
		w.events = append(w.events, ev)
	}
}

// queue queues the accounts' updates and the events' outbox rows, encoded by encode.
func (w *writes) queue(b *pgx.Batch, encode Encoder) error {
	queueAccounts(b, w.accounts)
	return queueEvents(b, w.events, w.accounts, encode)
}

// legID names a leg in Legs' maps.
type legID struct{ transfer, leg, account string }

// The queue functions below write many rows with one statement over arrays, and a single row
// with a plain one: a statement over arrays costs a few hundred microseconds more to plan and run,
// which a quiet bank, whose batches hold one row, would pay on every commit of its path.

// queueAccounts queues the update of the mutable fields of the changed accounts, in one statement.
func queueAccounts(b *pgx.Batch, changed []*account.Account) {
	switch len(changed) {
	case 0:
		return
	case 1:
		a := changed[0]
		b.Queue(`UPDATE accounts SET balance = $2, on_hold = $3, pending_in = $4, event_seq = $5, overdraft_limit = $6,
			status = $7, closed_at = $8 WHERE id = $1`, a.ID, a.Balance, a.OnHold, a.PendingIn, a.EventSeq, a.OverdraftLimit, a.Status, a.ClosedAt)
		return
	}
	n := len(changed)
	ids, statuses := make([]string, n), make([]string, n)
	balances, onHold, pendingIn, seqs, limits := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	closed := make([]*time.Time, n)
	for i, a := range changed {
		ids[i], statuses[i], closed[i] = a.ID, a.Status, a.ClosedAt
		balances[i], onHold[i], pendingIn[i], seqs[i], limits[i] = a.Balance, a.OnHold, a.PendingIn, a.EventSeq, a.OverdraftLimit
	}
	b.Queue(`UPDATE accounts a SET balance = u.balance, on_hold = u.on_hold, pending_in = u.pending_in, event_seq = u.event_seq,
			overdraft_limit = u.overdraft_limit, status = u.status, closed_at = u.closed_at
		FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[], $8::timestamptz[])
			AS u(id, balance, on_hold, pending_in, event_seq, overdraft_limit, status, closed_at)
		WHERE a.id = ANY($1) AND a.id = u.id`, ids, balances, onHold, pendingIn, seqs, limits, statuses, closed)
}

// queueLegs queues the writes of the changed legs: new ones (not stored) inserted with their
// final state, stored ones updated.
func queueLegs(b *pgx.Batch, changed []account.Hold, stored func(account.Hold) bool) {
	var ins struct {
		transfers, legs, accounts, counterparties, descriptions, states, reasons, refundOfs []string
		amounts                                                                             []int64
		created                                                                             []time.Time
		exchanges                                                                           []*string
	}
	var upd struct{ transfers, legs, states []string }
	for _, h := range changed {
		if stored(h) {
			upd.transfers, upd.legs, upd.states = append(upd.transfers, h.TransferID), append(upd.legs, h.Leg), append(upd.states, string(h.State))
			continue
		}
		ins.transfers, ins.legs, ins.accounts = append(ins.transfers, h.TransferID), append(ins.legs, h.Leg), append(ins.accounts, h.Account)
		ins.amounts, ins.counterparties, ins.descriptions = append(ins.amounts, h.Amount), append(ins.counterparties, h.Counterparty), append(ins.descriptions, h.Description)
		ins.states, ins.reasons, ins.created = append(ins.states, string(h.State)), append(ins.reasons, string(h.Reason)), append(ins.created, h.CreatedAt)
		ins.refundOfs, ins.exchanges = append(ins.refundOfs, h.RefundOf), append(ins.exchanges, encodeExchange(h.Exchange))
	}
	switch len(ins.transfers) {
	case 0:
	case 1:
		b.Queue(`INSERT INTO holds (transfer_id, leg, account_id, amount, counterparty, description, state, reason, created_at, decided_at, refund_of, exchange)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $7 = 'prepared' THEN NULL ELSE now() END, $10, $11::jsonb)`,
			ins.transfers[0], ins.legs[0], ins.accounts[0], ins.amounts[0], ins.counterparties[0], ins.descriptions[0], ins.states[0], ins.reasons[0], ins.created[0], ins.refundOfs[0], ins.exchanges[0])
	default:
		b.Queue(`INSERT INTO holds (transfer_id, leg, account_id, amount, counterparty, description, state, reason, created_at, decided_at, refund_of, exchange)
			SELECT t, l, a, amount, cp, d, st, r, c, CASE WHEN st = 'prepared' THEN NULL ELSE now() END, rf, x
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::text[], $11::jsonb[])
			  AS u(t, l, a, amount, cp, d, st, r, c, rf, x)`,
			ins.transfers, ins.legs, ins.accounts, ins.amounts, ins.counterparties, ins.descriptions, ins.states, ins.reasons, ins.created, ins.refundOfs, ins.exchanges)
	}
	switch len(upd.transfers) {
	case 0:
	case 1:
		b.Queue(`UPDATE holds SET state = $3, decided_at = now() WHERE transfer_id = $1 AND leg = $2`, upd.transfers[0], upd.legs[0], upd.states[0])
	default:
		b.Queue(`UPDATE holds h SET state = u.state, decided_at = now()
			FROM unnest($1::text[], $2::text[], $3::text[]) AS u(transfer_id, leg, state)
			WHERE h.transfer_id = ANY($1) AND h.transfer_id = u.transfer_id AND h.leg = u.leg`, upd.transfers, upd.legs, upd.states)
	}
}

// queueEvents queues the outbox rows of events, in order, in one statement.
func queueEvents(b *pgx.Batch, events []*account.Event, accounts []*account.Account, encode Encoder) error {
	if len(events) == 0 {
		return nil
	}
	currency := map[string]money.Currency{}
	for _, a := range accounts {
		currency[a.ID] = a.Currency
	}
	var ids, owners, subjects, payloads []string
	var traces []*string // NULL for an event with no trace context
	for _, ev := range events {
		subject, payload, err := encode(*ev, currency[ev.Account])
		if err != nil {
			return err
		}
		ids, owners, subjects, payloads = append(ids, ev.ID), append(owners, ev.Account), append(subjects, subject), append(payloads, string(payload))
		traces = append(traces, encodeTrace(ev.Trace))
	}
	if len(events) == 1 {
		b.Queue(`INSERT INTO outbox (event_id, account_id, subject, payload, trace) VALUES ($1, $2, $3, $4, $5::jsonb)`, ids[0], owners[0], subjects[0], payloads[0], traces[0])
		return nil
	}
	b.Queue(`INSERT INTO outbox (event_id, account_id, subject, payload, trace)
		SELECT id::uuid, a, s, p::jsonb, tr FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[]) WITH ORDINALITY AS u(id, a, s, p, tr, n)
		ORDER BY n`, ids, owners, subjects, payloads, traces)
	return nil
}

// encodeTrace is an event's trace context as the outbox's jsonb, nil for none.
func encodeTrace(m map[string]string) *string {
	if len(m) == 0 {
		return nil
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	s := string(b)
	return &s
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
		var exchange []byte
		if err := rows.Scan(&h.TransferID, &h.Leg, &h.Account, &h.Amount, &h.Counterparty, &h.Description, &h.State, &h.Reason, &h.CreatedAt, &h.RefundOf, &exchange, &code); err != nil {
			return nil, fmt.Errorf("stale holds: %w", err)
		}
		if h.Exchange, err = decodeExchange(exchange); err != nil {
			return nil, err
		}
		if h.Currency, err = money.LookupCurrency(code); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// encodeExchange is a leg's exchange as the holds table keeps it: JSON, or NULL for none.
func encodeExchange(x *account.Exchange) *string {
	if x == nil {
		return nil
	}
	b, _ := json.Marshal(x) // a struct of strings always encodes
	s := string(b)
	return &s
}

func decodeExchange(b []byte) (*account.Exchange, error) {
	if b == nil {
		return nil, nil
	}
	var x account.Exchange
	if err := json.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("read a leg's exchange: %w", err)
	}
	return &x, nil
}
