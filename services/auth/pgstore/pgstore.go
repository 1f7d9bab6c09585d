// Package pgstore keeps the customer directory in the auth service's Postgres database
// (tsbank_auth): customers with their password hashes, and which customer owns which account.
package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/services/auth/customer"
)

// Store implements customer.Store.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a store over pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// selectCustomer reads a customer with their accounts, sorted; the password hash is the last
// column, for Credentials.
const selectCustomer = `SELECT c.id, c.created_at, c.disabled_at IS NOT NULL, c.request_id,
		array(SELECT a.account FROM customer_accounts a WHERE a.customer = c.id ORDER BY a.account),
		c.password_hash
	FROM customers c`

func scan(row pgx.Row) (customer.Customer, []byte, error) {
	var c customer.Customer
	var hash string
	err := row.Scan(&c.ID, &c.CreatedAt, &c.Disabled, &c.RequestID, &c.Accounts, &hash)
	return c, []byte(hash), err
}

// Add inserts the customer and their accounts in one transaction.
func (s *Store) Add(ctx context.Context, c customer.Customer, hash []byte) (customer.Customer, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO customers (id, password_hash, request_id) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO NOTHING`, c.ID, string(hash), c.RequestID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return customer.ErrExists
		}
		for _, a := range c.Accounts {
			if err := grant(ctx, tx, c.ID, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return customer.Customer{}, fmt.Errorf("add customer %s: %w", c.ID, err)
	}
	return s.Get(ctx, c.ID)
}

// grant gives account to id in one statement, so two transactions granting one account cannot
// both win: on a conflict the row is touched (and so locked) only when id owns it already, and
// no row comes back when another customer does.
func grant(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id, account string) error {
	var owner string
	err := q.QueryRow(ctx, `INSERT INTO customer_accounts (account, customer) VALUES ($1, $2)
		ON CONFLICT (account) DO UPDATE SET granted_at = customer_accounts.granted_at
			WHERE customer_accounts.customer = EXCLUDED.customer
		RETURNING customer`, account, id).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("account %s: %w", account, customer.ErrAccountOwned)
	}
	return err
}

// Get returns customer id, or customer.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (customer.Customer, error) {
	c, _, err := s.Credentials(ctx, id)
	return c, err
}

// Credentials returns customer id and their password hash, or customer.ErrNotFound.
func (s *Store) Credentials(ctx context.Context, id string) (customer.Customer, []byte, error) {
	c, hash, err := scan(s.pool.QueryRow(ctx, selectCustomer+` WHERE c.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, nil, fmt.Errorf("customer %s: %w", id, customer.ErrNotFound)
	}
	if err != nil {
		return c, nil, fmt.Errorf("read customer %s: %w", id, err)
	}
	return c, hash, nil
}

// List returns every customer, by id.
func (s *Store) List(ctx context.Context) ([]customer.Customer, error) {
	rows, err := s.pool.Query(ctx, selectCustomer+` ORDER BY c.id`)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	defer rows.Close()
	out := []customer.Customer{}
	for rows.Next() {
		c, _, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("read customers: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	return out, nil
}

// Grant gives account to id; the customer row is locked so that the grant cannot interleave
// with a concurrent change of the same customer.
func (s *Store) Grant(ctx context.Context, id, account string) (customer.Customer, error) {
	return s.change(ctx, id, "grant "+account, func(tx pgx.Tx) error { return grant(ctx, tx, id, account) })
}

// Revoke takes account from id, if id owns it.
func (s *Store) Revoke(ctx context.Context, id, account string) (customer.Customer, error) {
	return s.change(ctx, id, "revoke "+account, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM customer_accounts WHERE account = $1 AND customer = $2`, account, id)
		return err
	})
}

// SetPassword replaces id's password hash.
func (s *Store) SetPassword(ctx context.Context, id string, hash []byte) (customer.Customer, error) {
	return s.change(ctx, id, "set password", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE customers SET password_hash = $2 WHERE id = $1`, id, string(hash))
		return err
	})
}

// Disable marks id disabled, keeping the first time it was.
func (s *Store) Disable(ctx context.Context, id string) (customer.Customer, error) {
	return s.change(ctx, id, "disable", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE customers SET disabled_at = coalesce(disabled_at, now()) WHERE id = $1`, id)
		return err
	})
}

// change runs fn in a transaction that holds customer id's row, or returns customer.ErrNotFound,
// and returns the customer as changed.
func (s *Store) change(ctx context.Context, id, what string, fn func(pgx.Tx) error) (customer.Customer, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var found string
		err := tx.QueryRow(ctx, `SELECT id FROM customers WHERE id = $1 FOR UPDATE`, id).Scan(&found)
		if errors.Is(err, pgx.ErrNoRows) {
			return customer.ErrNotFound
		}
		if err != nil {
			return err
		}
		return fn(tx)
	})
	if err != nil {
		return customer.Customer{}, fmt.Errorf("%s for customer %s: %w", what, id, err)
	}
	return s.Get(ctx, id)
}
