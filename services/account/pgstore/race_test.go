package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"tsbank/contract"
	"tsbank/services/account/account"
)

// TestRacingDecisionsOnOneLegApplyOnce is the regression test of a bug the coordinator's SIGKILL
// test found: the coordinator's recovery and the node's own resolver aborted the same leg at the
// same moment, and the second abort, which had waited for the account's lock, still saw the leg as
// prepared (its snapshot predated the first abort) and released it again. Every pair of racing
// decisions must now apply once: the books end with nothing pending and every decision recorded.
func TestRacingDecisionsOnOneLegApplyOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	svc, s := newService(t, pool, "x")
	const legs = 40
	for i := range legs {
		if h, err := svc.Prepare(ctx, "x", fmt.Sprintf("t%d", i), contract.LegCredit, "1.00", "y", ""); err != nil || h.State != contract.HoldPrepared {
			t.Fatalf("prepare: %+v, %v", h, err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	committed := 0
	for i := range legs {
		id := fmt.Sprintf("t%d", i)
		// Even legs: two aborts race. Odd legs: a commit races an abort; one wins, the other is refused.
		for k := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				commit := i%2 == 1 && k == 0
				decide := svc.Abort
				if commit {
					decide = svc.Commit
				}
				_, err := decide(ctx, "x", id, contract.LegCredit)
				switch {
				case err == nil && commit:
					mu.Lock()
					committed++
					mu.Unlock()
				case err == nil, errors.Is(err, account.ErrDecisionConflict):
				default:
					t.Errorf("decide %s: %v", id, err)
				}
			}()
		}
	}
	wg.Wait()
	a, err := s.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if a.PendingIn != 0 || a.Balance != int64(100*committed) {
		t.Fatalf("pending_in %d, balance %d after %d commits; want 0 and %d", a.PendingIn, a.Balance, committed, 100*committed)
	}
}
