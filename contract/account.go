package contract

import "time"

// OpenRequest opens an account; the account id is in the subject (or derived, on
// bank.accounts.open). ID is the idempotency key.
type OpenRequest struct {
	ID       string `json:"id"`
	Currency string `json:"currency"`
	// Node places the account on a named node; empty lets the system place it.
	Node string `json:"node,omitempty"`
	// An account opens with no overdraft: the limit is the bank's to set, with a LimitRequest.
}

// LimitRequest sets an account's overdraft limit: how far below zero its available balance may
// go. Only operators may send it (NATS permissions). A limit below what the account has already
// drawn is allowed: the account then cannot draw further until it is back within the limit. ID
// is the idempotency key.
type LimitRequest struct {
	ID             string `json:"id"`
	OverdraftLimit string `json:"overdraft_limit"` // a decimal string; "0.00" = no overdraft
}

// MoneyRequest is a deposit or a withdrawal. ID is the idempotency key.
type MoneyRequest struct {
	ID          string `json:"id"`
	Amount      string `json:"amount"`
	Description string `json:"description,omitempty"`
}

// CloseRequest closes an account with a zero balance and no holds. ID is the idempotency key.
type CloseRequest struct {
	ID string `json:"id"`
}

// ListRequest lists accounts in id order, one page at a time.
type ListRequest struct {
	Node  string `json:"node,omitempty"`  // one node; empty = every live node
	After string `json:"after,omitempty"` // the last id of the previous page
	Limit int    `json:"limit,omitempty"` // default 100, at most 1000
}

// Account is the state of one account. Amounts are decimal strings in its currency.
type Account struct {
	ID             string     `json:"id"`
	Node           string     `json:"node"`
	Currency       string     `json:"currency"`
	Status         string     `json:"status"` // open or closed
	Balance        string     `json:"balance"`
	OnHold         string     `json:"on_hold"`
	Available      string     `json:"available"` // what can be spent: balance - on_hold + overdraft_limit, never below 0
	OverdraftLimit string     `json:"overdraft_limit"`
	OpenedAt       time.Time  `json:"opened_at"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`
}

// Balance is the reply to a balance request.
type Balance struct {
	Account  string `json:"account"`
	Currency string `json:"currency"`
	Balance  string `json:"balance"` // the ledger balance; negative when the account is overdrawn
	OnHold   string `json:"on_hold"`
	// Available is what can be spent now: balance - on_hold + the overdraft limit, never below 0.
	Available string `json:"available"`
	// EventSeq is the number of the newest event that changed the balance (0: none yet), read with
	// it: the history's rows of the account up to that number add up to Balance.
	EventSeq int64 `json:"event_seq"`
}

// Receipt is the reply to a deposit or withdrawal: the event it wrote and the balance after it.
// A retry with the same request id gets the same receipt.
type Receipt struct {
	RequestID    string    `json:"request_id"`
	EventID      string    `json:"event_id"`
	Account      string    `json:"account"`
	Type         string    `json:"type"`
	Amount       string    `json:"amount"` // signed: negative for money leaving the account
	Currency     string    `json:"currency"`
	BalanceAfter string    `json:"balance_after"`
	Available    string    `json:"available"` // what can be spent after it, as in Balance
	At           time.Time `json:"at"`
}

// AccountList is a page of accounts; Next is the After of the next page, empty on the last page.
type AccountList struct {
	Accounts []Account `json:"accounts"`
	Next     string    `json:"next,omitempty"`
	// Partial says that the nodes in Unavailable did not answer: their accounts are missing
	// from this page (and, past Next, from the pages after it). List again once they are back.
	Partial     bool     `json:"partial,omitempty"`
	Unavailable []string `json:"unavailable,omitempty"`
}

// Whereis says which node owns an account.
type Whereis struct {
	Account string `json:"account"`
	Node    string `json:"node"`
}

// Node is a live account node, as its heartbeat in NodesBucket says.
type Node struct {
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	Holder    string    `json:"holder,omitempty"` // the process serving it, which holds its lease
	Epoch     int64     `json:"epoch,omitempty"`  // the lease's fencing epoch
}

// NodeList is the reply to bank.nodes.list.
type NodeList struct {
	Nodes []Node `json:"nodes"`
}
