package account

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
)

var (
	// ErrUnknownTransfer is a commit for a leg this node never prepared.
	ErrUnknownTransfer = errors.New("no prepared leg for this transfer")
	// ErrDecisionConflict is a commit for an aborted leg or an abort for a committed one: the
	// coordinator never sends both, so it signals a fault to investigate, and changes nothing.
	ErrDecisionConflict = errors.New("the leg already has the opposite outcome")
)

// Hold is one leg of a transfer on this node. A prepared debit leg has reserved Amount from the
// account (OnHold); a prepared credit leg has recorded it as PendingIn.
type Hold struct {
	TransferID   string
	Leg          string
	Account      string
	Currency     money.Currency
	Amount       int64
	Counterparty string
	Description  string
	RefundOf     string    // of a refund's leg: the transfer it refunds
	Exchange     *Exchange // of a cross-currency transfer's leg: what its event carries
	State        contract.HoldState
	Reason       contract.Code // why the leg was refused, as a contract code; empty otherwise
	Message      string        // the refusal in words, when it happened in this call (not stored)
	CreatedAt    time.Time
}

// Side is the side of leg, contract.LegDebit or contract.LegCredit: a transfer's leg is named by
// its side, a payment's by its side and its place in the payment ("debit.3"); the edge checks the
// grammar (contract.LegSide), and Prepare refuses a side it does not know.
func Side(leg string) contract.Side {
	side, _, _ := strings.Cut(leg, ".")
	return contract.Side(side)
}

// Prepare reserves a leg of amount on the account: a debit must be covered by the available
// balance (the overdraft limit included); a credit only needs an open account.
func (a *Account) Prepare(leg string, amount int64) error {
	if err := a.checkOpen(); err != nil {
		return err
	}
	switch Side(leg) {
	case contract.SideDebit:
		if a.Available() < amount {
			return a.insufficient()
		}
		a.OnHold += amount
	case contract.SideCredit:
		if a.Balance+a.PendingIn > money.MaxMinor-amount {
			return a.tooLarge()
		}
		a.PendingIn += amount
	default:
		return fmt.Errorf("unknown leg %q", leg)
	}
	return nil
}

// Settle applies the decision for a prepared leg: commit moves the money, abort releases the hold.
func (a *Account) Settle(h Hold, commit bool) {
	switch {
	case Side(h.Leg) == contract.SideDebit && commit:
		a.OnHold -= h.Amount
		a.Balance -= h.Amount
	case Side(h.Leg) == contract.SideDebit:
		a.OnHold -= h.Amount
	case commit:
		a.PendingIn -= h.Amount
		a.Balance += h.Amount
	default:
		a.PendingIn -= h.Amount
	}
}

// Reason names a refusal of the rules with the code a vote carries, or returns "" for an error
// that is not a refusal (a fault, which must not be recorded as a no).
func Reason(err error) contract.Code {
	var pe *money.ParseError
	switch {
	case errors.Is(err, ErrInsufficientFunds):
		return contract.CodeInsufficient
	case errors.Is(err, ErrClosed):
		return contract.CodeAccountClosed
	case errors.Is(err, ErrTooLarge), errors.As(err, &pe):
		return contract.CodeInvalidAmount
	}
	return ""
}
