package transfer_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/services/coordinator/transfer"
	"tsbank/services/coordinator/transfer/memstore"
	"tsbank/services/coordinator/transfer/transfertest"
)

// bank is a coordinator over an in-memory log and fake nodes, on a fake clock: the use cases'
// unit tests drive it without Postgres or NATS.
type bank struct {
	c       *transfer.Coordinator
	store   *memstore.Store
	nodes   *transfertest.Nodes
	clock   *transfertest.Clock
	metrics *transfertest.Metrics
}

const (
	prepareTimeout = time.Second
	stuckAfter     = 2*prepareTimeout + time.Second // Coordinator.StuckAfter's rule, checked by newBank
	sendTimeout    = time.Second
	maxBackoff     = 10 * time.Second
	quoteTTL       = 30 * time.Second
)

// newBank returns a bank with accounts alice, bob and shop in EUR.
func newBank(t *testing.T) *bank {
	t.Helper()
	clock := transfertest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	// The lease of a decision's first re-send is the server's (twice the send timeout).
	store := memstore.New(clock.Now, 2*sendTimeout)
	nodes := transfertest.NewNodes()
	nodes.Open("EUR", "alice", "bob", "shop")
	metrics := transfertest.NewMetrics()
	var ids atomic.Int64
	c := &transfer.Coordinator{Store: store, Legs: nodes, Log: slog.New(slog.DiscardHandler), Metrics: metrics,
		NewID: func() string { return fmt.Sprint("t", ids.Add(1)) }, Now: clock.Now,
		PrepareTimeout: prepareTimeout, SendTimeout: sendTimeout, MaxBackoff: maxBackoff, QuoteTTL: quoteTTL}
	if c.StuckAfter() != stuckAfter {
		t.Fatalf("StuckAfter is %v, the tests assume %v", c.StuckAfter(), stuckAfter)
	}
	return &bank{c: c, store: store, nodes: nodes, clock: clock, metrics: metrics}
}

// pay runs a transfer of amount from from to to with request id request.
func (b *bank) pay(t *testing.T, from, to, amount, request string) transfer.Transfer {
	t.Helper()
	rec, err := b.c.Transfer(context.Background(), transfer.Transfer{From: from, To: to, Amount: amount, RequestID: request, Fingerprint: []byte(to + amount)})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// get reads transfer id from the log.
func (b *bank) get(t *testing.T, id string) transfer.Transfer {
	t.Helper()
	rec, err := b.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// recover runs one round of recovery and returns how many it aborted and re-sent.
func (b *bank) recover(t *testing.T) (aborted, resent int) {
	t.Helper()
	aborted, resent, err := b.c.Recover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return aborted, resent
}

// sentTo lists the decisions sent about transfer id, as "account:commit" or "account:abort".
func (b *bank) sentTo(id string) []string {
	var out []string
	for _, c := range b.nodes.Sent() {
		if c.ID != id {
			continue
		}
		verb := "abort"
		if c.Commit {
			verb = "commit"
		}
		out = append(out, c.Account+":"+verb)
	}
	slices.Sort(out) // the legs are sent to in parallel
	return out
}

// timedStore advances the clock as a slow log would take time to write.
type timedStore struct {
	transfer.Store
	clock         *transfertest.Clock
	begin, decide time.Duration
}

func (s timedStore) Begin(ctx context.Context, t transfer.Transfer) (transfer.Transfer, bool, error) {
	s.clock.Advance(s.begin)
	return s.Store.Begin(ctx, t)
}

func (s timedStore) Decide(ctx context.Context, id string, d transfer.Decision) (transfer.Transfer, error) {
	s.clock.Advance(s.decide)
	return s.Store.Decide(ctx, id, d)
}

// TestThePhasesAreTimedByTheCoordinatorsClock: the metrics' durations come from Coordinator.Now,
// not from the wall clock, like every other reading of time in the use cases.
func TestThePhasesAreTimedByTheCoordinatorsClock(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	b.c.Store = timedStore{Store: b.store, clock: b.clock, begin: 5 * time.Millisecond, decide: 7 * time.Millisecond}
	if rec := b.pay(t, "alice", "bob", "1.00", "r-1"); rec.Outcome != contract.TransferCommitted {
		t.Fatalf("transfer %+v, want committed", rec)
	}
	for phase, want := range map[string]time.Duration{"log": 5 * time.Millisecond, "prepare": 0, "decide": 7 * time.Millisecond, "commit": 0} {
		if got := b.metrics.Phases(phase); !slices.Equal(got, []time.Duration{want}) {
			t.Errorf("phase %s timed %v, want [%v]", phase, got, want)
		}
	}
}

// TestATransferCommitsAndEveryLegHearsIt is the path every other test departs from.
func TestATransferCommitsAndEveryLegHearsIt(t *testing.T) {
	t.Parallel()
	b := newBank(t)
	rec := b.pay(t, "alice", "bob", "12.50", "r-1")
	if rec.Outcome != contract.TransferCommitted || rec.State != transfer.Done || rec.Currency != "EUR" || rec.AmountMinor != 1250 {
		t.Fatalf("transfer %+v, want committed and done, 1250 EUR", rec)
	}
	if got := b.sentTo(rec.ID); !slices.Equal(got, []string{"alice:commit", "bob:commit"}) {
		t.Fatalf("decisions sent %v", got)
	}
	if got := b.metrics.Outcomes(); !slices.Equal(got, []string{"committed/"}) || b.metrics.InFlightNow() != 0 {
		t.Fatalf("outcomes counted %v, %d in flight; want one commit, none in flight", got, b.metrics.InFlightNow())
	}
	if logged := b.get(t, rec.ID); logged.State != transfer.Done || !logged.DebitAcked || !logged.CreditAcked {
		t.Fatalf("logged %+v, want done", logged)
	}
	if _, err := b.c.Transfer(context.Background(), transfer.Transfer{From: "alice", To: "shop", Amount: "12.50", RequestID: "r-1", Fingerprint: []byte("other")}); !errors.Is(err, transfer.ErrConflict) {
		t.Fatalf("the request id again with another body: %v, want ErrConflict", err)
	}
}
