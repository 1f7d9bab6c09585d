package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"tsbank/services/account/account"
)

// TestConcurrentChangesShareTransactionsAndKeepTheirOwnOutcomes sends 60 changes at once to one
// node, so that they are written in shared transactions: deposits into two accounts, each request
// id sent twice (the second gets the first's answer), one id reused for another amount (a
// conflict), and withdrawals that the balance cannot cover (refused, writing nothing). Every
// accepted change is applied once and numbered in turn; the refused ones leave no trace.
func TestConcurrentChangesShareTransactionsAndKeepTheirOwnOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	svc, s := newService(t, pool, "alice", "bob")
	if _, err := svc.Deposit(ctx, "alice", "d-x", "1.00", ""); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	results := map[string][]account.Result{}
	var conflicts, refused, missing int
	run := func(key string, f func() (account.Result, error)) {
		defer wg.Done()
		r, err := f()
		mu.Lock()
		defer mu.Unlock()
		switch {
		case errors.Is(err, account.ErrConflict):
			conflicts++
		case errors.Is(err, account.ErrInsufficientFunds):
			refused++
		case errors.Is(err, account.ErrNotFound):
			missing++
		case err != nil:
			t.Errorf("%s: %v", key, err)
		default:
			results[key] = append(results[key], r)
		}
	}
	for i := range 20 {
		for _, id := range []string{"alice", "bob"} {
			for range 2 { // each request twice
				wg.Add(1)
				go run(id+fmt.Sprint(i), func() (account.Result, error) { return svc.Deposit(ctx, id, fmt.Sprintf("d-%d", i), "1.00", "") })
			}
		}
	}
	for i := range 5 {
		wg.Add(1)
		go run(fmt.Sprint("w", i), func() (account.Result, error) { return svc.Withdraw(ctx, "bob", fmt.Sprintf("w-%d", i), "1000.00", "") })
	}
	wg.Add(2)
	go run("carol", func() (account.Result, error) { return svc.Deposit(ctx, "carol", "d-1", "1.00", "") })
	go run("alice-conflict", func() (account.Result, error) { return svc.Deposit(ctx, "alice", "d-x", "2.00", "") })
	wg.Wait()

	if conflicts != 1 || refused != 5 || missing != 1 {
		t.Fatalf("conflicts %d, refused %d, not found %d; want 1, 5, 1", conflicts, refused, missing)
	}
	for key, rs := range results {
		if len(rs) == 2 && rs[0].Event.ID != rs[1].Event.ID {
			t.Errorf("%s: the two sends got different events %s and %s: applied twice", key, rs[0].Event.ID, rs[1].Event.ID)
		}
	}
	for id, want := range map[string]int{"alice": 21, "bob": 20} {
		a, err := s.Get(ctx, id)
		if err != nil || a.Balance != int64(100*want) || a.EventSeq != int64(want) {
			t.Fatalf("%s = %+v, %v; want %d.00 and %d events", id, a, err, want, want)
		}
		var n, maxSeq int
		if err := pool.QueryRow(ctx, `SELECT count(*), max((payload->>'seq')::int) FROM outbox WHERE account_id = $1`, id).Scan(&n, &maxSeq); err != nil || n != want || maxSeq != want {
			t.Fatalf("%s outbox: %d events, last number %d, %v; want %d numbered 1 to %d", id, n, maxSeq, err, want, want)
		}
	}
}

// TestAChangeWhoseCallerHasGoneIsNotMadeLate: deposits whose callers' deadlines have passed by
// the time their batch is written are not applied (their senders gave up: issue 12's flood had
// deposits applied minutes after their senders stopped waiting); those still awaited are.
func TestAChangeWhoseCallerHasGoneIsNotMadeLate(t *testing.T) {
	t.Parallel()
	pool := newPool(t)
	svc, s := newService(t, pool, "alice")
	ctx := context.Background()
	gone, cancel := context.WithCancel(ctx)
	cancel()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := svc.Deposit(gone, "alice", fmt.Sprintf("gone-%d", i), "1.00", ""); !errors.Is(err, context.Canceled) {
				t.Errorf("a deposit whose caller has gone: %v", err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := svc.Deposit(ctx, "alice", fmt.Sprintf("kept-%d", i), "1.00", ""); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// A last deposit is written after every batch before it: nothing of the gone ones is still
	// queued.
	if _, err := svc.Deposit(ctx, "alice", "last", "1.00", ""); err != nil {
		t.Fatal(err)
	}
	a, err := s.Get(ctx, "alice")
	if err != nil || a.Balance != 5100 || a.EventSeq != 51 {
		t.Fatalf("alice = %+v, %v; want 51.00 in 51 events: only the deposits still awaited", a, err)
	}
}
