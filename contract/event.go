package contract

import "time"

// Event types.
const (
	EventDeposit     = "deposit"
	EventWithdrawal  = "withdrawal"
	EventTransferOut = "transfer_out"
	EventTransferIn  = "transfer_in"
)

// EventVersion is the version of the Event layout; a consumer refuses versions it does not know.
const EventVersion = 1

// Event is one balance change, published by its node on OutboxSubject(node, account, type) with
// Nats-Msg-Id = ID, and received by customers on EventSubject(account, type).
// Amount is signed (negative for money leaving the account), so the amounts of an account add up
// to its balance.
type Event struct {
	ID           string    `json:"id"`
	Version      int       `json:"version"`
	Type         string    `json:"type"`
	Account      string    `json:"account"`
	Node         string    `json:"node"`
	Amount       string    `json:"amount"`
	AmountMinor  int64     `json:"amount_minor"`
	Currency     string    `json:"currency"`
	BalanceAfter string    `json:"balance_after"`
	BalanceMinor int64     `json:"balance_after_minor"`
	Time         time.Time `json:"time"`
	Description  string    `json:"description,omitempty"`
	RequestID    string    `json:"request_id,omitempty"`
	TransferID   string    `json:"transfer_id,omitempty"`
	Counterparty string    `json:"counterparty,omitempty"`
	// RefundOf is, on a leg of a refund, the transfer id of the transfer it refunds.
	RefundOf string `json:"refund_of,omitempty"`
	// Exchange is, on a leg of a cross-currency transfer, its quote, rate and both amounts.
	Exchange *Exchange `json:"exchange,omitempty"`
	// Seq numbers the account's events 1, 2, 3… in the order they committed, with no gap; 0 in
	// events from before it existed. Consumers order an account's events by it.
	Seq int64 `json:"seq,omitempty"`
}
