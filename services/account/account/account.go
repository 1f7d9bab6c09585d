// Package account holds the rules of an account node: what an account is, when money may enter or
// leave it, when it may close, the state machine of a transfer's leg, the numbering of each
// account's events, and the idempotent use cases built on those rules (Service), which take a
// clock. Storage and the registry are ports (Store, MoveStore, Registry) implemented by pgstore
// and registry, and in memory by memstore; the wire format is natsapi's and outbox's.
package account

import (
	"errors"
	"fmt"
	"time"

	"tsbank/contract/money"
)

// Status of an account.
const (
	StatusOpen   = "open"
	StatusClosed = "closed"
)

// Errors of the rules. natsapi maps each to a wire code.
var (
	ErrNotFound          = errors.New("account not found")
	ErrExists            = errors.New("account already exists")
	ErrClosed            = errors.New("account is closed")
	ErrNotEmpty          = errors.New("account balance or holds are not zero")
	ErrInsufficientFunds = errors.New("insufficient funds")
	ErrConflict          = errors.New("request id reused with a different request")
	ErrTooLarge          = errors.New("balance would exceed the maximum")
	// ErrFenced means this process no longer holds its node's lease: another one took over, and
	// this one may not write again.
	ErrFenced = errors.New("this process lost the node's lease")
)

// Account is one account as its node stores it. Amounts are minor units of Currency.
type Account struct {
	ID             string
	Node           string
	Currency       money.Currency
	Balance        int64
	OnHold         int64 // outgoing transfer legs prepared and not yet decided
	PendingIn      int64 // incoming transfer legs prepared and not yet decided
	OverdraftLimit int64
	Status         string
	OpenedAt       time.Time
	ClosedAt       *time.Time
	// EventSeq counts the events that changed the balance: the newest one's Seq. The history's
	// rows of the account up to EventSeq add up to Balance (reconciliation).
	EventSeq int64
	// Move is the account's last move on this node (move.go).
	Move Move
}

// Available is what the account could pay now: the ledger balance less the holds, plus the
// overdraft limit; never below zero, since nothing can be spent from an account drawn beyond a
// lowered limit. It is the figure a withdrawal and a debit leg are checked against.
func (a *Account) Available() int64 { return max(a.Balance-a.OnHold+a.OverdraftLimit, 0) }

// record numbers ev as the account's next event. A store changes an account under its lock, one
// change after another, so the numbers of its events are 1, 2, 3… in commit order, with no gap:
// the history's rows of the account up to EventSeq add up to Balance (docs/adr/0018).
func (a *Account) record(ev *Event) *Event {
	a.EventSeq++
	ev.Seq = a.EventSeq
	return ev
}

// tooLarge is the refusal of money that would take the balance past money.MaxMinor; it names the
// maximum, as every "too large" does.
func (a *Account) tooLarge() error {
	return fmt.Errorf("%w of %s %s: %s", ErrTooLarge, money.Format(money.MaxMinor, a.Currency), a.Currency.Code, a.ID)
}

// insufficient is the refusal of amount: what is available, and, with an overdraft, what it is
// made of, so that the figure is not read as the balance.
func (a *Account) insufficient() error {
	f := func(n int64) string { return money.Format(n, a.Currency) }
	if a.OverdraftLimit == 0 {
		return fmt.Errorf("%w: %s has %s available", ErrInsufficientFunds, a.ID, f(a.Available()))
	}
	return fmt.Errorf("%w: %s has %s available (balance %s, on hold %s, overdraft limit %s)",
		ErrInsufficientFunds, a.ID, f(a.Available()), f(a.Balance), f(a.OnHold), f(a.OverdraftLimit))
}

// checkOpen refuses new work on an account that is closed, or that this node does not serve
// because of a move.
func (a *Account) checkOpen() error {
	if err := a.served(true); err != nil {
		return err
	}
	if a.Status != StatusOpen {
		return fmt.Errorf("%w: %s", ErrClosed, a.ID)
	}
	return nil
}

// Deposit adds amount (> 0) to the balance.
func (a *Account) Deposit(amount int64) error {
	if err := a.checkOpen(); err != nil {
		return err
	}
	if a.Balance+a.PendingIn > money.MaxMinor-amount {
		return a.tooLarge()
	}
	a.Balance += amount
	return nil
}

// Withdraw takes amount (> 0) from the balance if the available balance (the overdraft limit
// included) covers it.
func (a *Account) Withdraw(amount int64) error {
	if err := a.checkOpen(); err != nil {
		return err
	}
	if a.Available() < amount {
		return a.insufficient()
	}
	a.Balance -= amount
	return nil
}

// SetOverdraftLimit sets how far below zero the available balance may go (limit >= 0). A limit
// below what the account has already drawn is allowed, as a bank lowers a credit line: nothing is
// taken back, and the account cannot draw further (Withdraw and a debit leg's Prepare refuse) until
// it is within the limit again.
func (a *Account) SetOverdraftLimit(limit int64) error {
	if err := a.checkOpen(); err != nil {
		return err
	}
	a.OverdraftLimit = limit
	return nil
}

// Close closes an open account whose balance and holds are zero. Its id stays registered to its
// node, so it can never be reused for another customer.
func (a *Account) Close(now time.Time) error {
	if err := a.checkOpen(); err != nil {
		return err
	}
	if a.Balance != 0 || a.OnHold != 0 || a.PendingIn != 0 {
		return fmt.Errorf("%w: %s has balance %s and %s on hold", ErrNotEmpty, a.ID,
			money.Format(a.Balance, a.Currency), money.Format(a.OnHold, a.Currency))
	}
	a.Status = StatusClosed
	a.ClosedAt = &now
	return nil
}
