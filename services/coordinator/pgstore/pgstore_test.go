package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/contract"
	"tsbank/services/coordinator/pgstore"
	"tsbank/services/coordinator/transfer"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// postgres returns a fresh coordinator database. Under -short, the tier of tests that need
// neither Postgres nor NATS, it skips the test instead.
func postgres(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Postgres; skipped under -short")
	}
	return testkit.Postgres(t, "coordinator")
}

func newStore(t *testing.T) *pgstore.Store { return newLeasedStore(t, time.Second) }

// newLeasedStore is a store on a fresh database whose first re-send of a decision is due lease
// after it.
func newLeasedStore(t *testing.T, lease time.Duration) *pgstore.Store {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pgstore.New(pool, lease, testkit.Logger(t))
}

// Several coordinators may race to decide one transfer (the one driving it, another's recovery,
// a participant's question, an operator): exactly one decision is written, and every racer reads
// that one back.
func TestConcurrentDecisionsWriteExactlyOne(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	for i := range 20 {
		id := fmt.Sprintf("x%d", i)
		if _, _, err := s.Begin(ctx, transfer.Transfer{ID: id, From: "a", RequestID: id, Fingerprint: []byte{1}, To: "b", Amount: "1"}); err != nil {
			t.Fatal(err)
		}
		got := make([]transfer.Transfer, 8)
		var wg sync.WaitGroup
		for k := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := transfer.Decision{Outcome: contract.TransferCommitted, Reason: ""}
				if k%2 == 1 {
					d = transfer.Decision{Outcome: contract.TransferAborted, Reason: contract.Code(fmt.Sprintf("racer-%d", k))}
				}
				rec, err := s.Decide(ctx, id, d)
				if err != nil {
					t.Error(err)
				}
				got[k] = rec
			}()
		}
		wg.Wait()
		for _, rec := range got[1:] {
			if rec.Outcome != got[0].Outcome || rec.Reason != got[0].Reason || rec.DecidedAt == nil || !rec.DecidedAt.Equal(*got[0].DecidedAt) {
				t.Fatalf("%s: racers saw %s/%s and %s/%s", id, got[0].Outcome, got[0].Reason, rec.Outcome, rec.Reason)
			}
		}
	}
}

func TestBeginIsIdempotentPerPayingAccount(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	first, created, err := s.Begin(ctx, transfer.Transfer{ID: "x1", From: "alice", RequestID: "t-1", Fingerprint: []byte("f"), To: "bob", Amount: "1"})
	if err != nil || !created {
		t.Fatalf("begin: %v, created %v", err, created)
	}
	again, created, err := s.Begin(ctx, transfer.Transfer{ID: "x2", From: "alice", RequestID: "t-1", Fingerprint: []byte("f"), To: "bob", Amount: "1"})
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("retry: %+v, created %v, %v; want the first transfer", again, created, err)
	}
	if _, _, err := s.Begin(ctx, transfer.Transfer{ID: "x3", From: "alice", RequestID: "t-1", Fingerprint: []byte("g"), To: "bob", Amount: "2"}); err == nil {
		t.Fatal("same id with another body: no conflict")
	}
	if _, created, err := s.Begin(ctx, transfer.Transfer{ID: "x4", From: "bob", RequestID: "t-1", Fingerprint: []byte("f"), To: "alice", Amount: "1"}); err != nil || !created {
		t.Fatalf("another payer's t-1: %v, created %v", err, created)
	}
}

