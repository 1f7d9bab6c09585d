// Package memstore is the history store in memory, for the use cases' tests: it answers as
// pgstore does, checked by the same contract test (storetest).
package memstore

import (
	"cmp"
	"context"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/history/history"
)

// Store implements history.Store.
type Store struct {
	mu       sync.Mutex
	rows     []row // in insertion order
	ids      map[string]bool
	forged   []history.Forged
	accounts map[string]history.Account
	batches  int64 // the last count batch numbered
}

// row is a stored row and what the counters know of it.
type row struct {
	history.Row
	batch   int64 // 0 until numbered for the counters
	counted bool
}

var _ history.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{ids: map[string]bool{}, accounts: map[string]history.Account{}}
}

// Insert adds the rows whose event id is new.
func (s *Store) Insert(_ context.Context, rows []history.Row) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range rows {
		if s.ids[r.EventID] {
			continue
		}
		s.ids[r.EventID] = true
		r.At = r.At.UTC()
		s.rows = append(s.rows, row{Row: r})
		n++
	}
	return n, nil
}

// read returns a copy of r as the store reads it back: with what its refunds moved on its
// account, and its exchange not shared with the stored row.
func (s *Store) read(r history.Row) history.Row {
	if r.TransferID != "" && r.RefundOf == "" {
		for _, o := range s.rows {
			if o.RefundOf == r.TransferID && o.Account == r.Account {
				r.Refunded += abs(o.Amount)
			}
		}
	}
	if r.Exchange != nil {
		x := *r.Exchange
		r.Exchange = &x
	}
	return r
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// of returns the rows of account in commit order (account_seq).
func (s *Store) of(account string) []history.Row {
	var out []history.Row
	for _, r := range s.rows {
		if r.Account == account {
			out = append(out, r.Row)
		}
	}
	slices.SortStableFunc(out, func(a, b history.Row) int { return cmp.Compare(a.AccountSeq, b.AccountSeq) })
	return out
}

// Page filters, sorts by the query's key and the event id, and pages from q.After.
func (s *Store) Page(_ context.Context, q history.Query) ([]history.Row, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	order := func(a, b history.Position) int {
		c := cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Amount, b.Amount), strings.Compare(a.EventID, b.EventID))
		if q.Desc {
			return -c
		}
		return c
	}
	var out []history.Row
	for _, r := range s.rows {
		if r.Account != q.Account || !matches(q.Filter, r.Row) || (q.After != nil && order(q.PositionOf(r.Row), *q.After) <= 0) {
			continue
		}
		out = append(out, r.Row)
	}
	slices.SortFunc(out, func(a, b history.Row) int { return order(q.PositionOf(a), q.PositionOf(b)) })
	out = out[:min(len(out), q.Limit)]
	for i, r := range out {
		out[i] = s.read(r)
	}
	return out, nil
}

// matches applies f as pgstore's WHERE does: amounts on the absolute amount in major units, the
// text as a case-insensitive substring.
func matches(f history.Filter, r history.Row) bool {
	switch {
	case len(f.Types) > 0 && !slices.Contains(f.Types, r.Type):
	case !f.From.IsZero() && r.At.Before(f.From):
	case !f.To.IsZero() && !r.At.Before(f.To):
	case f.MinAmount != "" && compareAmount(r, f.MinAmount) < 0:
	case f.MaxAmount != "" && compareAmount(r, f.MaxAmount) > 0:
	case f.Counterparty != "" && r.Counterparty != f.Counterparty:
	case f.TransferID != "" && r.TransferID != f.TransferID:
	case f.Text != "" && !strings.Contains(strings.ToLower(r.Description), strings.ToLower(f.Text)):
	default:
		return true
	}
	return false
}

// compareAmount compares r's absolute amount with a decimal in major units, exactly, whatever the
// decimal's number of digits.
func compareAmount(r history.Row, decimal string) int {
	bound, ok := new(big.Rat).SetString(decimal)
	if !ok {
		return 0 // the use cases check the syntax first
	}
	amount := new(big.Rat).SetFrac(big.NewInt(abs(r.Amount)), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(r.Currency.Exponent)), nil))
	return amount.Cmp(bound)
}

// Period returns the rows of [from, to) in commit order and the balance after the last row
// before from.
func (s *Store) Period(_ context.Context, account string, from, to time.Time) (int64, []history.Row, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var opening int64
	var rows []history.Row
	for _, r := range s.of(account) {
		switch {
		case r.At.Before(from):
			opening = r.BalanceAfter
		case r.At.Before(to):
			rows = append(rows, s.read(r))
		}
	}
	return opening, rows, nil
}

// Currency returns the currency of account's rows.
func (s *Store) Currency(_ context.Context, account string) (money.Currency, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.rows {
		if r.Account == account {
			return r.Currency, true, nil
		}
	}
	return money.Currency{}, false, nil
}

// Summaries summarizes account's rows, or every account's, in account order.
func (s *Store) Summaries(_ context.Context, account string) ([]history.Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byAccount := map[string]*history.Summary{}
	for _, r := range s.rows {
		if account != "" && r.Account != account {
			continue
		}
		sm := byAccount[r.Account]
		if sm == nil {
			sm = &history.Summary{Account: r.Account, Currency: r.Currency}
			byAccount[r.Account] = sm
		}
		sm.Sum += r.Amount
		sm.Rows++
		if sm.Rows == 1 || r.AccountSeq > sm.LastSeq {
			sm.LastSeq, sm.LastBalance = r.AccountSeq, r.BalanceAfter
		}
	}
	var out []history.Summary
	for _, sm := range byAccount {
		out = append(out, *sm)
	}
	slices.SortFunc(out, func(a, b history.Summary) int { return strings.Compare(a.Account, b.Account) })
	return out, nil
}

