package pgstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/migrations"
	"tsbank/testkit"
)

// TestThePaymentLegsMigrationKeepsTransferLegsBothWays seeds a transfer's leg under migration 7,
// migrates up to 8 (payment leg names), down and up again: the leg is kept each time; at 8 a
// payment's leg name is taken and a malformed one refused. Down needs the payments' legs gone
// first (they would not fit the narrower check; its file says so).
func TestThePaymentLegsMigrationKeepsTransferLegsBothWays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testkit.Postgres(t, "account")
	to := func(v uint) error { return migrations.To("account", db, v) }
	if err := to(7); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	exec := func(q string) error { _, err := pool.Exec(ctx, q); return err }
	if err := exec(`INSERT INTO accounts (id, currency) VALUES ('alice', 'EUR')`); err != nil {
		t.Fatal(err)
	}
	if err := exec(`INSERT INTO holds (transfer_id, leg, account_id, amount, state) VALUES ('t1', 'debit', 'alice', 100, 'committed')`); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM holds WHERE transfer_id = 't1' AND leg = 'debit'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s: %d transfer legs, %v; want 1", when, n, err)
		}
	}
	if err := to(8); err != nil {
		t.Fatal(err)
	}
	check("after up")
	if err := exec(`INSERT INTO holds (transfer_id, leg, account_id, amount, state) VALUES ('p1', 'debit.16', 'alice', 1, 'aborted')`); err != nil {
		t.Fatalf("a payment's leg: %v", err)
	}
	for _, leg := range []string{"debit.17", "debit.0", "credit.01", "refund"} {
		if err := exec(`INSERT INTO holds (transfer_id, leg, account_id, amount, state) VALUES ('p2', '` + leg + `', 'alice', 1, 'aborted')`); err == nil {
			t.Fatalf("leg %q was inserted", leg)
		}
	}
	if err := exec(`DELETE FROM holds WHERE transfer_id = 'p1'`); err != nil {
		t.Fatal(err)
	}
	if err := to(7); err != nil {
		t.Fatal(err)
	}
	check("after down")
	if err := to(8); err != nil {
		t.Fatal(err)
	}
	check("after up again")
}

// TestTheOutboxTraceMigrationKeepsUnsentRows seeds an unsent outbox row under migration 10 and
// migrates to 11 (the trace column), down and up again: the row is kept each time, with no trace
// context, and at 11 a row takes one.
func TestTheOutboxTraceMigrationKeepsUnsentRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testkit.Postgres(t, "account")
	to := func(v uint) error { return migrations.To("account", db, v) }
	if err := to(10); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	exec := func(q string) error { _, err := pool.Exec(ctx, q); return err }
	if err := exec(`INSERT INTO accounts (id, currency) VALUES ('alice', 'EUR')`); err != nil {
		t.Fatal(err)
	}
	if err := exec(`INSERT INTO outbox (event_id, account_id, subject, payload)
		VALUES ('01a232b5-a83e-7d73-b7c4-e226fc0bf6c3', 'alice', 'bank.outbox.account-1.alice.deposit', '{"type":"deposit"}')`); err != nil {
		t.Fatal(err)
	}
	unsent := func(when string) {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s: %d unsent rows, %v; want 1", when, n, err)
		}
	}
	if err := to(11); err != nil {
		t.Fatal(err)
	}
	unsent("after up")
	var traced bool
	if err := pool.QueryRow(ctx, `SELECT trace IS NOT NULL FROM outbox`).Scan(&traced); err != nil || traced {
		t.Fatalf("an old row's trace: %v, %v; want NULL", traced, err)
	}
	if err := exec(`UPDATE outbox SET trace = '{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}'`); err != nil {
		t.Fatal(err)
	}
	if err := to(10); err != nil {
		t.Fatal(err)
	}
	unsent("after down")
	if err := to(11); err != nil {
		t.Fatal(err)
	}
	unsent("after up again")
}

