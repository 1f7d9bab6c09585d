package account

import "time"

// Event types, as on the wire.
const (
	EventDeposit    = "deposit"
	EventWithdrawal = "withdrawal"
)

// Event is one balance change. It is written to the outbox in the same transaction as the change.
type Event struct {
	ID           string
	Type         string
	Account      string
	Node         string
	Amount       int64 // signed: negative for money leaving the account
	Currency     string
	BalanceAfter int64
	Time         time.Time
	Description  string
	RequestID    string
	TransferID   string
	Counterparty string
	RefundOf     string // on a refund's leg: the transfer it refunds
	Seq          int64  // the account's event number, 1, 2, 3… in commit order; the store assigns it
}
