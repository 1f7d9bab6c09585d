package pgstore_test

import (
	"context"
	"fmt"
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

// rowCheck is a query of one text value (the rows, aggregated) and the value it must return.
type rowCheck struct{ query, want string }

const (
	transfersRows = `SELECT string_agg(transfer_id || ':' || amount_minor::text, ',' ORDER BY transfer_id) FROM transfers`
	legsRows      = `SELECT string_agg(payment_id || ':' || position, ',' ORDER BY payment_id, position) FROM payment_legs`
	paymentsRows  = `SELECT coalesce(string_agg(payment_id, ',' ORDER BY payment_id), '') FROM payments`
)

// TestEveryMigrationKeepsTheRowsUpDownAndUpAgain is formance's before/after SQL for each of the
// coordinator's migrations after the first: rows seeded under the schema before it (seed, on the
// committed transfer x1 of seededAt), rows only the new schema can hold (rows, once migrated up),
// and what each table holds after up, after down, and after up again. A migration that changes
// existing data (000004 gives every leg its payment's currency, and its down deletes the
// exchanges, which the old schema cannot hold) shows it here; the others show that they keep it.
func TestEveryMigrationKeepsTheRowsUpDownAndUpAgain(t *testing.T) {
	t.Parallel()
	const payment = `INSERT INTO payments (payment_id, request_id, fingerprint, currency, amount_minor) VALUES ('p1', 'p-1', '\x01', 'EUR', 100);
		INSERT INTO payment_legs (payment_id, position, leg, account, side, amount, amount_minor) VALUES
			('p1', 1, 'debit.1', 'alice', 'debit', '1.00', 100), ('p1', 2, 'credit.2', 'bob', 'credit', '1.00', 100)`
	for _, tc := range []struct {
		version           uint
		seed, rows        string
		up, down, upAgain []rowCheck
	}{{
		version: 2, // refund_of
		rows:    `INSERT INTO transfers (transfer_id, from_account, request_id, fingerprint, to_account, amount, amount_minor, refund_of) VALUES ('r1', 'bob', 'rf-1', '\x02', 'alice', '5.00', 500, 'x1')`,
		up:      []rowCheck{{transfersRows, "x1:2500"}, {`SELECT string_agg(transfer_id || ':' || coalesce(refund_of, '-'), ',') FROM transfers`, "x1:-"}},
		// Down keeps a refund as a transfer, and loses its link to the original.
		down:    []rowCheck{{transfersRows, "r1:500,x1:2500"}},
		upAgain: []rowCheck{{`SELECT string_agg(transfer_id || ':' || coalesce(refund_of, '-'), ',' ORDER BY transfer_id) FROM transfers`, "r1:-,x1:-"}},
	}, {
		version: 3, // payments and payment_legs
		rows:    payment,
		up:      []rowCheck{{transfersRows, "x1:2500"}, {paymentsRows, ""}},
		down:    []rowCheck{{transfersRows, "x1:2500"}, {`SELECT (to_regclass('payments') IS NULL)::text`, "true"}},
		upAgain: []rowCheck{{transfersRows, "x1:2500"}, {paymentsRows, ""}},
	}, {
		version: 4, // rates, quotes, a currency per leg, request ids per payer
		seed:    payment,
		rows: `INSERT INTO rates (request_id, fingerprint, base, quote, rate, valid_from) VALUES ('rate-1', '\x01', 'EUR', 'JPY', 162.5, now());
			INSERT INTO payments (payment_id, payer, request_id, fingerprint, currency, amount_minor) VALUES ('p2', 'alice', 'p-1', '\x02', 'EUR', 1000);
			INSERT INTO payment_legs (payment_id, position, leg, account, side, currency, amount, amount_minor) VALUES
				('p2', 1, 'debit.1', 'alice', 'debit', 'EUR', '10.00', 1000), ('p2', 2, 'credit.2', 'fx-EUR', 'credit', 'EUR', '10.00', 1000);
			INSERT INTO quotes (quote_id, payer, request_id, fingerprint, payee, from_currency, from_minor, to_currency, to_minor, rate, rate_id, expires_at, used_by)
				VALUES ('Q1', 'alice', 'q-1', '\x01', 'erin', 'EUR', 1000, 'JPY', 1625, 162.5, 'rate-1', now(), 'p2')`,
		up: []rowCheck{
			{`SELECT string_agg(payment_id || ':' || position || ':' || currency, ',' ORDER BY position) FROM payment_legs`, "p1:1:EUR,p1:2:EUR"},
			{`SELECT string_agg(payment_id || ':' || coalesce(payer, '-'), ',') FROM payments`, "p1:-"},
		},
		// Down deletes the exchanges (a payer's payments, their legs and quotes) and keeps the rest.
		down:    []rowCheck{{paymentsRows, "p1"}, {legsRows, "p1:1,p1:2"}, {`SELECT (to_regclass('quotes') IS NULL)::text`, "true"}},
		upAgain: []rowCheck{{`SELECT string_agg(payment_id || ':' || position || ':' || currency, ',' ORDER BY position) FROM payment_legs`, "p1:1:EUR,p1:2:EUR"}},
	}, {
		version: 5, // moves
		seed:    `INSERT INTO payments (payment_id, request_id, fingerprint, currency, amount_minor) VALUES ('p1', 'p-1', '\x01', 'EUR', 100)`,
		rows:    `INSERT INTO moves (request_id, account, from_node, to_node) VALUES ('m-1', 'alice', 'account-1', 'account-2')`,
		up:      []rowCheck{{transfersRows, "x1:2500"}, {paymentsRows, "p1"}, {`SELECT count(*)::text FROM moves`, "0"}},
		down:    []rowCheck{{transfersRows, "x1:2500"}, {paymentsRows, "p1"}, {`SELECT (to_regclass('moves') IS NULL)::text`, "true"}},
		upAgain: []rowCheck{{transfersRows, "x1:2500"}, {paymentsRows, "p1"}, {`SELECT count(*)::text FROM moves`, "0"}},
	}} {
		t.Run(fmt.Sprintf("migration %d", tc.version), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool, to := seededAt(t, tc.version-1)
			exec := func(sql string) {
				t.Helper()
				if sql == "" {
					return
				}
				if _, err := pool.Exec(ctx, sql); err != nil {
					t.Fatal(err)
				}
			}
			check := func(when string, checks []rowCheck) {
				t.Helper()
				for _, c := range checks {
					var got *string // NULL: no rows to aggregate
					if err := pool.QueryRow(ctx, c.query).Scan(&got); err != nil {
						t.Fatalf("%s: %s: %v", when, c.query, err)
					}
					switch {
					case got == nil:
						t.Errorf("%s: %s = NULL, want %q", when, c.query, c.want)
					case *got != c.want:
						t.Errorf("%s: %s = %q, want %q", when, c.query, *got, c.want)
					}
				}
			}
			exec(tc.seed)
			to(tc.version)
			check("after up", tc.up)
			exec(tc.rows)
			to(tc.version - 1)
			check("after down", tc.down)
			to(tc.version)
			check("after up again", tc.upAgain)
		})
	}
}
