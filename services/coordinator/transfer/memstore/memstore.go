// Package memstore keeps the coordinator's log in memory: transfers, refunds, payments, rates,
// quotes and moves. It is the store of the use cases' unit tests, which run without Postgres; the
// store contract test (transfertest.TestStore) holds it to what pgstore does, so that what a unit
// test proves of the use cases holds with the real log. One mutex serializes every call, which
// gives each the isolation that pgstore gets from a transaction and a row lock.
package memstore

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"tsbank/contract"
	"tsbank/services/coordinator/move"
	"tsbank/services/coordinator/transfer"
)

// Store implements transfer.Store in memory.
type Store struct {
	now func() time.Time
	// lease is how long after a decision its first re-send is due, as pgstore's.
	lease time.Duration

	mu        sync.Mutex
	seq       int // orders records created at the same moment of a fake clock
	transfers map[string]*transferRow
	payments  map[string]*paymentRow
	rates     []transfer.Rate
	quotes    []*transfer.Quote
	moves     map[string]contract.Move
}

type transferRow struct {
	t    transfer.Transfer
	seq  int
	next time.Time // when a re-send of its decision is due
}

type paymentRow struct {
	p    transfer.Payment
	seq  int
	next time.Time
}

// New returns an empty log whose clock is now (the database's clock, for pgstore: the time of
// records, the due time of re-sends); see pgstore.New for lease.
func New(now func() time.Time, lease time.Duration) *Store {
	return &Store{now: now, lease: lease, transfers: map[string]*transferRow{}, payments: map[string]*paymentRow{},
		moves: map[string]contract.Move{}}
}

// Begin implements transfer.Store. Like pgstore, it logs only what the request gave: the
// currency and the amount in minor units are learned from the votes.
func (s *Store) Begin(_ context.Context, t transfer.Transfer) (transfer.Transfer, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.byRequest(t.From, t.RequestID); ok {
		switch {
		case rec.ID == t.ID:
			return rec, true, nil
		case !bytes.Equal(rec.Fingerprint, t.Fingerprint):
			return rec, false, fmt.Errorf("%w: request id %q of %s", transfer.ErrConflict, t.RequestID, t.From)
		}
		return rec, false, nil
	}
	rec := transfer.Transfer{ID: t.ID, From: t.From, RequestID: t.RequestID, Fingerprint: bytes.Clone(t.Fingerprint), To: t.To,
		Amount: t.Amount, Description: t.Description}
	return s.insert(rec), true, nil
}

// insert logs rec as preparing, created now.
func (s *Store) insert(rec transfer.Transfer) transfer.Transfer {
	now := s.now()
	rec.State, rec.CreatedAt = contract.TransferPreparing, now
	s.seq++
	s.transfers[rec.ID] = &transferRow{t: rec, seq: s.seq, next: now}
	return rec
}

// byRequest is the transfer from made with requestID; the caller holds mu.
func (s *Store) byRequest(from, requestID string) (transfer.Transfer, bool) {
	for _, r := range s.transfers {
		if r.t.From == from && r.t.RequestID == requestID {
			return r.t, true
		}
	}
	return transfer.Transfer{}, false
}

