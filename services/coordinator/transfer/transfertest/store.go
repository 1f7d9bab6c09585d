package transfertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/services/coordinator/move"
	"tsbank/services/coordinator/transfer"
)

// Stores is one coordinator log under test: its transfers, payments, rates and quotes, and its
// moves.
type Stores struct {
	Log   transfer.Store
	Moves move.Store
}

// TestStore is the store contract test (wild-workouts' repository tests): what the use cases rely
// on of any transfer.Store and move.Store, run against each implementation. open returns an empty
// log on the real clock whose first re-send of a decision is due at once (a lease of zero).
// Acknowledgements may be written after Acked returns (pgstore batches them), so the test waits
// for them to show.
func TestStore(t *testing.T, open func(t *testing.T) Stores) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s Stores)
	}{
		{"a transfer is begun once per paying account and request id", beginOnce},
		{"a decision is recorded once and a second changes nothing", decideOnce},
		{"acknowledgements of both legs make a transfer done", acknowledgements},
		{"due re-sends are claimed once per lease", dueResends},
		{"transfers still preparing are stuck once created before the time asked", stuck},
		{"refunds are capped by their original even when they race", refundsCapped},
		{"a payment is begun once, decided once and done once every leg acknowledged", paymentsOnce},
		{"rates are kept and the newest valid one is in force", rates},
		{"a quote is saved once and used by one exchange only", quotes},
		{"a move is logged once per account at a time and only goes forward", moves},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open(t))
		})
	}
}

// eventually calls f until it returns nil, for up to 5 s.
func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newTransfer(id, from, request, to string) transfer.Transfer {
	return transfer.Transfer{ID: id, From: from, RequestID: request, Fingerprint: []byte(to), To: to, Amount: "1.00", Description: "d"}
}