// Two instances claiming re-sends at once never get the same transfer.
func TestResendClaimsDoNotOverlap(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	for i := range 50 {
		id := fmt.Sprintf("x%d", i)
		if _, _, err := s.Begin(ctx, transfer.Transfer{ID: id, From: "a", RequestID: id, Fingerprint: []byte{1}, To: "b", Amount: "1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decide(ctx, id, transfer.Decision{Outcome: contract.TransferAborted}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		// Decisions become due for re-sending once the deciding instance's lease ends.
		claimed := map[string]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := s.ClaimResends(ctx, 20, time.Hour)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				for _, r := range got {
					claimed[r.ID]++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		for id, n := range claimed {
			if n > 1 {
				t.Fatalf("%s claimed %d times", id, n)
			}
		}
		if len(claimed) == 0 {
			return fmt.Errorf("nothing due yet")
		}
		return nil
	})
}

// decided begins and decides n transfers x0 … x<n-1>, committed.
func decided(t *testing.T, s *pgstore.Store, n int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("x%d", i)
		if _, _, err := s.Begin(context.Background(), transfer.Transfer{ID: id, From: "a", RequestID: id, Fingerprint: []byte{1}, To: "b", Amount: "1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Decide(context.Background(), id, transfer.Decision{Outcome: contract.TransferCommitted}); err != nil {
			t.Fatal(err)
		}
	}
}

// Acknowledgements recorded at once by many transfers, one leg at a time and in duplicate, are
// written in batches with the meaning of one Acked each: done with both legs, otherwise the next
// re-send pushed back by the backoff. Close writes what is still queued.
func TestAcksRecordedConcurrentlyAreAllWrittenByClose(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	const n = 200
	decided(t, s, n)
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprintf("x%d", i)
		wg.Go(func() {
			if i%4 == 0 { // one leg only: not done, re-send due in an hour
				_ = s.Acked(ctx, id, true, false, time.Hour)
				return
			}
			_ = s.Acked(ctx, id, true, false, time.Minute)
			_ = s.Acked(ctx, id, false, true, time.Minute)
			_ = s.Acked(ctx, id, false, true, time.Minute) // a duplicate, as from a recovery
		})
	}
	wg.Wait()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Close(cctx); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		rec, err := s.Get(ctx, fmt.Sprintf("x%d", i))
		if err != nil {
			t.Fatal(err)
		}
		want := transfer.Done
		if i%4 == 0 {
			want = contract.TransferCommitted
		}
		if rec.State != want || !rec.DebitAcked || rec.CreditAcked != (i%4 != 0) {
			t.Fatalf("%s: %s, acked %v/%v; want %s", rec.ID, rec.State, rec.DebitAcked, rec.CreditAcked, want)
		}
	}
	// The one-leg transfers' re-sends are an hour away, so none is due now.
	if due, err := s.ClaimResends(ctx, n, time.Hour); err != nil || len(due) != 0 {
		t.Fatalf("due after acknowledgements: %d, %v", len(due), err)
	}
	// After Close, Acked writes before it returns.
	if err := s.Acked(ctx, "x0", false, true, time.Minute); err != nil {
		t.Fatal(err)
	}
	if rec, err := s.Get(ctx, "x0"); err != nil || rec.State != transfer.Done {
		t.Fatalf("x0 after Close: %s, %v; want done", rec.State, err)
	}
}

