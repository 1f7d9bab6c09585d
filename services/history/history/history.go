// Package history is the history service's domain: a transaction row, the query over an account's
// rows (filters, sort, keyset position), and the use cases (Service: pages with their cursors,
// statements, balances at a moment, reconciliation with the nodes) with the ports they need: the
// Store, the Nodes and a Clock.
package history

import (
	"context"
	"time"

	"tsbank/contract/money"
)

// Exchange is what a row of a cross-currency transfer carries: the bank's quote id, the rate
// (units of ToCurrency per unit of FromCurrency) and both amounts, as decimal strings.
type Exchange struct {
	Quote        string `json:"quote"`
	Rate         string `json:"rate"`
	FromAmount   string `json:"from_amount"`
	FromCurrency string `json:"from_currency"`
	ToAmount     string `json:"to_amount"`
	ToCurrency   string `json:"to_currency"`
}

// Row is one committed balance change. Amounts are signed minor units of Currency.
type Row struct {
	EventID      string
	Account      string
	Type         string
	Amount       int64
	Currency     money.Currency
	BalanceAfter int64
	At           time.Time
	Description  string
	TransferID   string
	Counterparty string
	RefundOf     string    // on a row of a refund: the transfer it refunds
	Exchange     *Exchange // on a row of a cross-currency transfer
	// Refunded is, on a row of a transfer, what its refunds moved on the same account so far
	// (positive minor units): read by joining the refunds' rows, never stored.
	Refunded   int64
	Node       string
	RequestID  string
	StreamSeq  uint64
	AccountSeq int64 // the account's event number on its node: 1, 2, 3… in commit order
}

// Sort keys and orders.
const (
	SortTime   = "time"
	SortAmount = "amount" // the absolute amount
	OrderDesc  = "desc"
	OrderAsc   = "asc"
)

// Filter selects rows of one account; zero fields select everything.
type Filter struct {
	Types        []string
	From, To     time.Time // From inclusive, To exclusive; zero = unbounded
	MinAmount    string    // on the absolute amount, a decimal in major units; "" = unbounded
	MaxAmount    string
	Counterparty string
	TransferID   string
	Text         string // case-insensitive substring of the description
}

// Position is where a page ends in the sort order: the sort key of its last row (a time or an
// absolute amount in minor units) and its event id, which breaks ties.
type Position struct {
	Time    time.Time
	Amount  int64
	EventID string
}

// Query is one page of one account's rows.
type Query struct {
	Account string
	Filter  Filter
	SortBy  string
	Desc    bool
	Limit   int
	After   *Position // nil for the first page
}

// PositionOf is the position of row r under q's sort.
func (q Query) PositionOf(r Row) Position {
	p := Position{EventID: r.EventID}
	if q.SortBy == SortAmount {
		p.Amount = abs(r.Amount)
	} else {
		p.Time = r.At
	}
	return p
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// Summary is what the history knows of an account's balance: the balance after its newest row
// and the sum of all its amounts, which must agree with each other and with the node.
type Summary struct {
	Account     string
	Currency    money.Currency
	LastBalance int64
	Sum         int64
	Rows        int64
	LastSeq     int64 // the newest row's account_seq
}

// Prefix summarizes an account's rows numbered 1 to some n: how many there are, the sum of their
// amounts, and the balance after row n (Found false when row n is missing).
type Prefix struct {
	Rows    int64
	Sum     int64
	Balance int64
	Found   bool
}

// Before is what the history holds of an account's events up to a moment t: its events are
// numbered 1, 2, …, and the balance at t is the balance after event Seq, the last before the first
// whose time is after t (FirstAfter, 0 if the history has none). Rows counts the rows numbered 1
// to max(Seq, FirstAfter): fewer than that, and an event is missing (not yet ingested).
type Before struct {
	Seq, FirstAfter, Rows int64
	Balance               int64 // after event Seq; 0 when Seq is 0
}

// Complete tells whether the history holds every event the balance at t depends on, given the
// number of the account's newest event on its node (needed only when no event after t is here:
// the next one may be on its way).
func (b Before) Complete(newest func() (int64, error)) (bool, error) {
	last := max(b.Seq, b.FirstAfter)
	if b.Rows != last {
		return false, nil // a gap: an event numbered at most last has not arrived
	}
	if b.FirstAfter > 0 {
		return true, nil
	}
	n, err := newest()
	if err != nil {
		return false, err
	}
	return n <= b.Seq, nil
}

// Account is an account as its node lists it, kept so that SQL sees accounts with no event yet.
type Account struct {
	ID       string
	Node     string
	Currency money.Currency
	Status   string // open or closed
	OpenedAt time.Time
	ClosedAt time.Time // zero while open
}

// Store is the history database.
type Store interface {
	// Insert writes rows, skipping any whose event id is already there; it returns how many it
	// inserted.
	Insert(ctx context.Context, rows []Row) (int, error)
	// Page returns up to q.Limit rows of q.Account matching q, in q's order, after q.After.
	Page(ctx context.Context, q Query) ([]Row, error)
	// Period returns the rows of account in [from, to) in commit order, and the balance before
	// from (0 when the account had no row before).
	Period(ctx context.Context, account string, from, to time.Time) (opening int64, rows []Row, err error)
	// Currency returns the currency of account's rows, and false if it has none.
	Currency(ctx context.Context, account string) (money.Currency, bool, error)
	// Summaries returns the summary of account, or of every account if account is "".
	Summaries(ctx context.Context, account string) ([]Summary, error)
	// Upto summarizes account's rows numbered 1 to seq.
	Upto(ctx context.Context, account string, seq int64) (Prefix, error)
	// BalanceAt reads what account's balance at t depends on (see Before).
	BalanceAt(ctx context.Context, account string, t time.Time) (Before, error)
	// RecordForged writes forged events, skipping any already recorded (a redelivery), and
	// returns those it recorded now.
	RecordForged(ctx context.Context, events []Forged) ([]Forged, error)
	// ForgedCounts returns how many forged events name account, or each account if account is
	// ""; accounts without any are left out.
	ForgedCounts(ctx context.Context, account string) (map[string]int64, error)
	// SaveAccounts writes accounts, adding the new ones and updating those that changed; it
	// returns how many rows it wrote.
	SaveAccounts(ctx context.Context, accounts []Account) (int, error)
	// ClaimCountBatch returns the oldest batch of committed transfers numbered for the counters
	// and not yet marked counted, or, if there is none, numbers a new one of up to limit
	// transfers; it returns its number (0 when nothing is left to count) and its totals.
	ClaimCountBatch(ctx context.Context, limit int) (int64, []CountTotal, error)
	// MarkCounted records that batch's increments were acknowledged.
	MarkCounted(ctx context.Context, batch int64) error
}

// CountTotal is what one batch adds to the counters of one day, paying node and currency.
type CountTotal struct {
	Day       string // 2026-12-01, UTC
	Node      string // the node of the paying account
	Currency  string
	Transfers int64
	Volume    int64 // minor units
}