// committed begins and commits a transfer of amount minor units of EUR.
func committed(t *testing.T, s transfer.Store, id, from, to string, minor int64) transfer.Transfer {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.Begin(ctx, newTransfer(id, from, "r-"+id, to)); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Decide(ctx, id, transfer.Decision{Outcome: contract.TransferCommitted, Currency: "EUR", AmountMinor: minor, DebitVote: "yes", CreditVote: "yes"})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func beginOnce(t *testing.T, s Stores) {
	ctx := context.Background()
	first, created, err := s.Log.Begin(ctx, newTransfer("t1", "alice", "r-1", "bob"))
	if err != nil || !created || first.ID != "t1" || first.State != contract.TransferPreparing || first.CreatedAt.IsZero() || first.Outcome != "" {
		t.Fatalf("Begin = %+v, %v, %v; want t1 created, preparing", first, created, err)
	}
	retry, created, err := s.Log.Begin(ctx, newTransfer("t2", "alice", "r-1", "bob"))
	if err != nil || created || retry.ID != "t1" {
		t.Fatalf("a retry: Begin = %s, %v, %v; want t1, not created", retry.ID, created, err)
	}
	if _, created, err := s.Log.Begin(ctx, newTransfer("t3", "alice", "r-1", "carol")); !errors.Is(err, transfer.ErrConflict) || created {
		t.Fatalf("another body with the request id: Begin = %v, %v; want ErrConflict", created, err)
	}
	if other, created, err := s.Log.Begin(ctx, newTransfer("t4", "dave", "r-1", "bob")); err != nil || !created || other.ID != "t4" {
		t.Fatalf("another payer's request id: Begin = %s, %v, %v; want t4 created", other.ID, created, err)
	}
	if got, err := s.Log.ByRequest(ctx, "alice", "r-1"); err != nil || got.ID != "t1" || got.To != "bob" || got.Amount != "1.00" || !bytes.Equal(got.Fingerprint, []byte("bob")) {
		t.Fatalf("ByRequest = %+v, %v", got, err)
	}
	if _, err := s.Log.Get(ctx, "nothing"); !errors.Is(err, transfer.ErrNotFound) {
		t.Fatalf("Get of no transfer = %v, want ErrNotFound", err)
	}
	if _, err := s.Log.ByRequest(ctx, "bob", "r-1"); !errors.Is(err, transfer.ErrNotFound) {
		t.Fatalf("ByRequest of no transfer = %v, want ErrNotFound", err)
	}
}

func decideOnce(t *testing.T, s Stores) {
	ctx := context.Background()
	rec := committed(t, s.Log, "t1", "alice", "bob", 100)
	if rec.State != contract.TransferCommitted || rec.Outcome != contract.TransferCommitted || rec.Currency != "EUR" || rec.AmountMinor != 100 ||
		rec.DebitVote != "yes" || rec.CreditVote != "yes" || rec.DecidedAt == nil {
		t.Fatalf("Decide = %+v; want committed, 100 EUR, both votes, a decision time", rec)
	}
	again, err := s.Log.Decide(ctx, "t1", transfer.Decision{Outcome: contract.TransferAborted, Reason: contract.CodeTimeout, Message: "late"})
	if err != nil || again.Outcome != contract.TransferCommitted || again.Reason != "" || again.Message != "" {
		t.Fatalf("a second decision: Decide = %+v, %v; want the first, committed", again, err)
	}
	if got, _ := s.Log.Get(ctx, "t1"); got.Outcome != contract.TransferCommitted {
		t.Fatalf("after a second decision the log says %s", got.Outcome)
	}
	if _, err := s.Log.Decide(ctx, "nothing", transfer.Decision{Outcome: contract.TransferAborted}); !errors.Is(err, transfer.ErrNotFound) {
		t.Fatalf("Decide of no transfer = %v, want ErrNotFound", err)
	}
}

func acknowledgements(t *testing.T, s Stores) {
	ctx := context.Background()
	committed(t, s.Log, "t1", "alice", "bob", 100)
	if err := s.Log.Acked(ctx, "t1", true, false, time.Hour); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		got, err := s.Log.Get(ctx, "t1")
		if err != nil || !got.DebitAcked || got.CreditAcked || got.State != contract.TransferCommitted {
			return fmt.Errorf("after the debit's acknowledgement: %+v, %v; want the debit acknowledged, still committed", got, err)
		}
		return nil
	})
	if due, err := s.Log.ClaimResends(ctx, 10, time.Hour); err != nil || len(due) != 0 {
		t.Fatalf("ClaimResends = %d transfers, %v; want none before the backoff", len(due), err)
	}
	if err := s.Log.Acked(ctx, "t1", false, true, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		got, err := s.Log.Get(ctx, "t1")
		if err != nil || !got.DebitAcked || !got.CreditAcked || got.State != transfer.Done || got.Outcome != contract.TransferCommitted {
			return fmt.Errorf("after both acknowledgements: %+v, %v; want done, committed", got, err)
		}
		return nil
	})
	if pending, err := s.Log.Pending(ctx, 10); err != nil || len(pending) != 0 {
		t.Fatalf("Pending = %d, %v; want nothing once done", len(pending), err)
	}
	if due, err := s.Log.ClaimResends(ctx, 10, time.Hour); err != nil || len(due) != 0 {
		t.Fatalf("ClaimResends = %d, %v; want none once done", len(due), err)
	}
}

func dueResends(t *testing.T, s Stores) {
	ctx := context.Background()
	committed(t, s.Log, "t1", "alice", "bob", 100)
	committed(t, s.Log, "t2", "alice", "carol", 100)
	if _, _, err := s.Log.Begin(ctx, newTransfer("t3", "alice", "r-t3", "dave")); err != nil {
		t.Fatal(err)
	}
	one, err := s.Log.ClaimResends(ctx, 1, time.Hour)
	if err != nil || len(one) != 1 || one[0].Resends != 1 {
		t.Fatalf("ClaimResends(limit 1) = %+v, %v; want one transfer, its first re-send", one, err)
	}
	rest, err := s.Log.ClaimResends(ctx, 10, time.Hour)
	if err != nil || len(rest) != 1 || rest[0].ID == one[0].ID || rest[0].Resends != 1 {
		t.Fatalf("ClaimResends = %+v, %v; want the other decided transfer only (the preparing one is never due)", rest, err)
	}
	if again, err := s.Log.ClaimResends(ctx, 10, time.Hour); err != nil || len(again) != 0 {
		t.Fatalf("ClaimResends within the lease = %d, %v; want none", len(again), err)
	}
}

