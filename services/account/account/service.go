package account

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
)

// Key makes a state-changing request idempotent: a retry with the same RequestID and Fingerprint
// gets the stored Result; the same RequestID with another Fingerprint is ErrConflict. Keys are
// scoped to one account, so two customers may both use "d-1".
type Key struct {
	RequestID   string
	Fingerprint []byte
}

// NewKey fingerprints a request from its operation and the fields that give it its meaning.
func NewKey(requestID, op string, fields ...string) Key {
	h := sha256.New()
	for _, f := range append([]string{op}, fields...) {
		fmt.Fprintf(h, "%d:%s;", len(f), f) // length-prefixed, so ("ab","c") != ("a","bc")
	}
	return Key{RequestID: requestID, Fingerprint: h.Sum(nil)}
}

// Replays says whether a stored record, made by a request of fingerprint with key's id, answers
// key's request: it does if the two are the same request; the id reused for another is
// ErrConflict.
func (k Key) Replays(fingerprint []byte) error {
	if !bytes.Equal(fingerprint, k.Fingerprint) {
		return fmt.Errorf("%w: request id %q", ErrConflict, k.RequestID)
	}
	return nil
}

// Result is what a state-changing request did: the account after it and the event it wrote, if
// any. It is stored with the request's Key and returned again to a retry.
type Result struct {
	Account Account
	Event   *Event
}

// Store keeps a node's accounts. Every method that changes state runs in one database
// transaction, records the request's Key in it, and writes the events it returns to the outbox.
type Store interface {
	// Create inserts a new account; ErrExists if the id is taken.
	Create(ctx context.Context, a Account, key Key) (Result, error)
	// Change locks account id, applies fn and saves the account and the event fn returns, as fn
	// left them (the rules number the event). If fn fails, nothing is written.
	Change(ctx context.Context, id string, key Key, fn func(a *Account) (*Event, error)) (Result, error)
	Get(ctx context.Context, id string) (Account, error)
	// List returns up to limit accounts with ids after after, in id order.
	List(ctx context.Context, after string, limit int) ([]Account, error)

	// Legs locks the accounts of keys and reads their legs, then calls apply for each key in
	// order, with its account (nil if it is not on this node) and its leg (nil if unknown) as the
	// earlier calls left them. What apply returns with write set is saved (the account, the leg
	// and the event), all in one transaction; a call that fails changes nothing, and the
	// others still apply. Only a fault of the store is returned.
	Legs(ctx context.Context, keys []LegKey, apply func(i int, a *Account, known *Hold) (h Hold, write bool, ev *Event, err error)) error
	// StaleHolds lists up to limit prepared legs created before before.
	StaleHolds(ctx context.Context, before time.Time, limit int) ([]Hold, error)
}

// Registry is the global registry of account owners.
type Registry interface {
	// Register records node as the owner of id unless another node already is; it returns the
	// owner either way.
	Register(ctx context.Context, id, node string) (owner string, err error)
}

// Service is the use cases of one account node.
type Service struct {
	Node     string
	Store    Store
	Moves    MoveStore // the store's side of moving an account (move.go)
	Registry Registry
	Now      func() time.Time
	NewID    func() string // event ids
	// Changed is called after a transaction that wrote an event commits, to wake the outbox relay.
	Changed func()
}

// now is the time in UTC at the precision Postgres keeps, so that a reply and a later read of the
// same row agree.
func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// Open opens account id on this node. The registry entry is made first and create-only, so two
// nodes racing to open the same id cannot both own it; a retry after a crash between the two steps
// finds this node already registered and completes the open.
//
// An account opens with no overdraft: the limit is the bank's decision (SetLimit).
func (s *Service) Open(ctx context.Context, id, requestID string, c money.Currency) (Result, error) {
	// The fingerprint keeps the "0" that opens fingerprinted when they carried a limit, so a retry
	// of an open made before still gets its first reply instead of a conflict.
	key := NewKey(requestID, "open", c.Code, "0")
	owner, err := s.Registry.Register(ctx, id, s.Node)
	if err != nil {
		return Result{}, fmt.Errorf("register %s: %w", id, err)
	}
	if owner != s.Node {
		return Result{}, fmt.Errorf("%w: %s is owned by node %s", ErrExists, id, owner)
	}
	a := Account{
		ID: id, Node: s.Node, Currency: c, Status: StatusOpen, OpenedAt: s.now(),
	}
	return s.Store.Create(ctx, a, key)
}

