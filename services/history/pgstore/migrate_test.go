package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/contract/money"
	"tsbank/migrations"
	"tsbank/services/history/history"
	"tsbank/services/history/pgstore"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestTheAccountsMigrationKeepsTheRowsBothWays seeds transactions under migration 3, migrates up
// to 4 (the accounts table and account_balances over it), down and up again, and checks the rows
// and the view at each step.
func TestTheAccountsMigrationKeepsTheRowsBothWays(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	ctx := context.Background()
	db := testkit.Postgres(t, "history")
	to := func(v uint) {
		t.Helper()
		if err := migrations.To("history", db, v); err != nil {
			t.Fatal(err)
		}
	}
	to(3)
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := pgstore.New(pool)
	eur, _ := money.LookupCurrency("EUR")
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Seeded in the columns of migration 3 (the store writes the columns of the latest one).
	if _, err := pool.Exec(ctx, `INSERT INTO transactions (event_id, account, type, amount, amount_minor, currency,
			balance_after, balance_after_minor, at, node, stream_seq, account_seq) VALUES
		('00000000-0000-7000-8000-000000000001', 'alice', 'deposit', 10.00, 1000, 'EUR', 10.00, 1000, $1, 'account-1', 1, 1),
		('00000000-0000-7000-8000-000000000002', 'alice', 'withdrawal', -2.50, -250, 'EUR', 7.50, 750, $2, 'account-1', 2, 2)`,
		at, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	balances := func() map[string]string {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT account, balance::text FROM account_balances`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			out[a] = b
		}
		return out
	}
	carol := history.Account{ID: "carol", Node: "account-2", Currency: eur, Status: "open", OpenedAt: at}

	to(4)
	if got := balances(); len(got) != 1 || got["alice"] != "7.50" {
		t.Fatalf("after up: %v, want alice at 7.50", got)
	}
	if _, err := store.SaveAccounts(ctx, []history.Account{carol}); err != nil {
		t.Fatal(err)
	}
	if got := balances(); len(got) != 2 || got["alice"] != "7.50" || got["carol"] != "0.00" {
		t.Fatalf("with carol: %v, want alice at 7.50 and carol at 0.00", got)
	}
	to(3)
	if got := balances(); len(got) != 1 || got["alice"] != "7.50" {
		t.Fatalf("after down: %v, want alice at 7.50 only", got)
	}
	to(4)
	if got := balances(); len(got) != 1 || got["alice"] != "7.50" {
		t.Fatalf("after up again: %v, want alice at 7.50", got)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM transactions`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d transactions, %v; want the 2 seeded", n, err)
	}
}

// TestEveryLaterMigrationStepsDownAndUpKeepingTheRows seeds transactions (a deposit and both rows
// of a refunded transfer) at the latest version, then takes each migration from 5 on down and up
// again, one at a time: every row stays, with its amounts and numbers, and the balance at a time
// (migration 5) answers the same after each round.
func TestEveryLaterMigrationStepsDownAndUpKeepingTheRows(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	ctx := context.Background()
	db := testkit.Postgres(t, "history")
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var latest uint
	if err := pool.QueryRow(ctx, `SELECT version FROM schema_migrations`).Scan(&latest); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := pool.Exec(ctx, `INSERT INTO transactions (event_id, account, type, amount, amount_minor, currency,
			balance_after, balance_after_minor, at, node, stream_seq, account_seq, transfer_id, counterparty) VALUES
		('00000000-0000-7000-8000-000000000001', 'alice', 'deposit', 10.00, 1000, 'EUR', 10.00, 1000, $1, 'account-1', 1, 1, '', ''),
		('00000000-0000-7000-8000-000000000002', 'alice', 'transfer_out', -2.50, -250, 'EUR', 7.50, 750, $2, 'account-1', 2, 2, 't-1', 'bob'),
		('00000000-0000-7000-8000-000000000003', 'bob', 'transfer_in', 2.50, 250, 'EUR', 2.50, 250, $2, 'account-2', 3, 1, 't-1', 'alice')`,
		at, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	rows := func() string {
		t.Helper()
		var got string
		if err := pool.QueryRow(ctx, `SELECT string_agg(account || ':' || type || ':' || amount_minor || ':' || balance_after_minor || ':' || account_seq, ' ' ORDER BY stream_seq) FROM transactions`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := rows()
	for v := latest; v >= 5; v-- {
		if err := migrations.To("history", db, v-1); err != nil {
			t.Fatalf("down to %d: %v", v-1, err)
		}
		if got := rows(); got != want {
			t.Fatalf("after migration %d down: %s, want %s", v, got, want)
		}
		if err := migrations.To("history", db, latest); err != nil {
			t.Fatalf("up from %d: %v", v-1, err)
		}
		if got := rows(); got != want {
			t.Fatalf("after migration %d down and up: %s, want %s", v, got, want)
		}
		var balance string
		if err := pool.QueryRow(ctx, `SELECT balance_at('alice', $1)::text`, at.Add(time.Hour)).Scan(&balance); err != nil || balance != "7.50" {
			t.Fatalf("balance_at after migration %d down and up: %q, %v", v, balance, err)
		}
	}
}