func stuck(t *testing.T, s Stores) {
	ctx := context.Background()
	if _, _, err := s.Log.Begin(ctx, newTransfer("t1", "alice", "r-1", "bob")); err != nil {
		t.Fatal(err)
	}
	committed(t, s.Log, "t2", "alice", "carol", 100)
	if got, err := s.Log.Stuck(ctx, time.Now().Add(-time.Hour), 10); err != nil || len(got) != 0 {
		t.Fatalf("Stuck(an hour ago) = %d, %v; want none", len(got), err)
	}
	got, err := s.Log.Stuck(ctx, time.Now().Add(time.Hour), 10)
	if err != nil || len(got) != 1 || got[0].ID != "t1" {
		t.Fatalf("Stuck(in an hour) = %+v, %v; want t1, the one preparing", got, err)
	}
	pending, err := s.Log.Pending(ctx, 10)
	if err != nil || len(pending) != 2 || pending[0].ID != "t1" || pending[1].ID != "t2" {
		t.Fatalf("Pending = %+v, %v; want t1 then t2, oldest first", pending, err)
	}
}

// refund logs a refund of request id request from shop of minor units of original id.
func refund(s transfer.Store, id, request, original string, amount string) (transfer.Transfer, bool, error) {
	r := transfer.RefundRequest{From: "shop", RequestID: request, Fingerprint: []byte(amount), Original: transfer.Original{TransferID: original}, Amount: amount}
	return s.LogRefund(context.Background(), transfer.Transfer{ID: id, From: r.From, RequestID: r.RequestID, Fingerprint: r.Fingerprint}, r.Original,
		func(o transfer.Transfer, refunded int64) (transfer.Transfer, error) {
			t, err := transfer.NewRefund(o, refunded, r)
			t.ID = id
			return t, err
		})
}

