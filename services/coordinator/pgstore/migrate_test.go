package pgstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/migrations"
)

// seededAt makes a coordinator database at migration version, with one committed transfer x1
// of 25.00 EUR from alice to bob, and returns a pool on it and a function that migrates it to
// another version.
func seededAt(t *testing.T, version uint) (*pgxpool.Pool, func(uint)) {
	t.Helper()
	ctx := context.Background()
	db := postgres(t)
	to := func(v uint) {
		t.Helper()
		if err := migrations.To("coordinator", db, v); err != nil {
			t.Fatal(err)
		}
	}
	to(version)
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, `INSERT INTO transfers (transfer_id, from_account, request_id, fingerprint, to_account, amount,
		currency, amount_minor, state, outcome) VALUES ('x1', 'alice', 't-1', '\x01', 'bob', '25.00', 'EUR', 2500, 'done', 'committed')`); err != nil {
		t.Fatal(err)
	}
	return pool, to
}

// TestTheRefundsMigrationKeepsTheTransfersBothWays seeds a transfer under migration 1, migrates up
// to 2 (refund_of), down and up again, and checks that the transfer is kept and is no refund.
func TestTheRefundsMigrationKeepsTheTransfersBothWays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, to := seededAt(t, 1)
	check := func(when string, withRefundOf bool) {
		t.Helper()
		q := `SELECT amount_minor, ''::text FROM transfers WHERE transfer_id = 'x1'`
		if withRefundOf {
			q = `SELECT amount_minor, coalesce(refund_of, 'null') FROM transfers WHERE transfer_id = 'x1'`
		}
		var minor int64
		var refundOf string
		if err := pool.QueryRow(ctx, q).Scan(&minor, &refundOf); err != nil || minor != 2500 || (withRefundOf && refundOf != "null") {
			t.Fatalf("%s: amount_minor %d, refund_of %q, %v; want 2500 and no refund", when, minor, refundOf, err)
		}
	}
	to(2)
	check("after up", true)
	if _, err := pool.Exec(ctx, `INSERT INTO transfers (transfer_id, from_account, request_id, fingerprint, to_account, amount, refund_of)
		VALUES ('r1', 'bob', 'rf-1', '\x02', 'alice', '5.00', 'x1')`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO transfers (transfer_id, from_account, request_id, fingerprint, to_account, amount, refund_of)
		VALUES ('r2', 'bob', 'rf-2', '\x03', 'alice', '5.00', 'nothing')`); err == nil {
		t.Fatal("a refund of a transfer not in the log was inserted")
	}
	to(1)
	check("after down", false)
	to(2)
	check("after up again", true)
}

// TestThePaymentsMigrationKeepsTheTransfersBothWays seeds a transfer under migration 2, migrates
// up to 3 (payments, payment_legs), down and up again: the transfer is kept each time, and the
// legs table refuses a leg name that is no payment leg's.
func TestThePaymentsMigrationKeepsTheTransfersBothWays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, to := seededAt(t, 2)
	check := func(when string) {
		t.Helper()
		var minor int64
		if err := pool.QueryRow(ctx, `SELECT amount_minor FROM transfers WHERE transfer_id = 'x1'`).Scan(&minor); err != nil || minor != 2500 {
			t.Fatalf("%s: amount_minor %d, %v; want 2500", when, minor, err)
		}
	}
	to(3)
	check("after up")
	if _, err := pool.Exec(ctx, `INSERT INTO payments (payment_id, request_id, fingerprint, currency, amount_minor) VALUES ('p1', 'p-1', '\x01', 'EUR', 100)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO payment_legs (payment_id, position, leg, account, side, amount, amount_minor)
		VALUES ('p1', 1, 'debit.1', 'alice', 'debit', '1.00', 100)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO payment_legs (payment_id, position, leg, account, side, amount, amount_minor)
		VALUES ('p1', 2, 'credit', 'bob', 'credit', '1.00', 100)`); err == nil {
		t.Fatal("a payment leg named like a transfer's was inserted")
	}
	to(2)
	check("after down")
	to(3)
	check("after up again")
}

// TestTheExchangeMigrationKeepsPaymentsBothWays seeds an operator's payment under migration 3,
// migrates up to 4 (rates, quotes, a currency per leg, request ids per payer), down and up again:
// the payment keeps its legs, each leg gets the payment's currency, and its request id stays
// unique among operators' payments while a payer's may repeat it.
func TestTheExchangeMigrationKeepsPaymentsBothWays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, to := seededAt(t, 3)
	if _, err := pool.Exec(ctx, `INSERT INTO payments (payment_id, request_id, fingerprint, currency, amount_minor) VALUES ('p1', 'p-1', '\x01', 'EUR', 100);
		INSERT INTO payment_legs (payment_id, position, leg, account, side, amount, amount_minor) VALUES
			('p1', 1, 'debit.1', 'alice', 'debit', '1.00', 100), ('p1', 2, 'credit.2', 'bob', 'credit', '1.00', 100)`); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM payment_legs WHERE payment_id = 'p1'`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("%s: %d legs, %v; want 2", when, n, err)
		}
	}
	to(4)
	check("after up")
	var currency string
	if err := pool.QueryRow(ctx, `SELECT string_agg(DISTINCT currency, ',') FROM payment_legs WHERE payment_id = 'p1'`).Scan(&currency); err != nil || currency != "EUR" {
		t.Fatalf("legs' currency %q, %v; want EUR", currency, err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO payments (payment_id, request_id, fingerprint, currency, amount_minor) VALUES ('p2', 'p-1', '\x02', 'EUR', 100)`); err == nil {
		t.Fatal("a second operator's payment with request id p-1 was logged")
	}
	if _, err := pool.Exec(ctx, `INSERT INTO payments (payment_id, payer, request_id, fingerprint, currency, amount_minor) VALUES ('p3', 'alice', 'p-1', '\x03', 'EUR', 100)`); err != nil {
		t.Fatalf("a payer's exchange with another's request id: %v", err)
	}
	to(3)
	check("after down")
	to(4)
	check("after up again")
}
