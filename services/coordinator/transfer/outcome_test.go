package transfer_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/services/coordinator/transfer"
)

// TestOutcomeAnswersAParticipantThatAsks: a participant holding a leg asks the coordinator what
// was decided. A decision is answered as it is; an id the log has never seen is aborted (presumed
// abort: nothing was decided, so nothing can have committed); an undecided one is preparing while
// its coordinator may still decide, and aborted, with the abort logged first, once it cannot.
// Payments share the id space, and are answered alike.
func TestOutcomeAnswersAParticipantThatAsks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		log    func(t *testing.T, b *bank) string // logs what is asked about and returns its id
		after  time.Duration
		want   contract.TransferState
		logged contract.TransferState // the outcome in the log afterwards, "" for none
	}{
		{"a committed transfer is committed", func(t *testing.T, b *bank) string { return b.pay(t, "alice", "bob", "1.00", "r-1").ID },
			0, contract.TransferCommitted, contract.TransferCommitted},
		{"an aborted transfer is aborted", func(t *testing.T, b *bank) string {
			b.nodes.Refuse("alice", contract.CodeInsufficient)
			return b.pay(t, "alice", "bob", "1.00", "r-1").ID
		}, 0, contract.TransferAborted, contract.TransferAborted},
		{"an id never logged is aborted", func(*testing.T, *bank) string { return "nothing" }, 0, contract.TransferAborted, ""},
		{"an undecided transfer is preparing until StuckAfter", func(t *testing.T, b *bank) string { return orphan(t, b) },
			stuckAfter - time.Nanosecond, contract.TransferPreparing, ""},
		{"an undecided transfer is aborted from StuckAfter on, and logged so", func(t *testing.T, b *bank) string { return orphan(t, b) },
			stuckAfter, contract.TransferAborted, contract.TransferAborted},
		{"a committed payment is committed", func(t *testing.T, b *bank) string {
			p, err := b.c.Pay(context.Background(), payrollRequest("p-1"))
			if err != nil {
				t.Fatal(err)
			}
			return p.ID
		}, 0, contract.TransferCommitted, contract.TransferCommitted},
		{"an undecided payment is preparing until StuckAfter", func(t *testing.T, b *bank) string { return orphanPayment(t, b) },
			stuckAfter - time.Nanosecond, contract.TransferPreparing, ""},
		{"an undecided payment is aborted from StuckAfter on, and logged so", func(t *testing.T, b *bank) string { return orphanPayment(t, b) },
			stuckAfter, contract.TransferAborted, contract.TransferAborted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBank(t)
			id := tc.log(t, b)
			b.clock.Advance(tc.after)
			got, err := b.c.Outcome(ctx, id)
			if err != nil || got != tc.want {
				t.Fatalf("Outcome = %q, %v; want %q", got, err, tc.want)
			}
			if tc.logged == "" {
				return
			}
			var logged contract.TransferState
			if rec, err := b.store.Get(ctx, id); err == nil {
				logged = rec.Outcome
			} else if p, err := b.store.GetPayment(ctx, id); err == nil {
				logged = p.Outcome
			}
			if logged != tc.logged {
				t.Fatalf("the log says %q, want %q", logged, tc.logged)
			}
		})
	}
}

// orphan logs a transfer whose coordinator stopped before deciding it, and returns its id.
func orphan(t *testing.T, b *bank) string {
	t.Helper()
	rec, _, err := b.store.Begin(context.Background(), transfer.Transfer{ID: "orphan", From: "alice", RequestID: "r-orphan", To: "bob", Amount: "1.00"})
	if err != nil {
		t.Fatal(err)
	}
	return rec.ID
}

