package history

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tsbank/contract/money"
)

// Nodes asks the account nodes, against which the history is checked. A method returns an error
// wrapping ErrAccountNotFound when no node has the account, one wrapping ErrNodeUnavailable when
// the node gave no answer or another refusal (keeping the node's own message and code), and any
// other error for a failure of the history itself.
type Nodes interface {
	// Currency returns account's currency, as its node says.
	Currency(ctx context.Context, account string) (money.Currency, error)
	// Balance returns account's balance and the number of its newest event, read together.
	Balance(ctx context.Context, account string) (NodeBalance, error)
	// Accounts returns a page of the ids of every node's accounts, in order, after the id after
	// ("" for the first page), and the id to continue after ("" after the last page).
	Accounts(ctx context.Context, after string) (ids []string, next string, err error)
}

// NodeBalance is an account's balance as its node answers it.
type NodeBalance struct {
	Balance  string // a decimal of Currency, as the node wrote it
	Currency string
	EventSeq int64 // the number of the newest event behind Balance
}

// Clock is the time the use cases read and wait on.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the machine's clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time                         { return time.Now() }
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Service is the history's use cases: pages of an account's rows, statements, balances at a
// moment and reconciliation with the nodes.
type Service struct {
	Store   Store
	Nodes   Nodes
	Cursors Cursors
	Clock   Clock
	// CatchUp is how long a reconciliation checks again an account whose only fault is rows not
	// ingested yet, before it counts as a difference.
	CatchUp time.Duration
	// Differences, if set, is told how many differences a whole-bank reconciliation found.
	Differences func(n int)
}

// Totals sum some rows: how many, and their amounts in (positive) and out (negative), in minor
// units.
type Totals struct {
	Count   int
	In, Out int64
}

// Net is what the rows changed the balance by.
func (t Totals) Net() int64 { return t.In + t.Out }

// Sum totals rows.
func Sum(rows []Row) Totals {
	t := Totals{Count: len(rows)}
	for _, r := range rows {
		if r.Amount > 0 {
			t.In += r.Amount
		} else {
			t.Out += r.Amount
		}
	}
	return t
}

// currency returns the account's currency: from its history rows, or, for an account with none
// yet, from its node; an account that does not exist is refused as ErrAccountNotFound.
func (s *Service) currency(ctx context.Context, account string) (money.Currency, error) {
	c, found, err := s.Store.Currency(ctx, account)
	if err != nil || found {
		return c, err
	}
	c, err = s.Nodes.Currency(ctx, account)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, ErrAccountNotFound):
		return c, refuse(ErrAccountNotFound, "account %s does not exist", account)
	case errors.Is(err, ErrNodeUnavailable):
		return c, &Error{Kind: ErrNodeUnavailable, Node: err,
			Message: fmt.Sprintf("account %s has no history yet, and its node did not answer: %s", account, err)}
	}
	return c, err
}