// Upto summarizes account's rows numbered 1 to seq.
func (s *Store) Upto(_ context.Context, account string, seq int64) (history.Prefix, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var p history.Prefix
	for _, r := range s.rows {
		if r.Account != account || r.AccountSeq < 1 || r.AccountSeq > seq {
			continue
		}
		p.Rows++
		p.Sum += r.Amount
		if r.AccountSeq == seq && (!p.Found || r.BalanceAfter > p.Balance) {
			p.Balance, p.Found = r.BalanceAfter, true // the largest of a doubled row, as max() in SQL
		}
	}
	return p, nil
}

// BalanceAt reads what account's balance at t depends on, as balance_at_detail does in SQL.
func (s *Store) BalanceAt(_ context.Context, account string, t time.Time) (history.Before, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b history.Before
	var newest int64
	for _, r := range s.rows {
		if r.Account != account {
			continue
		}
		newest = max(newest, r.AccountSeq)
		if r.At.After(t) && (b.FirstAfter == 0 || r.AccountSeq < b.FirstAfter) {
			b.FirstAfter = r.AccountSeq
		}
	}
	b.Seq = newest
	if b.FirstAfter > 0 {
		b.Seq = b.FirstAfter - 1
	}
	for _, r := range s.rows {
		if r.Account != account {
			continue
		}
		if r.AccountSeq >= 1 && r.AccountSeq <= max(b.Seq, b.FirstAfter) {
			b.Rows++
		}
		if r.AccountSeq == b.Seq {
			b.Balance = r.BalanceAfter
		}
	}
	return b, nil
}

// RecordForged records the events not recorded yet, by stream sequence and event id.
func (s *Store) RecordForged(_ context.Context, events []history.Forged) ([]history.Forged, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type key struct {
		seq uint64
		id  string
	}
	have := map[key]bool{}
	for _, f := range s.forged {
		have[key{f.StreamSeq, f.EventID}] = true
	}
	recorded := map[key]bool{}
	for _, f := range events {
		k := key{f.StreamSeq, f.EventID}
		if !have[k] {
			have[k], recorded[k] = true, true
			s.forged = append(s.forged, f)
		}
	}
	// As with pgstore's RETURNING, every event of a key recorded now is returned.
	var out []history.Forged
	for _, f := range events {
		if recorded[key{f.StreamSeq, f.EventID}] {
			out = append(out, f)
		}
	}
	return out, nil
}

// ForgedCounts counts the forged events of account, or of every account if account is "".
func (s *Store) ForgedCounts(_ context.Context, account string) (map[string]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	for _, f := range s.forged {
		if account == "" || f.Account == account {
			out[f.Account]++
		}
	}
	return out, nil
}

// SaveAccounts adds the new accounts and updates those that changed.
func (s *Store) SaveAccounts(_ context.Context, accounts []history.Account) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range accounts {
		old, ok := s.accounts[a.ID]
		if ok && old.Node == a.Node && old.Currency.Code == a.Currency.Code && old.Status == a.Status &&
			old.OpenedAt.Equal(a.OpenedAt) && old.ClosedAt.Equal(a.ClosedAt) {
			continue
		}
		s.accounts[a.ID] = a
		n++
	}
	return n, nil
}

// ClaimCountBatch returns the oldest numbered batch not yet counted, or numbers a new one of up
// to limit transfer_out rows in stream order.
func (s *Store) ClaimCountBatch(_ context.Context, limit int) (int64, []history.CountTotal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var batch int64
	for _, r := range s.rows {
		if r.Type == contract.EventTransferOut && !r.counted && r.batch != 0 && (batch == 0 || r.batch < batch) {
			batch = r.batch
		}
	}
	if batch == 0 {
		var picked []*row
		for i := range s.rows {
			if r := &s.rows[i]; r.Type == contract.EventTransferOut && !r.counted && r.batch == 0 {
				picked = append(picked, r)
			}
		}
		if len(picked) == 0 {
			return 0, nil, nil
		}
		slices.SortFunc(picked, func(a, b *row) int { return cmp.Compare(a.StreamSeq, b.StreamSeq) })
		s.batches++
		batch = s.batches
		for _, r := range picked[:min(len(picked), limit)] {
			r.batch = batch
		}
	}
	type group struct{ day, node, currency string }
	totals := map[group]*history.CountTotal{}
	for _, r := range s.rows {
		if r.batch != batch || r.Type != contract.EventTransferOut {
			continue
		}
		g := group{r.At.UTC().Format(time.DateOnly), r.Node, r.Currency.Code}
		t := totals[g]
		if t == nil {
			t = &history.CountTotal{Day: g.day, Node: g.node, Currency: g.currency}
			totals[g] = t
		}
		t.Transfers++
		t.Volume += abs(r.Amount)
	}
	var out []history.CountTotal
	for _, t := range totals {
		out = append(out, *t)
	}
	slices.SortFunc(out, func(a, b history.CountTotal) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.Node, b.Node), strings.Compare(a.Currency, b.Currency))
	})
	return batch, out, nil
}

// MarkCounted records that batch's increments were acknowledged.
func (s *Store) MarkCounted(_ context.Context, batch int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.rows {
		if s.rows[i].batch == batch {
			s.rows[i].counted = true
		}
	}
	return nil
}