// LogRefund implements transfer.Store: the mutex stands for pgstore's lock on the original.
func (s *Store) LogRefund(_ context.Context, r transfer.Transfer, of transfer.Original, build func(transfer.Transfer, int64) (transfer.Transfer, error)) (transfer.Transfer, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wrap := func(err error) error { return fmt.Errorf("log refund %s of %s: %w", r.RequestID, of, err) }
	var original transfer.Transfer
	var found bool
	if of.TransferID != "" {
		var row *transferRow
		if row, found = s.transfers[of.TransferID]; found {
			original = row.t
		}
	} else {
		original, found = s.byRequest(of.From, of.RequestID)
	}
	if !found {
		return transfer.Transfer{}, false, wrap(transfer.ErrNotFound)
	}
	// A retry is answered first: the refund it asked for may have used up what is left.
	if existing, ok := s.byRequest(r.From, r.RequestID); ok {
		if !bytes.Equal(existing.Fingerprint, r.Fingerprint) {
			return existing, false, wrap(fmt.Errorf("%w: request id %q of %s", transfer.ErrConflict, r.RequestID, r.From))
		}
		return existing, false, nil
	}
	var refunded int64 // preparing refunds count: they may commit
	for _, row := range s.transfers {
		if row.t.RefundOf == original.ID && row.t.Outcome != contract.TransferAborted {
			refunded += row.t.AmountMinor
		}
	}
	t, err := build(original, refunded)
	if err != nil {
		return transfer.Transfer{}, false, wrap(err)
	}
	rec := transfer.Transfer{ID: t.ID, From: t.From, RequestID: t.RequestID, Fingerprint: bytes.Clone(t.Fingerprint), To: t.To,
		Amount: t.Amount, Description: t.Description, RefundOf: t.RefundOf, Currency: t.Currency, AmountMinor: t.AmountMinor}
	return s.insert(rec), true, nil
}

// Refunded implements transfer.Store.
func (s *Store) Refunded(_ context.Context, id string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, row := range s.transfers {
		if row.t.RefundOf == id && row.t.Outcome == contract.TransferCommitted {
			n += row.t.AmountMinor
		}
	}
	return n, nil
}

// Decide implements transfer.Store: a compare-and-set from preparing, as pgstore's.
func (s *Store) Decide(_ context.Context, id string, d transfer.Decision) (transfer.Transfer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.transfers[id]
	if !ok {
		return transfer.Transfer{ID: id}, transfer.ErrNotFound
	}
	if row.t.State == contract.TransferPreparing {
		now := s.now()
		t := &row.t
		t.State, t.Outcome, t.Reason, t.Message = d.Outcome, d.Outcome, d.Reason, d.Message
		// A refund is logged with its currency and amount and keeps them; a transfer learns
		// them from the votes.
		t.Currency = cmp.Or(t.Currency, d.Currency)
		t.AmountMinor = cmp.Or(t.AmountMinor, d.AmountMinor)
		t.DebitVote, t.CreditVote = d.DebitVote, d.CreditVote
		t.DecidedAt = &now
		row.next = now.Add(s.lease)
	}
	return row.t, nil
}

// Acked implements transfer.Store. Unlike pgstore's, it has written the acknowledgements when it
// returns; the store contract test accepts both.
func (s *Store) Acked(_ context.Context, id string, debit, credit bool, backoff time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.transfers[id]
	if !ok || (row.t.State != contract.TransferCommitted && row.t.State != contract.TransferAborted) {
		return nil
	}
	t := &row.t
	t.DebitAcked, t.CreditAcked = t.DebitAcked || debit, t.CreditAcked || credit
	if t.DebitAcked && t.CreditAcked {
		t.State = transfer.Done
	}
	row.next = s.now().Add(backoff)
	return nil
}

// Get implements transfer.Store.
func (s *Store) Get(_ context.Context, id string) (transfer.Transfer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.transfers[id]
	if !ok {
		return transfer.Transfer{}, transfer.ErrNotFound
	}
	return row.t, nil
}

// ByRequest implements transfer.Store.
func (s *Store) ByRequest(_ context.Context, from, requestID string) (transfer.Transfer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.byRequest(from, requestID)
	if !ok {
		return t, transfer.ErrNotFound
	}
	return t, nil
}