// Concurrent Begins share statements, and each still gets its own answer: one created row per
// request id, its retries that row, a reuse with another body a conflict, and a row the database
// refuses (a NUL byte in a text column fails the whole statement) an error for that transfer
// alone, never for the neighbours it was batched with.
func TestConcurrentBeginsEachGetTheirOwnResult(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	const requests, copies = 40, 3
	type result struct {
		rec     transfer.Transfer
		created bool
		err     error
	}
	results := make([][]result, requests)
	conflicts := make([]error, requests)
	bad := make([]error, requests)
	var wg sync.WaitGroup
	for r := range requests {
		results[r] = make([]result, copies)
		req := fmt.Sprintf("r%d", r)
		for k := range copies {
			wg.Go(func() {
				rec, created, err := s.Begin(ctx, transfer.Transfer{ID: fmt.Sprintf("x%d-%d", r, k), From: "alice", RequestID: req, Fingerprint: []byte("f"), To: "bob", Amount: "1"})
				results[r][k] = result{rec, created, err}
			})
		}
		wg.Go(func() {
			_, _, conflicts[r] = s.Begin(ctx, transfer.Transfer{ID: fmt.Sprintf("y%d", r), From: "alice", RequestID: req, Fingerprint: []byte("g"), To: "bob", Amount: "2"})
		})
		wg.Go(func() {
			_, _, bad[r] = s.Begin(ctx, transfer.Transfer{ID: fmt.Sprintf("z%d", r), From: "carol", RequestID: req, Fingerprint: []byte("f"), To: "bob", Amount: "1", Description: "nul\x00"})
		})
	}
	wg.Wait()
	for r := range requests {
		// The first to commit wins: one of the copies, or the other body. Every other Begin of
		// that request id sees the winner's row, or a conflict if its body differs.
		winner, err := s.ByRequest(ctx, "alice", fmt.Sprintf("r%d", r))
		if err != nil {
			t.Fatal(err)
		}
		created := 0
		for k, res := range results[r] {
			switch {
			case string(winner.Fingerprint) == "g":
				if !errors.Is(res.err, transfer.ErrConflict) {
					t.Fatalf("r%d copy %d after the other body won: %v, want a conflict", r, k, res.err)
				}
			case res.err != nil || res.rec.ID != winner.ID:
				t.Fatalf("r%d copy %d: %s, %v; the row is %s", r, k, res.rec.ID, res.err, winner.ID)
			case res.created:
				created++
			}
		}
		if string(winner.Fingerprint) == "f" && (created != 1 || !errors.Is(conflicts[r], transfer.ErrConflict)) {
			t.Fatalf("r%d: created %d times, the other body: %v", r, created, conflicts[r])
		}
		if string(winner.Fingerprint) == "g" && conflicts[r] != nil {
			t.Fatalf("r%d: the other body won but was told %v", r, conflicts[r])
		}
		if bad[r] == nil {
			t.Fatalf("r%d from carol with a NUL: no error", r)
		}
	}
}

// Concurrent Decides share statements, and each still gets its own answer: its transfer as
// decided, ErrNotFound for an unknown one, and an error for a decision the database refuses (a
// NUL byte in its message) alone, never for its neighbours.
func TestConcurrentDecidesEachGetTheirOwnResult(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	const n = 60
	for i := range n {
		id := fmt.Sprintf("x%d", i)
		if _, _, err := s.Begin(ctx, transfer.Transfer{ID: id, From: "a", RequestID: id, Fingerprint: []byte{1}, To: "b", Amount: "1"}); err != nil {
			t.Fatal(err)
		}
	}
	recs := make([]transfer.Transfer, n)
	errs := make([]error, n)
	var unknown error
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := transfer.Decision{Outcome: contract.TransferCommitted, Currency: "EUR", AmountMinor: 100, DebitVote: "yes", CreditVote: "yes"}
			if i%10 == 0 {
				d = transfer.Decision{Outcome: contract.TransferAborted, Reason: "bad", Message: "nul\x00"}
			}
			recs[i], errs[i] = s.Decide(ctx, fmt.Sprintf("x%d", i), d)
		})
	}
	wg.Go(func() { _, unknown = s.Decide(ctx, "nobody", transfer.Decision{Outcome: contract.TransferAborted}) })
	wg.Wait()
	if !errors.Is(unknown, transfer.ErrNotFound) {
		t.Fatalf("decide an unknown transfer: %v, want ErrNotFound", unknown)
	}
	for i := range n {
		if i%10 == 0 {
			if errs[i] == nil {
				t.Fatalf("x%d with a NUL: no error", i)
			}
			continue
		}
		if errs[i] != nil || recs[i].ID != fmt.Sprintf("x%d", i) || recs[i].State != contract.TransferCommitted || recs[i].Currency != "EUR" || recs[i].AmountMinor != 100 {
			t.Fatalf("x%d: %+v, %v", i, recs[i], errs[i])
		}
	}
}
