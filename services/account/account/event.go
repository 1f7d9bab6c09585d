package account

import "time"

// Exchange is what a leg of a cross-currency transfer carries into its event, as the coordinator
// signed it: the node keeps it with the leg and does not read it.
type Exchange struct {
	Quote        string `json:"quote"`
	Rate         string `json:"rate"`
	FromAmount   string `json:"from_amount"`
	FromCurrency string `json:"from_currency"`
	ToAmount     string `json:"to_amount"`
	ToCurrency   string `json:"to_currency"`
}

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
	RefundOf     string    // on a refund's leg: the transfer it refunds
	Exchange     *Exchange // on a cross-currency transfer's leg: its quote, rate and both amounts
	Seq          int64     // the account's event number, 1, 2, 3… in commit order (Account.record)
	// Trace is the trace context of the step that wrote the event, if any: the outbox keeps it,
	// and the relay publishes the event in that trace.
	Trace map[string]string
}