// Deposit adds amount, a decimal string in the account's currency, to account id.
func (s *Service) Deposit(ctx context.Context, id, requestID, amount, description string) (Result, error) {
	return s.move(ctx, id, NewKey(requestID, contract.EventDeposit, amount, description), contract.EventDeposit, amount, description,
		func(a *Account, n int64) error { return a.Deposit(n) })
}

// Withdraw takes amount, a decimal string in the account's currency, from account id.
func (s *Service) Withdraw(ctx context.Context, id, requestID, amount, description string) (Result, error) {
	return s.move(ctx, id, NewKey(requestID, contract.EventWithdrawal, amount, description), contract.EventWithdrawal, amount, description,
		func(a *Account, n int64) error { return a.Withdraw(n) })
}

func (s *Service) move(ctx context.Context, id string, key Key, typ, amount, description string,
	apply func(*Account, int64) error) (Result, error) {
	res, err := s.Store.Change(ctx, id, key, func(a *Account) (*Event, error) {
		// The amount can only be checked once the account's currency is known.
		n, err := money.Parse(amount, a.Currency)
		if err != nil {
			return nil, err
		}
		if err := apply(a, n); err != nil {
			return nil, err
		}
		signed := n
		if typ == contract.EventWithdrawal {
			signed = -n
		}
		return a.record(&Event{
			ID: s.NewID(), Type: typ, Account: a.ID, Node: s.Node, Amount: signed,
			Currency: a.Currency.Code, BalanceAfter: a.Balance, Time: s.now(),
			Description: description, RequestID: key.RequestID,
		}), nil
	})
	if err == nil && s.Changed != nil {
		s.Changed()
	}
	return res, err
}

// SetLimit sets the overdraft limit of account id to limit, a decimal string in the account's
// currency ("0.00" removes the overdraft). It writes no event: the balance does not change.
func (s *Service) SetLimit(ctx context.Context, id, requestID, limit string) (Result, error) {
	return s.Store.Change(ctx, id, NewKey(requestID, "limit", limit), func(a *Account) (*Event, error) {
		n, err := money.ParseNonNegative(limit, a.Currency)
		if err != nil {
			return nil, err
		}
		return nil, a.SetOverdraftLimit(n)
	})
}

// Close closes account id if its balance and holds are zero.
func (s *Service) Close(ctx context.Context, id, requestID string) (Result, error) {
	return s.Store.Change(ctx, id, NewKey(requestID, "close"), func(a *Account) (*Event, error) {
		return nil, a.Close(s.now())
	})
}

// Get returns account id; an account that has left this node, or not yet arrived, is not read
// here (ErrMoved, ErrMoving).
func (s *Service) Get(ctx context.Context, id string) (Account, error) {
	a, err := s.Store.Get(ctx, id)
	if err != nil {
		return a, err
	}
	return a, a.served(false)
}

// List returns up to limit accounts after the id after.
func (s *Service) List(ctx context.Context, after string, limit int) ([]Account, error) {
	return s.Store.List(ctx, after, limit)
}

// StaleHolds lists prepared legs older than age, whose decision the node should ask for.
func (s *Service) StaleHolds(ctx context.Context, age time.Duration, limit int) ([]Hold, error) {
	return s.Store.StaleHolds(ctx, s.Now().Add(-age), limit)
}