// TestTheMovesMigrationKeepsTheAccountsAndRefusesToForgetAMove seeds accounts under migration 9,
// one drawn beyond a lowered overdraft limit, migrates to 10 (the move state) and checks the rows,
// that an account arriving drawn beyond its limit may be written (it is the same account) while a
// new one may not, that the way down refuses while an account has moved (an older version would
// serve it here again), and that down and up again keep the rows once none has.
func TestTheMovesMigrationKeepsTheAccountsAndRefusesToForgetAMove(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testkit.Postgres(t, "account")
	to := func(v uint) error { return migrations.To("account", db, v) }
	if err := to(9); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	exec := func(q string) error { _, err := pool.Exec(ctx, q); return err }
	for _, q := range []string{
		`INSERT INTO accounts (id, currency, balance, event_seq) VALUES ('alice', 'EUR', 500, 3)`,
		`INSERT INTO accounts (id, currency, balance, overdraft_limit) VALUES ('bob', 'EUR', 0, 100)`,
		`UPDATE accounts SET balance = -80 WHERE id = 'bob'`,
		`UPDATE accounts SET overdraft_limit = 0 WHERE id = 'bob'`, // lowered below what bob drew
	} {
		if err := exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	check := func(when string) {
		t.Helper()
		var got string
		if err := pool.QueryRow(ctx, `SELECT string_agg(id || ':' || balance || ':' || event_seq || ':' || overdraft_limit, ' ' ORDER BY id) FROM accounts`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != "alice:500:3:0 bob:-80:0:0" {
			t.Fatalf("%s: accounts %s", when, got)
		}
	}
	if err := to(10); err != nil {
		t.Fatal(err)
	}
	check("after up")
	var states string
	if err := pool.QueryRow(ctx, `SELECT string_agg(move_state || '/' || move_id || '/' || move_peer, ',') FROM accounts`).Scan(&states); err != nil || states != "//,//" {
		t.Fatalf("move columns after up: %q, %v", states, err)
	}
	if err := exec(`INSERT INTO accounts (id, currency, balance, move_state, move_id, move_peer) VALUES ('carol', 'EUR', -50, 'arriving', 'm-1', 'account-2')`); err != nil {
		t.Fatalf("an account arriving drawn beyond its limit: %v", err)
	}
	if err := exec(`INSERT INTO accounts (id, currency, balance) VALUES ('dave', 'EUR', -50)`); err == nil {
		t.Fatal("a new account was opened drawn beyond its limit")
	}
	if err := exec(`UPDATE accounts SET move_state = 'gone' WHERE id = 'carol'`); err != nil {
		t.Fatal(err)
	}
	if err := to(9); err == nil {
		t.Fatal("the way down forgot that carol moved away")
	}
	if err := exec(`DELETE FROM accounts WHERE id = 'carol'`); err != nil {
		t.Fatal(err)
	}
	// golang-migrate records the target version, dirty, when a migration fails; this one failed
	// in its first statement and its file rolled back whole, so the schema is still 10, which an
	// operator tells it with `migrate force 10`.
	if err := exec(`UPDATE schema_migrations SET version = 10, dirty = false`); err != nil {
		t.Fatal(err)
	}
	if err := to(9); err != nil {
		t.Fatal(err)
	}
	check("after down")
	if err := to(10); err != nil {
		t.Fatal(err)
	}
	check("after up again")
}

// TestEveryMigrationFromTheFenceOnStepsDownAndUpKeepingTheRows seeds a node at the latest version
// (two accounts, a request's record, a settled leg, two events numbered as the outbox holds them)
// and takes each migration from 3 on down and up again, one at a time: the accounts, records,
// legs and events stay, with their balances and numbers (migration 5 numbers events by counting
// the outbox, so the seed keeps the two in step).
func TestEveryMigrationFromTheFenceOnStepsDownAndUpKeepingTheRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testkit.Postgres(t, "account")
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	var latest uint
	if err := pool.QueryRow(ctx, `SELECT version FROM schema_migrations`).Scan(&latest); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO accounts (id, currency, balance, event_seq) VALUES ('alice', 'EUR', 900, 2), ('bob', 'EUR', 100, 0)`,
		`INSERT INTO requests (account_id, request_id, fingerprint, reply) VALUES ('alice', 'd-1', '\x01', '{}')`,
		`INSERT INTO holds (transfer_id, leg, account_id, amount, state) VALUES ('t-1', 'debit', 'alice', 100, 'committed')`,
		`INSERT INTO outbox (event_id, account_id, subject, payload) VALUES
			('00000000-0000-7000-8000-000000000001', 'alice', 'bank.events.alice.deposit', '{"seq":1}'),
			('00000000-0000-7000-8000-000000000002', 'alice', 'bank.events.alice.transfer_out', '{"seq":2}')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	rows := func() string {
		t.Helper()
		var got string
		if err := pool.QueryRow(ctx, `SELECT
			(SELECT string_agg(id || ':' || balance || ':' || event_seq, ' ' ORDER BY id) FROM accounts) || ' | ' ||
			(SELECT string_agg(account_id || '/' || request_id, ' ') FROM requests) || ' | ' ||
			(SELECT string_agg(transfer_id || '/' || leg || '/' || state, ' ') FROM holds) || ' | ' ||
			(SELECT count(*)::text FROM outbox)`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := rows()
	for v := latest; v >= 3; v-- {
		if err := migrations.To("account", db, v-1); err != nil {
			t.Fatalf("down to %d: %v", v-1, err)
		}
		if v > 5 { // below 5 the accounts have no event numbers to read
			if got := rows(); got != want {
				t.Fatalf("after migration %d down: %s, want %s", v, got, want)
			}
		}
		if err := migrations.To("account", db, latest); err != nil {
			t.Fatalf("up from %d: %v", v-1, err)
		}
		if got := rows(); got != want {
			t.Fatalf("after migration %d down and up: %s, want %s", v, got, want)
		}
	}
}
