package retention_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/contract/money"
	"tsbank/services/account/account"
	"tsbank/services/account/outbox"
	"tsbank/services/account/pgstore"
	"tsbank/services/account/retention"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestRecordsOlderThanTheRetentionAreDeletedInBatches stores seven deposits, makes five of them 31
// days old, and prunes with a retention of 30 days in batches of two: the five go, oldest first
// and three batches' worth, and the two recent ones still answer retries with their first reply.
func TestRecordsOlderThanTheRetentionAreDeletedInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testkit.Postgres(t, "account"))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := pgstore.New(pool, "account-1", outbox.Encode)
	if err := store.Fence(ctx, 1, "test"); err != nil {
		t.Fatal(err)
	}
	eur, _ := money.LookupCurrency("EUR")
	if _, err := store.Create(ctx, account.Account{ID: "alice", Currency: eur, Status: account.StatusOpen, OpenedAt: time.Now()},
		account.NewKey("o-1", "open")); err != nil {
		t.Fatal(err)
	}
	deposit := func(id string) int64 {
		res, err := store.Change(ctx, "alice", account.NewKey(id, "deposit"), func(a *account.Account) (*account.Event, error) {
			return nil, a.Deposit(100)
		})
		if err != nil {
			t.Fatal(err)
		}
		return res.Account.Balance
	}
	for _, id := range []string{"d-1", "d-2", "d-3", "d-4", "d-5", "d-6", "d-7"} {
		deposit(id)
	}
	// o-1 and d-1 … d-4 are the old ones.
	if _, err := pool.Exec(ctx, `UPDATE requests SET created_at = now() - interval '31 days'
		WHERE request_id IN ('o-1', 'd-1', 'd-2', 'd-3', 'd-4')`); err != nil {
		t.Fatal(err)
	}

	var batches []int64
	p := &retention.Pruner{Store: store, Retention: 30 * 24 * time.Hour, Batch: 2, Log: slog.Default(),
		Pruned: func(n int64) { batches = append(batches, n) }}
	n, err := p.Once(ctx)
	if err != nil || n != 5 {
		t.Fatalf("pruned %d, %v; want the 5 old records", n, err)
	}
	if len(batches) != 3 || batches[0] != 2 || batches[1] != 2 || batches[2] != 1 {
		t.Fatalf("batches = %v, want [2 2 1]", batches)
	}
	var left []string
	rows, err := pool.Query(ctx, `SELECT request_id FROM requests ORDER BY request_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		left = append(left, id)
	}
	if rows.Err() != nil || strings.Join(left, " ") != "d-5 d-6 d-7" {
		t.Fatalf("records left = %v, %v; want the recent d-5, d-6, d-7", left, rows.Err())
	}
	if n, err := p.Once(ctx); err != nil || n != 0 {
		t.Fatalf("second round pruned %d, %v; want nothing", n, err)
	}
	// A retry of a kept request is answered from its record; a retry of a pruned one is new.
	if bal := deposit("d-7"); bal != 700 {
		t.Fatalf("balance after retrying d-7 = %d, want 700 (a replay)", bal)
	}
	if bal := deposit("d-1"); bal != 800 {
		t.Fatalf("balance after retrying the pruned d-1 = %d, want 800 (a new deposit)", bal)
	}
}
