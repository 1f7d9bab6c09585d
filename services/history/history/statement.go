package history

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tsbank/contract/money"
)

// Statement is an account's rows over a period [From, To) in commit order, with the balance before
// and after them and their totals.
type Statement struct {
	Account          string
	Currency         money.Currency
	From, To         time.Time
	Opening, Closing int64 // minor units
	Rows             []Row
	Totals           Totals
}

// Statement returns account's statement for [from, to), each a date or an RFC 3339 time.
func (s *Service) Statement(ctx context.Context, account, from, to string) (Statement, error) {
	if from == "" || to == "" {
		return Statement{}, refuse(ErrBadRequest, `a statement needs a period: send {"from":"2026-01-01","to":"2026-02-01"} (to is exclusive)`)
	}
	f, t, err := parseRange(from, to)
	if err != nil {
		return Statement{}, err
	}
	currency, err := s.currency(ctx, account)
	if err != nil {
		return Statement{}, err
	}
	opening, rows, err := s.Store.Period(ctx, account, f, t)
	if err != nil {
		return Statement{}, err
	}
	closing := opening
	if len(rows) > 0 {
		closing = rows[len(rows)-1].BalanceAfter
	}
	return Statement{Account: account, Currency: currency, From: f, To: t, Opening: opening, Closing: closing,
		Rows: rows, Totals: Sum(rows)}, nil
}

// PastBalance is an account's balance at a moment.
type PastBalance struct {
	Account  string
	Currency money.Currency
	At       time.Time
	Balance  int64 // minor units
	EventSeq int64 // the number of the event after which the account had Balance; 0 before its first
}

// BalanceAt answers the account's balance at a moment (a date or an RFC 3339 time): the balance
// after the last of its numbered events before the first whose time is after it. Exact or
// refused: if an event it depends on has not reached the history (a gap in the numbers, or, with
// no event after the moment here, a newer one on the node), it is refused as ErrHistoryBehind.
func (s *Service) BalanceAt(ctx context.Context, account, at string) (PastBalance, error) {
	if at == "" {
		return PastBalance{}, refuse(ErrBadRequest, `at is missing: send {"at":"2026-01-31T12:00:00Z"}, or a date such as "2026-01-31" (its midnight UTC)`)
	}
	t, err := parseTime("at", at)
	if err != nil {
		return PastBalance{}, err
	}
	currency, err := s.currency(ctx, account)
	if err != nil {
		return PastBalance{}, err
	}
	b, err := s.Store.BalanceAt(ctx, account, t)
	if err != nil {
		return PastBalance{}, err
	}
	complete, err := b.Complete(func() (int64, error) {
		bal, err := s.Nodes.Balance(ctx, account)
		return bal.EventSeq, err
	})
	switch {
	case errors.Is(err, ErrNodeUnavailable) || errors.Is(err, ErrAccountNotFound):
		return PastBalance{}, &Error{Kind: ErrNodeUnavailable, Node: err, Message: fmt.Sprintf(
			"the history cannot tell whether an event of %s after its newest is on its way: its node did not answer: %s", account, err)}
	case err != nil:
		return PastBalance{}, fmt.Errorf("newest event of %s on its node: %w", account, err)
	case !complete:
		return PastBalance{}, refuse(ErrHistoryBehind,
			"the history has not yet received every event of %s up to %s: ask again in a moment", account, t.Format(time.RFC3339Nano))
	}
	return PastBalance{Account: account, Currency: currency, At: t, Balance: b.Balance, EventSeq: b.Seq}, nil
}
