package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/account/account"
	"tsbank/services/account/outbox"
	"tsbank/services/account/pgstore"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestAPausedHolderIsRefusedByTheFence plays a take-over on one database: process A writes under
// epoch 5, process B takes over with epoch 9, and A, resumed, can no longer write or take the
// fence back.
func TestAPausedHolderIsRefusedByTheFence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	a, b := pgstore.New(pool, "account-1", outbox.Encode), pgstore.New(pool, "account-1", outbox.Encode)
	if err := a.Fence(ctx, 5, "A"); err != nil {
		t.Fatal(err)
	}
	eur, _ := money.LookupCurrency("EUR")
	if _, err := a.Create(ctx, account.Account{ID: "alice", Currency: eur, Status: account.StatusOpen, OpenedAt: time.Now()},
		account.NewKey("o-1", "open")); err != nil {
		t.Fatal(err)
	}
	deposit := func(s *pgstore.Store, id string) error {
		_, err := s.Change(ctx, "alice", account.NewKey(id, "deposit"), func(acc *account.Account) (*account.Event, error) {
			return nil, acc.Deposit(100)
		})
		return err
	}
	if err := deposit(a, "d-1"); err != nil {
		t.Fatalf("A before the take-over: %v", err)
	}
	if err := b.Fence(ctx, 9, "B"); err != nil {
		t.Fatal(err)
	}
	if err := deposit(a, "d-2"); !errors.Is(err, account.ErrFenced) {
		t.Fatalf("A after the take-over: %v, want ErrFenced", err)
	}
	svcA := &account.Service{Node: "account-1", Store: a, Now: time.Now, NewID: func() string { return "0190a0b0-0000-7000-8000-000000000001" }}
	if _, err := svcA.Prepare(ctx, "alice", "x", contract.LegDebit, "1.00", "bob", ""); !errors.Is(err, account.ErrFenced) {
		t.Fatalf("A prepares after the take-over: %v, want ErrFenced", err)
	}
	if _, err := a.PruneRequests(ctx, 0, 10); !errors.Is(err, account.ErrFenced) {
		t.Fatalf("A prunes idempotency records after the take-over: %v, want ErrFenced", err)
	}
	if err := a.Fence(ctx, 5, "A"); !errors.Is(err, account.ErrFenced) {
		t.Fatalf("A takes the fence back: %v, want ErrFenced", err)
	}
	if err := deposit(b, "d-3"); err != nil {
		t.Fatalf("B: %v", err)
	}
	acc, err := b.Get(ctx, "alice")
	if err != nil || acc.Balance != 200 {
		t.Fatalf("alice = %+v, %v; want the deposits of A before and of B after the take-over", acc, err)
	}
}

// TestATakeOverEndsAPausedHoldersTransaction plays a holder paused in the middle of a write: its
// session sits idle in a transaction that holds the fence's share lock. The new holder takes the
// fence anyway, within about a second, by ending that session; the paused transaction cannot
// commit when its process resumes.
func TestATakeOverEndsAPausedHoldersTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t)
	a, b := pgstore.New(pool, "account-1", outbox.Encode), pgstore.New(pool, "account-1", outbox.Encode)
	if err := a.Fence(ctx, 5, "A"); err != nil {
		t.Fatal(err)
	}
	paused, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer paused.Rollback(ctx)
	if _, err := paused.Exec(ctx, `SELECT tsbank_check_fence(5)`); err != nil {
		t.Fatal(err)
	}

	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := b.Fence(fctx, 9, "B"); err != nil {
		t.Fatalf("take the fence from a paused holder: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the take-over took %v; want about the fence's wait of 0.5 s", took)
	}
	if err := paused.Commit(ctx); err == nil {
		t.Fatal("the paused holder's transaction committed after the take-over")
	}
	var epoch int64
	if err := pool.QueryRow(ctx, `SELECT epoch FROM fence`).Scan(&epoch); err != nil || epoch != 9 {
		t.Fatalf("fence epoch %d, %v; want 9", epoch, err)
	}
}