func refundsCapped(t *testing.T, s Stores) {
	ctx := context.Background()
	committed(t, s.Log, "t1", "alice", "shop", 10000)
	// Eight refunds of 25.00 race for 100.00: four fit.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var logged []string
	for i := range 8 {
		wg.Go(func() {
			rec, created, err := refund(s.Log, fmt.Sprint("rf", i), fmt.Sprint("rf-", i), "t1", "25.00")
			switch {
			case err == nil && created:
				mu.Lock()
				logged = append(logged, rec.ID)
				mu.Unlock()
			case !errors.Is(err, transfer.ErrRefundExceeds):
				t.Errorf("refund %d: %v, want logged or ErrRefundExceeds", i, err)
			}
		})
	}
	wg.Wait()
	if len(logged) != 4 {
		t.Fatalf("%d racing refunds of 25.00 of 100.00 were logged, want 4", len(logged))
	}
	if n, err := s.Log.Refunded(ctx, "t1"); err != nil || n != 0 {
		t.Fatalf("Refunded = %d, %v; want 0 while none has committed", n, err)
	}
	rec, err := s.Log.Get(ctx, logged[0])
	if err != nil || rec.RefundOf != "t1" || rec.From != "shop" || rec.To != "alice" || rec.Currency != "EUR" || rec.AmountMinor != 2500 || rec.State != contract.TransferPreparing {
		t.Fatalf("a refund as logged: %+v, %v", rec, err)
	}
	// An aborted refund gives its amount back; committed ones are what Refunded sums.
	if _, err := s.Log.Decide(ctx, logged[0], transfer.Decision{Outcome: contract.TransferAborted, Reason: contract.CodeTimeout}); err != nil {
		t.Fatal(err)
	}
	for _, id := range logged[1:] {
		if _, err := s.Log.Decide(ctx, id, transfer.Decision{Outcome: contract.TransferCommitted, Currency: "EUR", AmountMinor: 2500}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.Log.Refunded(ctx, "t1"); err != nil || n != 7500 {
		t.Fatalf("Refunded = %d, %v; want 7500", n, err)
	}
	if _, created, err := refund(s.Log, "rf9", "rf-9", "t1", "25.01"); !errors.Is(err, transfer.ErrRefundExceeds) || created {
		t.Fatalf("a refund above what is left: %v, %v; want ErrRefundExceeds", created, err)
	}
	if rec, created, err := refund(s.Log, "rf10", "rf-10", "t1", "25.00"); err != nil || !created || rec.AmountMinor != 2500 {
		t.Fatalf("a refund of exactly what is left: %+v, %v, %v", rec, created, err)
	}
	// A retry is answered even with nothing left; another body with its id is a conflict.
	if rec, created, err := refund(s.Log, "rf11", "rf-10", "t1", "25.00"); err != nil || created || rec.ID != "rf10" {
		t.Fatalf("a retry: %s, %v, %v; want rf10, not created", rec.ID, created, err)
	}
	if _, _, err := refund(s.Log, "rf12", "rf-10", "t1", "1.00"); !errors.Is(err, transfer.ErrConflict) {
		t.Fatalf("another body with a refund's id: %v, want ErrConflict", err)
	}
	if _, _, err := refund(s.Log, "rf13", "rf-13", "nothing", "1.00"); !errors.Is(err, transfer.ErrNotFound) {
		t.Fatalf("a refund of no transfer: %v, want ErrNotFound", err)
	}
	// The original named by its payer and request id, as a status names it.
	r := transfer.RefundRequest{From: "shop", RequestID: "rf-14", Original: transfer.Original{From: "alice", RequestID: "r-t1"}}
	_, _, err = s.Log.LogRefund(ctx, transfer.Transfer{ID: "rf14", From: "shop", RequestID: "rf-14"}, r.Original,
		func(o transfer.Transfer, refunded int64) (transfer.Transfer, error) {
			if o.ID != "t1" || refunded != 10000 {
				return transfer.Transfer{}, fmt.Errorf("build got %s with %d refunded, want t1 with 10000", o.ID, refunded)
			}
			return transfer.NewRefund(o, refunded, r)
		})
	if !errors.Is(err, transfer.ErrRefundExceeds) {
		t.Fatalf("a refund of a fully refunded transfer named by its request: %v, want ErrRefundExceeds", err)
	}
}

func payroll(id, request string, fingerprint byte) transfer.Payment {
	return transfer.Payment{ID: id, RequestID: request, Fingerprint: []byte{fingerprint}, Description: "payroll", Currency: "EUR", AmountMinor: 300,
		State: contract.TransferPreparing, Legs: []transfer.PaymentLeg{
			{Name: "debit.1", Account: "boss", Side: contract.SideDebit, Currency: "EUR", Amount: "3.00", AmountMinor: 300},
			{Name: "credit.2", Account: "ann", Side: contract.SideCredit, Currency: "EUR", Amount: "1.00", AmountMinor: 100},
			{Name: "credit.3", Account: "ben", Side: contract.SideCredit, Currency: "EUR", Amount: "2.00", AmountMinor: 200},
		}}
}

func paymentsOnce(t *testing.T, s Stores) {
	ctx := context.Background()
	p, created, err := s.Log.BeginPayment(ctx, payroll("p1", "p-1", 1))
	if err != nil || !created || p.ID != "p1" || p.State != contract.TransferPreparing || len(p.Legs) != 3 || p.Legs[2] != payroll("", "", 0).Legs[2] || p.CreatedAt.IsZero() {
		t.Fatalf("BeginPayment = %+v, %v, %v", p, created, err)
	}
	if p, created, err := s.Log.BeginPayment(ctx, payroll("p2", "p-1", 1)); err != nil || created || p.ID != "p1" {
		t.Fatalf("a retry: BeginPayment = %s, %v, %v; want p1, not created", p.ID, created, err)
	}
	if _, created, err := s.Log.BeginPayment(ctx, payroll("p3", "p-1", 2)); !errors.Is(err, transfer.ErrConflict) || created {
		t.Fatalf("another body: BeginPayment = %v, %v; want ErrConflict", created, err)
	}
	if got, err := s.Log.StuckPayments(ctx, time.Now().Add(time.Hour), 10); err != nil || len(got) != 1 || got[0].ID != "p1" {
		t.Fatalf("StuckPayments(in an hour) = %d, %v; want p1", len(got), err)
	}
	if got, err := s.Log.StuckPayments(ctx, time.Now().Add(-time.Hour), 10); err != nil || len(got) != 0 {
		t.Fatalf("StuckPayments(an hour ago) = %d, %v; want none", len(got), err)
	}
	d := transfer.PaymentDecision{Outcome: contract.TransferAborted, Reason: contract.CodeInsufficient, Message: "m", Votes: []string{"no:" + string(contract.CodeInsufficient), "yes", "yes"}}
	p, err = s.Log.DecidePayment(ctx, "p1", d)
	if err != nil || p.Outcome != contract.TransferAborted || p.Reason != contract.CodeInsufficient || p.Legs[0].Vote != "no:"+string(contract.CodeInsufficient) || p.Legs[1].Vote != "yes" || p.DecidedAt == nil {
		t.Fatalf("DecidePayment = %+v, %v", p, err)
	}
	if p, err = s.Log.DecidePayment(ctx, "p1", transfer.PaymentDecision{Outcome: contract.TransferCommitted, Votes: []string{"yes", "yes", "yes"}}); err != nil ||
		p.Outcome != contract.TransferAborted || p.Legs[0].Vote != "no:"+string(contract.CodeInsufficient) {
		t.Fatalf("a second decision: %+v, %v; want the first kept", p, err)
	}
	due, err := s.Log.ClaimPaymentResends(ctx, 10, time.Hour)
	if err != nil || len(due) != 1 || due[0].ID != "p1" || due[0].Resends != 1 {
		t.Fatalf("ClaimPaymentResends = %+v, %v; want p1 due", due, err)
	}
	if due, err := s.Log.ClaimPaymentResends(ctx, 10, time.Hour); err != nil || len(due) != 0 {
		t.Fatalf("ClaimPaymentResends within the lease = %d, %v; want none", len(due), err)
	}
	if err := s.Log.AckedPayment(ctx, "p1", []int{1, 3}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if p, _ = s.Log.GetPayment(ctx, "p1"); p.State != contract.TransferAborted || !p.Legs[0].Acked || p.Legs[1].Acked || !p.Legs[2].Acked {
		t.Fatalf("after two legs' acknowledgements: %+v; want aborted, legs 1 and 3 acknowledged", p)
	}
	if pending, err := s.Log.PendingPayments(ctx, 10); err != nil || len(pending) != 1 {
		t.Fatalf("PendingPayments = %d, %v; want p1", len(pending), err)
	}
	if err := s.Log.AckedPayment(ctx, "p1", []int{2}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if p, _ = s.Log.PaymentByRequest(ctx, "p-1"); p.ID != "p1" || p.State != transfer.Done || p.Outcome != contract.TransferAborted {
		t.Fatalf("after every leg's acknowledgement: %+v; want done, aborted", p)
	}
	if pending, err := s.Log.PendingPayments(ctx, 10); err != nil || len(pending) != 0 {
		t.Fatalf("PendingPayments = %d, %v; want none once done", len(pending), err)
	}
	if _, err := s.Log.GetPayment(ctx, "nothing"); !errors.Is(err, transfer.ErrNotFound) {
		t.Fatalf("GetPayment of none = %v, want ErrNotFound", err)
	}
	if _, err := s.Log.DecidePayment(ctx, "nothing", d); !errors.Is(err, transfer.ErrNotFound) {
		t.Fatalf("DecidePayment of none = %v, want ErrNotFound", err)
	}
}

// at is a moment that every store keeps exactly (Postgres keeps microseconds).
func at(d time.Duration) time.Time {
	return time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).Add(d)
}

func rates(t *testing.T, s Stores) {
	ctx := context.Background()
	set := func(id, base, quote, rate string, from time.Time, fingerprint byte) (transfer.Rate, error) {
		return s.Log.SetRate(ctx, transfer.Rate{RequestID: id, Fingerprint: []byte{fingerprint}, Base: base, Quote: quote, Rate: rate, ValidFrom: from, SetBy: "ops"})
	}
	for _, r := range []struct {
		id, base, quote, rate string
		from                  time.Time
	}{
		{"r1", "EUR", "JPY", "160", at(0)},
		{"r2", "EUR", "JPY", "162.5", at(time.Hour)},
		{"r3", "EUR", "USD", "1.08", at(0)},
	} {
		rec, err := set(r.id, r.base, r.quote, r.rate, r.from, 1)
		if err != nil || rec.Rate != r.rate || !rec.ValidFrom.Equal(r.from) || rec.SetAt.IsZero() || rec.SetBy != "ops" {
			t.Fatalf("SetRate %s = %+v, %v", r.id, rec, err)
		}
	}
	if rec, err := set("r2", "EUR", "JPY", "162.5", at(time.Hour), 1); err != nil || rec.Rate != "162.5" {
		t.Fatalf("a retry: SetRate = %+v, %v", rec, err)
	}
	if _, err := set("r2", "EUR", "JPY", "170", at(time.Hour), 2); !errors.Is(err, transfer.ErrConflict) {
		t.Fatalf("another rate with a rate's id: %v, want ErrConflict", err)
	}
	for _, c := range []struct {
		at   time.Time
		want string
	}{{at(30 * time.Minute), "r1"}, {at(time.Hour), "r2"}, {at(2 * time.Hour), "r2"}} {
		if r, err := s.Log.RateInForce(ctx, "EUR", "JPY", c.at); err != nil || r.RequestID != c.want {
			t.Errorf("RateInForce at %s = %s, %v; want %s", c.at.Format(time.Kitchen), r.RequestID, err, c.want)
		}
	}
	if _, err := s.Log.RateInForce(ctx, "EUR", "JPY", at(-time.Second)); !errors.Is(err, transfer.ErrRateNotFound) {
		t.Fatalf("RateInForce before any rate = %v, want ErrRateNotFound", err)
	}
	ids := func(rs []transfer.Rate, err error) string {
		if err != nil {
			return err.Error()
		}
		out := ""
		for _, r := range rs {
			out += r.RequestID + " "
		}
		return out
	}
	if got := ids(s.Log.Rates(ctx, "", "", false, at(30*time.Minute))); got != "r1 r3 " {
		t.Errorf("Rates in force = %q, want r1 r3", got)
	}
	if got := ids(s.Log.Rates(ctx, "EUR", "JPY", true, at(30*time.Minute))); got != "r2 r1 " {
		t.Errorf("Rates' history = %q, want r2 r1 (newest first)", got)
	}
}

func quotes(t *testing.T, s Stores) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := s.Log.SetRate(ctx, transfer.Rate{RequestID: "r1", Fingerprint: []byte{1}, Base: "EUR", Quote: "JPY", Rate: "162.5", ValidFrom: now}); err != nil {
		t.Fatal(err)
	}
	q := transfer.Quote{ID: "Q1", Payer: "alice", RequestID: "q-1", Fingerprint: []byte{1}, Payee: "erin", FromCurrency: "EUR", FromMinor: 1000,
		ToCurrency: "JPY", ToMinor: 1625, Rate: "162.5", RateID: "r1", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	saved, err := s.Log.SaveQuote(ctx, q)
	if err != nil || saved.ID != "Q1" || saved.UsedBy != "" || !saved.ExpiresAt.Equal(q.ExpiresAt) || saved.ToMinor != 1625 {
		t.Fatalf("SaveQuote = %+v, %v", saved, err)
	}
	retry := q
	retry.ID = "Q2"
	if saved, err := s.Log.SaveQuote(ctx, retry); err != nil || saved.ID != "Q1" {
		t.Fatalf("a retry: SaveQuote = %s, %v; want Q1", saved.ID, err)
	}
	retry.Fingerprint = []byte{2}
	if _, err := s.Log.SaveQuote(ctx, retry); !errors.Is(err, transfer.ErrConflict) {
		t.Fatalf("another quote with a quote's id: %v, want ErrConflict", err)
	}
	if _, err := s.Log.QuoteByRequest(ctx, "alice", "q-9"); !errors.Is(err, transfer.ErrUnknownQuote) {
		t.Fatalf("QuoteByRequest of none = %v, want ErrUnknownQuote", err)
	}

	exchange := func(id, request string, fingerprint byte, quote string) (transfer.Payment, bool, error) {
		r := transfer.ExchangeRequest{Payer: "alice", RequestID: request, Fingerprint: []byte{fingerprint}, QuoteRequestID: quote}
		return s.Log.LogExchange(ctx, r, func(q transfer.Quote) (transfer.Payment, error) {
			p, err := transfer.NewExchange(q, r, now)
			p.ID = id
			return p, err
		})
	}
	p, created, err := exchange("P1", "x-1", 1, "q-1")
	if err != nil || !created || p.ID != "P1" || p.Payer != "alice" || len(p.Legs) != 4 || p.State != contract.TransferPreparing {
		t.Fatalf("LogExchange = %+v, %v, %v", p, created, err)
	}
	want := transfer.Exchange{Quote: "Q1", Rate: "162.5", FromAmount: "10.00", FromCurrency: "EUR", ToAmount: "1625", ToCurrency: "JPY"}
	if p.Exchange == nil || *p.Exchange != want || p.Legs[3].Counterparty != "alice" || p.Legs[2].Currency != "JPY" {
		t.Fatalf("the exchange as logged: %+v, legs %+v", p.Exchange, p.Legs)
	}
	if used, _ := s.Log.QuoteByRequest(ctx, "alice", "q-1"); used.UsedBy != "P1" {
		t.Fatalf("the quote is used by %q, want P1", used.UsedBy)
	}
	if p, created, err := exchange("P2", "x-1", 1, "q-1"); err != nil || created || p.ID != "P1" {
		t.Fatalf("a retry: LogExchange = %s, %v, %v; want P1, not created", p.ID, created, err)
	}
	if _, _, err := exchange("P3", "x-1", 2, "q-1"); !errors.Is(err, transfer.ErrConflict) {
		t.Fatalf("another body with an exchange's id: %v, want ErrConflict", err)
	}
	if _, created, err := exchange("P4", "x-2", 1, "q-1"); !errors.Is(err, transfer.ErrQuoteUsed) || created {
		t.Fatalf("a second exchange with the quote: %v, %v; want ErrQuoteUsed", created, err)
	}
	if _, _, err := exchange("P5", "x-3", 1, "q-9"); !errors.Is(err, transfer.ErrUnknownQuote) {
		t.Fatalf("an exchange with no quote: %v, want ErrUnknownQuote", err)
	}
	if _, _, err := s.Log.Begin(ctx, newTransfer("t1", "alice", "x-4", "bob")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := exchange("P6", "x-4", 1, "q-1"); !errors.Is(err, transfer.ErrConflict) {
		t.Fatalf("an exchange with a transfer's request id: %v, want ErrConflict", err)
	}
	if got, err := s.Log.ExchangeByRequest(ctx, "alice", "x-1"); err != nil || got.ID != "P1" || got.Exchange == nil || *got.Exchange != want {
		t.Fatalf("ExchangeByRequest = %+v, %v", got, err)
	}
	if _, err := s.Log.PaymentByRequest(ctx, "x-1"); !errors.Is(err, transfer.ErrNotFound) {
		t.Fatalf("PaymentByRequest of a payer's exchange = %v; want ErrNotFound, an operator's request ids are their own", err)
	}
}

func moves(t *testing.T, s Stores) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	m := contract.Move{ID: "m-1", Account: "alice", From: "account-1", To: "account-2", State: contract.MoveLeaving, CreatedAt: now}
	logged, created, err := s.Moves.Create(ctx, m)
	if err != nil || !created || logged.State != contract.MoveLeaving || !logged.UpdatedAt.Equal(now) {
		t.Fatalf("Create = %+v, %v, %v", logged, created, err)
	}
	if _, created, err := s.Moves.Create(ctx, m); err != nil || created {
		t.Fatalf("a retry: Create = %v, %v; want not created", created, err)
	}
	other := m
	other.Account = "bob"
	if _, _, err := s.Moves.Create(ctx, other); !errors.Is(err, move.ErrConflict) {
		t.Fatalf("another move with a move's id: %v, want ErrConflict", err)
	}
	second := m
	second.ID = "m-2"
	if _, _, err := s.Moves.Create(ctx, second); !errors.Is(err, move.ErrBusy) {
		t.Fatalf("a second move of an account in a move: %v, want ErrBusy", err)
	}
	m.State, m.AfterSeq, m.Copied, m.UpdatedAt = contract.MoveCopying, 7, 3, now.Add(time.Second)
	if logged, err = s.Moves.Save(ctx, m); err != nil || logged.State != contract.MoveCopying || logged.AfterSeq != 7 || logged.Copied != 3 {
		t.Fatalf("Save forward = %+v, %v", logged, err)
	}
	back := m
	back.State = contract.MoveLeaving
	if logged, err = s.Moves.Save(ctx, back); err != nil || logged.State != contract.MoveCopying {
		t.Fatalf("Save backward = %+v, %v; want copying kept", logged, err)
	}
	if got, err := s.Moves.Unfinished(ctx, now.Add(time.Hour)); err != nil || len(got) != 1 || got[0].ID != "m-1" {
		t.Fatalf("Unfinished = %+v, %v; want m-1", got, err)
	}
	if got, err := s.Moves.Unfinished(ctx, now); err != nil || len(got) != 0 {
		t.Fatalf("Unfinished(before its last change) = %+v, %v; want none", got, err)
	}
	m.State = contract.MoveDone
	if _, err := s.Moves.Save(ctx, m); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Moves.Unfinished(ctx, now.Add(time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("Unfinished once done = %+v, %v; want none", got, err)
	}
	if _, created, err := s.Moves.Create(ctx, second); err != nil || !created {
		t.Fatalf("a move of the account once the last is done: %v, %v", created, err)
	}
	if _, err := s.Moves.Get(ctx, "m-9"); !errors.Is(err, move.ErrUnknown) {
		t.Fatalf("Get of no move = %v, want ErrUnknown", err)
	}
}
