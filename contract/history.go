package contract

import "time"

// Formats of history replies.
const (
	FormatJSON  = "json"
	FormatTable = "table"
	FormatCSV   = "csv"
)

// NextCursorHeader is the reply header that carries a history page's next cursor, on every
// page that is not the last and in every format. It is the only place of the cursor in a CSV
// page, whose every record after the header row is a transaction: a client exporting a whole
// history sends it back as "cursor" until a reply comes without it.
const NextCursorHeader = "Tsbank-Next-Cursor"

// History page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// HistoryQuery asks for one page of an account's transactions (the account is in the subject).
// Every field is optional.
type HistoryQuery struct {
	Types        []string `json:"type,omitempty"`         // deposit, withdrawal, transfer_out, transfer_in
	From         string   `json:"from,omitempty"`         // inclusive: "2026-01-01" or RFC 3339
	To           string   `json:"to,omitempty"`           // exclusive: "2026-02-01" or RFC 3339
	MinAmount    string   `json:"min_amount,omitempty"`   // on the absolute amount, a decimal string in the account's currency
	MaxAmount    string   `json:"max_amount,omitempty"`   // on the absolute amount, a decimal string
	Counterparty string   `json:"counterparty,omitempty"` // the other account of a transfer
	TransferID   string   `json:"transfer_id,omitempty"`
	Text         string   `json:"text,omitempty"`   // case-insensitive, in the description
	Sort         string   `json:"sort,omitempty"`   // time (default) or amount
	Order        string   `json:"order,omitempty"`  // desc (default) or asc
	Limit        int      `json:"limit,omitempty"`  // 1 to 1000; 0 here leaves it out (50), a JSON "limit":0 is refused
	Cursor       string   `json:"cursor,omitempty"` // "next" of the previous page, with the same filters
	Format       string   `json:"format,omitempty"` // json (default), table or csv
}

// HistoryRow is one transaction. Amounts are signed decimal strings in major units.
type HistoryRow struct {
	EventID      string    `json:"event_id"`
	Account      string    `json:"account"`
	Type         string    `json:"type"`
	Amount       string    `json:"amount"`
	Currency     string    `json:"currency"`
	BalanceAfter string    `json:"balance_after"`
	At           time.Time `json:"at"`
	Description  string    `json:"description,omitempty"`
	TransferID   string    `json:"transfer_id,omitempty"`
	Counterparty string    `json:"counterparty,omitempty"`
	// RefundOf is, on a row of a refund, the transfer id of the transfer it refunds.
	RefundOf string `json:"refund_of,omitempty"`
	// Refunded is, on a row of a refunded transfer, what its committed refunds have moved back
	// on this account so far (positive, major units).
	Refunded string `json:"refunded,omitempty"`
	// Exchange is, on a row of a cross-currency transfer, its quote, rate and both amounts.
	Exchange *Exchange `json:"exchange,omitempty"`
	Node     string    `json:"node"`
}

// What a HistoryTotals covers.
const (
	// TotalsOfPage: the rows of one page only. They are not the account's totals, nor those of
	// every row the filters match, unless the page happens to hold all of them.
	TotalsOfPage = "page"
	// TotalsOfPeriod: every transaction of a statement's period.
	TotalsOfPeriod = "period"
)

// HistoryTotals sums a set of rows: money in, money out (negative), and the net. Of says which
// rows: TotalsOfPage or TotalsOfPeriod.
type HistoryTotals struct {
	Of    string `json:"of"`
	Count int    `json:"count"`
	In    string `json:"in"`
	Out   string `json:"out"`
	Net   string `json:"net"`
}

// HistoryPage is a page of transactions; Next is the cursor of the next page, empty on the last.
// Totals cover the rows of this page only (Of is TotalsOfPage).
type HistoryPage struct {
	Account  string        `json:"account"`
	Currency string        `json:"currency"`
	Rows     []HistoryRow  `json:"rows"`
	Totals   HistoryTotals `json:"totals"`
	Next     string        `json:"next,omitempty"`
}

// StatementRequest asks for an account's statement over [From, To).
type StatementRequest struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Format string `json:"format,omitempty"`
}

// Statement is the opening balance, every transaction of the period in time order, the closing
// balance and the totals in and out of the whole period (Of is TotalsOfPeriod).
type Statement struct {
	Account        string        `json:"account"`
	Currency       string        `json:"currency"`
	From           time.Time     `json:"from"`
	To             time.Time     `json:"to"`
	OpeningBalance string        `json:"opening_balance"`
	ClosingBalance string        `json:"closing_balance"`
	Totals         HistoryTotals `json:"totals"`
	Rows           []HistoryRow  `json:"rows"`
}

// ReconcileRequest compares the history with the account nodes: one account, or every account.
type ReconcileRequest struct {
	Account string `json:"account,omitempty"`
}

// Difference is one account whose history and node disagree.
type Difference struct {
	Account      string `json:"account"`
	Currency     string `json:"currency"`
	NodeBalance  string `json:"node_balance"`
	LastBalance  string `json:"history_last_balance"` // balance_after of the newest row
	SumOfAmounts string `json:"history_sum"`          // sum of every row's amount
	// NodeEventSeq is the number of the newest event behind the node's balance.
	NodeEventSeq int64  `json:"node_event_seq"`
	Problem      string `json:"problem"`
}

// Reconciliation is the reply to a reconcile request.
type Reconciliation struct {
	Accounts    int          `json:"accounts_checked"`
	Differences []Difference `json:"differences"`
	// Forged counts, per account checked that has any, the events the history refused as forged
	// (published by a node that did not write them, or about an account another node owns). They
	// never entered the history, so they are no difference; they are here for an operator.
	Forged map[string]int64 `json:"forged"`
}

// BalanceAtRequest asks for an account's balance at a moment: a date ("2026-01-31", its
// midnight UTC) or an RFC 3339 time.
type BalanceAtRequest struct {
	At string `json:"at"`
}

// BalanceAt is an account's balance at At: after its events numbered 1 to EventSeq, the last
// whose time is not after At (0 and 0 before its first event).
type BalanceAt struct {
	Account  string    `json:"account"`
	Currency string    `json:"currency"`
	At       time.Time `json:"at"`
	Balance  string    `json:"balance"`
	EventSeq int64     `json:"event_seq"`
}

// CodeHistoryBehind says the history has not yet received every event an answer depends on:
// ask again in a moment.
const CodeHistoryBehind = "history_behind"