// transfersWhere lists up to limit transfers that keep, in the order of by; the caller holds mu.
func (s *Store) transfersWhere(keep func(*transferRow) bool, by func(a, b *transferRow) int, limit int) []*transferRow {
	var rows []*transferRow
	for _, r := range s.transfers {
		if keep(r) {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, by)
	return rows[:min(limit, len(rows))]
}

func byCreation(a, b *transferRow) int {
	return cmp.Or(a.t.CreatedAt.Compare(b.t.CreatedAt), cmp.Compare(a.seq, b.seq))
}

func records(rows []*transferRow) []transfer.Transfer {
	out := make([]transfer.Transfer, len(rows))
	for i, r := range rows {
		out[i] = r.t
	}
	return out
}

// Stuck implements transfer.Store.
func (s *Store) Stuck(_ context.Context, before time.Time, limit int) ([]transfer.Transfer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return records(s.transfersWhere(func(r *transferRow) bool {
		return r.t.State == contract.TransferPreparing && r.t.CreatedAt.Before(before)
	}, byCreation, limit)), nil
}

// ClaimResends implements transfer.Store.
func (s *Store) ClaimResends(_ context.Context, limit int, lease time.Duration) ([]transfer.Transfer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	due := s.transfersWhere(func(r *transferRow) bool {
		return (r.t.State == contract.TransferCommitted || r.t.State == contract.TransferAborted) && !r.next.After(now)
	}, func(a, b *transferRow) int { return cmp.Or(a.next.Compare(b.next), cmp.Compare(a.seq, b.seq)) }, limit)
	for _, r := range due {
		r.next = now.Add(lease)
		r.t.Resends++
	}
	return records(due), nil
}

// Pending implements transfer.Store.
func (s *Store) Pending(_ context.Context, limit int) ([]transfer.Transfer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return records(s.transfersWhere(func(r *transferRow) bool { return r.t.State != transfer.Done }, byCreation, limit)), nil
}

// clonePayment copies p with its own legs and exchange, so that no caller shares the log's.
func clonePayment(p transfer.Payment) transfer.Payment {
	p.Legs = slices.Clone(p.Legs)
	p.Fingerprint = bytes.Clone(p.Fingerprint)
	if p.Exchange != nil {
		x := *p.Exchange
		p.Exchange = &x
	}
	return p
}

// insertPayment logs p and its legs as preparing, created now, with no votes; the caller holds mu.
func (s *Store) insertPayment(p transfer.Payment) transfer.Payment {
	now := s.now()
	rec := transfer.Payment{ID: p.ID, Payer: p.Payer, RequestID: p.RequestID, Fingerprint: p.Fingerprint, Description: p.Description,
		Currency: p.Currency, AmountMinor: p.AmountMinor, Exchange: p.Exchange, State: contract.TransferPreparing, CreatedAt: now}
	for _, l := range p.Legs {
		l.Vote, l.Acked = "", false
		rec.Legs = append(rec.Legs, l)
	}
	rec = clonePayment(rec)
	s.seq++
	s.payments[rec.ID] = &paymentRow{p: rec, seq: s.seq, next: now}
	return clonePayment(rec)
}

// paymentByRequest is the payment payer ("" for an operator's) made with requestID; the caller
// holds mu.
func (s *Store) paymentByRequest(payer, requestID string) (*paymentRow, bool) {
	for _, r := range s.payments {
		if r.p.Payer == payer && r.p.RequestID == requestID {
			return r, true
		}
	}
	return nil, false
}

// BeginPayment implements transfer.Store: an operator's payment, whose request id is its own.
func (s *Store) BeginPayment(_ context.Context, p transfer.Payment) (transfer.Payment, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.paymentByRequest("", p.RequestID); ok {
		if !bytes.Equal(r.p.Fingerprint, p.Fingerprint) {
			return clonePayment(r.p), false, transfer.ErrConflict
		}
		return clonePayment(r.p), false, nil
	}
	p.Payer, p.Exchange = "", nil
	return s.insertPayment(p), true, nil
}

// DecidePayment implements transfer.Store.
func (s *Store) DecidePayment(_ context.Context, id string, d transfer.PaymentDecision) (transfer.Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.payments[id]
	if !ok {
		return transfer.Payment{}, transfer.ErrNotFound
	}
	if r.p.State == contract.TransferPreparing {
		now := s.now()
		r.p.State, r.p.Outcome, r.p.Reason, r.p.Message, r.p.DecidedAt = d.Outcome, d.Outcome, d.Reason, d.Message, &now
		for i, v := range d.Votes {
			if i < len(r.p.Legs) {
				r.p.Legs[i].Vote = v
			}
		}
		r.next = now.Add(s.lease)
	}
	return clonePayment(r.p), nil
}

// AckedPayment implements transfer.Store.
func (s *Store) AckedPayment(_ context.Context, id string, acked []int, backoff time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.payments[id]
	if !ok {
		return nil
	}
	for _, pos := range acked {
		if pos >= 1 && pos <= len(r.p.Legs) {
			r.p.Legs[pos-1].Acked = true
		}
	}
	if r.p.State != contract.TransferCommitted && r.p.State != contract.TransferAborted {
		return nil
	}
	if !slices.ContainsFunc(r.p.Legs, func(l transfer.PaymentLeg) bool { return !l.Acked }) {
		r.p.State = transfer.Done
	}
	r.next = s.now().Add(backoff)
	return nil
}

// GetPayment implements transfer.Store.
func (s *Store) GetPayment(_ context.Context, id string) (transfer.Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.payments[id]
	if !ok {
		return transfer.Payment{}, transfer.ErrNotFound
	}
	return clonePayment(r.p), nil
}

// PaymentByRequest implements transfer.Store.
func (s *Store) PaymentByRequest(_ context.Context, requestID string) (transfer.Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.paymentByRequest("", requestID)
	if !ok {
		return transfer.Payment{}, transfer.ErrNotFound
	}
	return clonePayment(r.p), nil
}

// paymentsWhere lists up to limit payments that keep, in the order of by; the caller holds mu.
func (s *Store) paymentsWhere(keep func(*paymentRow) bool, by func(a, b *paymentRow) int, limit int) []*paymentRow {
	var rows []*paymentRow
	for _, r := range s.payments {
		if keep(r) {
			rows = append(rows, r)
		}
	}
	slices.SortFunc(rows, by)
	return rows[:min(limit, len(rows))]
}

func paymentsByCreation(a, b *paymentRow) int {
	return cmp.Or(a.p.CreatedAt.Compare(b.p.CreatedAt), cmp.Compare(a.seq, b.seq))
}

func payments(rows []*paymentRow) []transfer.Payment {
	out := make([]transfer.Payment, len(rows))
	for i, r := range rows {
		out[i] = clonePayment(r.p)
	}
	return out
}

// StuckPayments implements transfer.Store.
func (s *Store) StuckPayments(_ context.Context, before time.Time, limit int) ([]transfer.Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return payments(s.paymentsWhere(func(r *paymentRow) bool {
		return r.p.State == contract.TransferPreparing && r.p.CreatedAt.Before(before)
	}, paymentsByCreation, limit)), nil
}

// ClaimPaymentResends implements transfer.Store.
func (s *Store) ClaimPaymentResends(_ context.Context, limit int, lease time.Duration) ([]transfer.Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	due := s.paymentsWhere(func(r *paymentRow) bool {
		return (r.p.State == contract.TransferCommitted || r.p.State == contract.TransferAborted) && !r.next.After(now)
	}, func(a, b *paymentRow) int { return cmp.Or(a.next.Compare(b.next), cmp.Compare(a.seq, b.seq)) }, limit)
	for _, r := range due {
		r.next = now.Add(lease)
		r.p.Resends++
	}
	return payments(due), nil
}

// PendingPayments implements transfer.Store.
func (s *Store) PendingPayments(_ context.Context, limit int) ([]transfer.Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return payments(s.paymentsWhere(func(r *paymentRow) bool { return r.p.State != transfer.Done }, paymentsByCreation, limit)), nil
}

// SetRate implements transfer.Store.
func (s *Store) SetRate(_ context.Context, r transfer.Rate) (transfer.Rate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rec := range s.rates {
		if rec.RequestID != r.RequestID {
			continue
		}
		if !bytes.Equal(rec.Fingerprint, r.Fingerprint) {
			return rec, fmt.Errorf("%w: rate request id %q", transfer.ErrConflict, r.RequestID)
		}
		return rec, nil
	}
	r.SetAt = s.now()
	r.Fingerprint = bytes.Clone(r.Fingerprint)
	s.rates = append(s.rates, r)
	return r, nil
}

// newestFirst orders rates as pgstore lists them: by pair, then the newest valid_from (and,
// for one valid_from, the last set) first.
func newestFirst(a, b transfer.Rate) int {
	return cmp.Or(cmp.Compare(a.Base, b.Base), cmp.Compare(a.Quote, b.Quote), b.ValidFrom.Compare(a.ValidFrom), b.SetAt.Compare(a.SetAt))
}

// RateInForce implements transfer.Store.
func (s *Store) RateInForce(ctx context.Context, base, quote string, at time.Time) (transfer.Rate, error) {
	rates, _ := s.Rates(ctx, base, quote, false, at)
	if len(rates) == 0 {
		return transfer.Rate{}, fmt.Errorf("%w: no rate of %s in %s is valid now; an operator sets one with bank.rates.set", transfer.ErrRateNotFound, base, quote)
	}
	return rates[0], nil
}

// Rates implements transfer.Store.
func (s *Store) Rates(_ context.Context, base, quote string, history bool, at time.Time) ([]transfer.Rate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []transfer.Rate
	for _, r := range s.rates {
		if (base == "" || r.Base == base) && (quote == "" || r.Quote == quote) && (history || !r.ValidFrom.After(at)) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, newestFirst)
	if history {
		return out, nil
	}
	// The one in force of each pair is its first.
	return slices.CompactFunc(out, func(a, b transfer.Rate) bool { return a.Base == b.Base && a.Quote == b.Quote }), nil
}

// quoteByRequest is the quote payer named requestID; the caller holds mu.
func (s *Store) quoteByRequest(payer, requestID string) (*transfer.Quote, bool) {
	for _, q := range s.quotes {
		if q.Payer == payer && q.RequestID == requestID {
			return q, true
		}
	}
	return nil, false
}

// SaveQuote implements transfer.Store.
func (s *Store) SaveQuote(_ context.Context, q transfer.Quote) (transfer.Quote, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.quoteByRequest(q.Payer, q.RequestID); ok {
		if !bytes.Equal(rec.Fingerprint, q.Fingerprint) {
			return *rec, fmt.Errorf("%w: quote id %q of %s", transfer.ErrConflict, q.RequestID, q.Payer)
		}
		return *rec, nil
	}
	q.UsedBy, q.Fingerprint = "", bytes.Clone(q.Fingerprint)
	s.quotes = append(s.quotes, &q)
	return q, nil
}

// QuoteByRequest implements transfer.Store.
func (s *Store) QuoteByRequest(_ context.Context, payer, requestID string) (transfer.Quote, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.quoteByRequest(payer, requestID)
	if !ok {
		return transfer.Quote{}, transfer.ErrUnknownQuote
	}
	return *q, nil
}

// LogExchange implements transfer.Store: the mutex stands for pgstore's lock on the quote.
func (s *Store) LogExchange(_ context.Context, r transfer.ExchangeRequest, build func(transfer.Quote) (transfer.Payment, error)) (transfer.Payment, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wrap := func(err error) error { return fmt.Errorf("log exchange %s of %s: %w", r.RequestID, r.Payer, err) }
	if row, ok := s.paymentByRequest(r.Payer, r.RequestID); ok {
		if !bytes.Equal(row.p.Fingerprint, r.Fingerprint) {
			return transfer.Payment{}, false, wrap(fmt.Errorf("%w: request id %q of %s", transfer.ErrConflict, r.RequestID, r.Payer))
		}
		return clonePayment(row.p), false, nil
	}
	if _, ok := s.byRequest(r.Payer, r.RequestID); ok {
		return transfer.Payment{}, false, wrap(fmt.Errorf("%w: request id %q of %s is a transfer's", transfer.ErrConflict, r.RequestID, r.Payer))
	}
	q, ok := s.quoteByRequest(r.Payer, r.QuoteRequestID)
	if !ok {
		return transfer.Payment{}, false, wrap(fmt.Errorf("%w: %s has no quote %q; ask bank.quote.%s for one", transfer.ErrUnknownQuote, r.Payer, r.QuoteRequestID, r.Payer))
	}
	p, err := build(*q)
	if err != nil {
		return transfer.Payment{}, false, wrap(err)
	}
	if q.UsedBy != "" {
		return transfer.Payment{}, false, wrap(fmt.Errorf("%w: quote %s", transfer.ErrQuoteUsed, q.RequestID))
	}
	q.UsedBy = p.ID
	return s.insertPayment(p), true, nil
}

// ExchangeByRequest implements transfer.Store.
func (s *Store) ExchangeByRequest(_ context.Context, payer, requestID string) (transfer.Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.paymentByRequest(payer, requestID)
	if !ok || payer == "" {
		return transfer.Payment{}, transfer.ErrNotFound
	}
	return clonePayment(r.p), nil
}

// Moves is the log of moves, as pgstore.Moves.
func (s *Store) Moves() move.Store { return (*moves)(s) }

type moves Store

// moveOrder is a move state's place in a move's way; done and aborted are both last.
func moveOrder(state string) int {
	i := slices.Index([]string{contract.MoveLeaving, contract.MoveCopying, contract.MoveSwitching, contract.MoveArriving}, state)
	if i < 0 {
		return 4
	}
	return i
}

func finished(m contract.Move) bool {
	return m.State == contract.MoveDone || m.State == contract.MoveAborted
}

func (ms *moves) Create(_ context.Context, m contract.Move) (contract.Move, bool, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if logged, ok := ms.moves[m.ID]; ok {
		if logged.Account != m.Account || logged.To != m.To {
			return logged, false, move.ErrConflict
		}
		return logged, false, nil
	}
	for _, o := range ms.moves {
		if o.Account == m.Account && !finished(o) {
			return m, false, fmt.Errorf("%w: %s", move.ErrBusy, m.Account)
		}
	}
	logged := contract.Move{ID: m.ID, Account: m.Account, From: m.From, To: m.To, State: m.State, CreatedAt: m.CreatedAt, UpdatedAt: m.CreatedAt}
	ms.moves[m.ID] = logged
	return logged, true, nil
}

func (ms *moves) Save(_ context.Context, m contract.Move) (contract.Move, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	logged, ok := ms.moves[m.ID]
	if !ok {
		return logged, move.ErrUnknown
	}
	if moveOrder(m.State) > moveOrder(logged.State) {
		logged.State, logged.Reason, logged.Message, logged.AfterSeq, logged.Copied, logged.UpdatedAt = m.State, m.Reason, m.Message, m.AfterSeq, m.Copied, m.UpdatedAt
		ms.moves[m.ID] = logged
	}
	return logged, nil
}

func (ms *moves) Get(_ context.Context, id string) (contract.Move, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m, ok := ms.moves[id]
	if !ok {
		return m, move.ErrUnknown
	}
	return m, nil
}

func (ms *moves) Unfinished(_ context.Context, before time.Time) ([]contract.Move, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	var out []contract.Move
	for _, m := range ms.moves {
		if !finished(m) && m.UpdatedAt.Before(before) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b contract.Move) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out[:min(100, len(out))], nil
}
