// Package customer is the auth service's domain: a customer, the accounts they own, their
// password, the rules of the directory operators change, and what a logged-in customer may do
// on NATS. It knows neither NATS connections nor Postgres: the store is a port.
package customer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Customer is a person who logs in to NATS with a name and a password and owns accounts.
type Customer struct {
	ID        string
	Accounts  []string // sorted; an account belongs to at most one customer
	Disabled  bool     // a disabled customer's next login is refused
	CreatedAt time.Time
	RequestID string // of the add that made the customer, so that a repeated add is answered
}

// Owns reports whether account is one of c's.
func (c Customer) Owns(account string) bool { return slices.Contains(c.Accounts, account) }

// Errors of the directory; natsapi turns them into wire codes.
var (
	ErrNotFound       = errors.New("no such customer")
	ErrExists         = errors.New("the customer exists")
	ErrAccountOwned   = errors.New("the account belongs to another customer")
	ErrConflict       = errors.New("the request id was used for another customer or body")
	ErrBadPassword    = errors.New("unacceptable password")
	ErrBadCredentials = errors.New("bad credentials")
	ErrDisabled       = errors.New("customer disabled")
)

// Store keeps customers and their accounts. Each method is one transaction; the store enforces
// that an account has at most one owner (two operators granting one account at once cannot
// both succeed).
type Store interface {
	// Add creates c with its accounts and password hash: ErrExists if the id is taken,
	// ErrAccountOwned if one of the accounts has an owner.
	Add(ctx context.Context, c Customer, hash []byte) (Customer, error)
	Get(ctx context.Context, id string) (Customer, error)
	// Credentials returns the customer and their password hash, or ErrNotFound.
	Credentials(ctx context.Context, id string) (Customer, []byte, error)
	List(ctx context.Context) ([]Customer, error)
	// Grant gives account to id; it is a no-op if id owns it already, ErrAccountOwned if
	// another customer does.
	Grant(ctx context.Context, id, account string) (Customer, error)
	// Revoke takes account from id; it is a no-op if id does not own it.
	Revoke(ctx context.Context, id, account string) (Customer, error)
	SetPassword(ctx context.Context, id string, hash []byte) (Customer, error)
	// Disable marks id disabled; disabling again keeps the first time.
	Disable(ctx context.Context, id string) (Customer, error)
}

// Directory is the customers' use cases: what operators change and what a login checks. Every
// change applies at the customer's next connection: a connection open now keeps the permissions
// it logged in with, until it closes or its user JWT expires.
type Directory struct {
	Store  Store
	Hasher *Hasher
}

// Add adds customer id with password and accounts. A repeated add (same request id, same
// password, accounts all still the customer's) answers the customer; another body with the
// same request id is ErrConflict; another request for a taken id is ErrExists.
func (d *Directory) Add(ctx context.Context, requestID, id, password string, accounts []string) (Customer, error) {
	if err := CheckPassword(password); err != nil {
		return Customer{}, err
	}
	// An account listed twice is still one account.
	accounts = slices.Compact(slices.Sorted(slices.Values(accounts)))
	hash, err := d.Hasher.Hash(password)
	if err != nil {
		return Customer{}, err
	}
	c, err := d.Store.Add(ctx, Customer{ID: id, Accounts: accounts, RequestID: requestID}, hash)
	if !errors.Is(err, ErrExists) {
		return c, err
	}
	old, oldHash, err := d.Store.Credentials(ctx, id)
	if err != nil {
		return Customer{}, fmt.Errorf("customer %s exists but cannot be read: %w", id, err)
	}
	if old.RequestID != requestID {
		return Customer{}, fmt.Errorf("customer %s: %w", id, ErrExists)
	}
	for _, a := range accounts {
		if !old.Owns(a) {
			return Customer{}, fmt.Errorf("%w: customer %s was added by this request without account %s", ErrConflict, id, a)
		}
	}
	if !d.Hasher.Verify(oldHash, password) {
		return Customer{}, fmt.Errorf("%w: customer %s was added by this request with another password", ErrConflict, id)
	}
	return old, nil
}

// Grant gives account to customer id.
func (d *Directory) Grant(ctx context.Context, id, account string) (Customer, error) {
	return d.Store.Grant(ctx, id, account)
}

// Revoke takes account from customer id.
func (d *Directory) Revoke(ctx context.Context, id, account string) (Customer, error) {
	return d.Store.Revoke(ctx, id, account)
}

// SetPassword replaces customer id's password.
func (d *Directory) SetPassword(ctx context.Context, id, password string) (Customer, error) {
	if err := CheckPassword(password); err != nil {
		return Customer{}, err
	}
	hash, err := d.Hasher.Hash(password)
	if err != nil {
		return Customer{}, err
	}
	return d.Store.SetPassword(ctx, id, hash)
}

// Disable refuses customer id's next logins.
func (d *Directory) Disable(ctx context.Context, id string) (Customer, error) {
	return d.Store.Disable(ctx, id)
}

// Get returns customer id.
func (d *Directory) Get(ctx context.Context, id string) (Customer, error) {
	return d.Store.Get(ctx, id)
}

// List returns every customer, by id.
func (d *Directory) List(ctx context.Context) ([]Customer, error) { return d.Store.List(ctx) }

// Authenticate checks a login: ErrBadCredentials for an unknown name or a wrong password,
// ErrDisabled for a disabled customer who gave the right password. It does one password check
// whatever the outcome, against a stand-in hash for names that do not exist, so the time a
// refusal takes does not tell which names are customers.
func (d *Directory) Authenticate(ctx context.Context, id, password string) (Customer, error) {
	c, hash, err := d.Store.Credentials(ctx, id)
	known := err == nil
	if errors.Is(err, ErrNotFound) {
		hash = d.Hasher.standIn
	} else if err != nil {
		return Customer{}, fmt.Errorf("look up customer: %w", err)
	}
	if !d.Hasher.Verify(hash, password) || !known {
		return Customer{}, ErrBadCredentials
	}
	if c.Disabled {
		return Customer{}, ErrDisabled
	}
	return c, nil
}