// orphanPayment logs a payment whose coordinator stopped before deciding it, and returns its id.
func orphanPayment(t *testing.T, b *bank) string {
	t.Helper()
	p, _, err := b.store.BeginPayment(context.Background(), payroll(t, b, "p-orphan"))
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// TestResolveAbortsAnUndecidedTransferAndDeliversTheAbort: an operator resolving a transfer
// stuck before its decision aborts it (reason resolved) and tells both legs.
func TestResolveAbortsAnUndecidedTransferAndDeliversTheAbort(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	id := orphan(t, b)
	rec, err := b.c.Resolve(context.Background(), id)
	if err != nil || rec.Outcome != contract.TransferAborted || rec.Reason != "resolved" || rec.State != transfer.Done {
		t.Fatalf("Resolve = %+v, %v; want aborted (resolved) and done", rec, err)
	}
	if got := b.sentTo(id); !slices.Equal(got, []string{"alice:abort", "bob:abort"}) {
		t.Fatalf("decisions sent %v", got)
	}
}

// TestResolveResendsADecisionAndNeverChangesIt: resolving a committed transfer a leg has not
// acknowledged sends the commit again to that leg alone, at once (no backoff), and it stays
// committed: Resolve cannot create or destroy money.
func TestResolveResendsADecisionAndNeverChangesIt(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	b.nodes.Drop("bob", 1)
	id := b.pay(t, "alice", "bob", "1.00", "r-1").ID
	rec, err := b.c.Resolve(context.Background(), id)
	if err != nil || rec.Outcome != contract.TransferCommitted || rec.State != transfer.Done {
		t.Fatalf("Resolve = %+v, %v; want committed and done", rec, err)
	}
	if got := b.sentTo(id); !slices.Equal(got, []string{"alice:commit", "bob:commit", "bob:commit"}) {
		t.Fatalf("decisions sent %v", got)
	}
	if again, err := b.c.Resolve(context.Background(), id); err != nil || again.Outcome != contract.TransferCommitted || len(b.sentTo(id)) != 3 {
		t.Fatalf("Resolve of a done transfer = %+v, %v; want it as it is, nothing sent", again, err)
	}
	if _, err := b.c.Resolve(context.Background(), "nothing"); !errors.Is(err, transfer.ErrNotFound) {
		t.Fatalf("Resolve of no transfer = %v, want ErrNotFound", err)
	}
}

// TestResolvePaymentAbortsAnUndecidedPayment is Resolve for a payment.
func TestResolvePaymentAbortsAnUndecidedPayment(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	id := orphanPayment(t, b)
	p, err := b.c.ResolvePayment(context.Background(), id)
	if err != nil || p.Outcome != contract.TransferAborted || p.Reason != "resolved" || p.State != transfer.Done {
		t.Fatalf("ResolvePayment = %+v, %v; want aborted (resolved) and done", p, err)
	}
	if got := b.sentTo(id); !slices.Equal(got, []string{"alice:abort", "bob:abort", "shop:abort"}) {
		t.Fatalf("decisions sent %v", got)
	}
}

// gets signals every read of a transfer, so a test knows that a retry is waiting.
type gets struct {
	transfer.Store
	read chan string
}

func (s gets) Get(ctx context.Context, id string) (transfer.Transfer, error) {
	select {
	case s.read <- id:
	default:
	}
	return s.Store.Get(ctx, id)
}

// TestARetryWaitsForTheFirstRequestsDecision: a retry of a request whose transfer is still
// preparing prepares nothing itself; it waits for the first request's decision and returns it.
func TestARetryWaitsForTheFirstRequestsDecision(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	read := make(chan string)
	b.c.Store = gets{Store: b.store, read: read}
	ctx := context.Background()
	first := transfer.Transfer{ID: "first", From: "alice", RequestID: "r-1", Fingerprint: []byte("f"), To: "bob", Amount: "1.00"}
	if _, _, err := b.store.Begin(ctx, first); err != nil {
		t.Fatal(err)
	}
	type result struct {
		rec transfer.Transfer
		err error
	}
	done := make(chan result)
	go func() {
		retry := first
		retry.ID = ""
		rec, err := b.c.Transfer(ctx, retry)
		done <- result{rec, err}
	}()
	<-read // the retry is waiting
	if _, err := b.store.Decide(ctx, "first", transfer.Decision{Outcome: contract.TransferCommitted, Currency: "EUR", AmountMinor: 100}); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.rec.ID != "first" || r.rec.Outcome != contract.TransferCommitted {
		t.Fatalf("the retry returned %+v, %v; want the first request's transfer, committed", r.rec, r.err)
	}
	if got := b.nodes.Prepared(); len(got) != 0 {
		t.Fatalf("the retry prepared %v; want nothing", got)
	}
}

// TestARetryWhoseClientGivesUpGetsTheTransferStillPreparing: a retry waits no longer than its
// context, and then returns the transfer undecided, not an error: the client may ask again.
func TestARetryWhoseClientGivesUpGetsTheTransferStillPreparing(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	read := make(chan string)
	b.c.Store = gets{Store: b.store, read: read}
	first := transfer.Transfer{ID: "first", From: "alice", RequestID: "r-1", Fingerprint: []byte("f"), To: "bob", Amount: "1.00"}
	if _, _, err := b.store.Begin(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-read; cancel() }()
	retry := first
	retry.ID = ""
	rec, err := b.c.Transfer(ctx, retry)
	if err != nil || rec.ID != "first" || rec.State != contract.TransferPreparing {
		t.Fatalf("the retry returned %+v, %v; want the first request's transfer, preparing", rec, err)
	}
}
