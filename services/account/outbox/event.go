// Package outbox turns account events into their wire form and relays the outbox table of an
// account node to the JetStream events stream.
package outbox

import (
	"encoding/json"
	"fmt"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/account/account"
)

// Encode returns the subject and JSON payload under which event e is published: its node's outbox
// subject, which the outbox row keeps as a journal (the relay derives the subject again, see Drain).
func Encode(e account.Event, c money.Currency) (subject string, payload []byte, err error) {
	payload, err = json.Marshal(contract.Event{
		ID: e.ID, Version: contract.EventVersion, Type: e.Type, Account: e.Account, Node: e.Node,
		Amount: money.Format(e.Amount, c), AmountMinor: e.Amount, Currency: c.Code,
		BalanceAfter: money.Format(e.BalanceAfter, c), BalanceMinor: e.BalanceAfter,
		Time: e.Time, Description: e.Description, RequestID: e.RequestID,
		TransferID: e.TransferID, Counterparty: e.Counterparty, RefundOf: e.RefundOf, Exchange: wireExchange(e.Exchange), Seq: e.Seq,
	})
	if err != nil {
		return "", nil, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	return contract.OutboxSubject(e.Node, e.Account, e.Type), payload, nil
}

func wireExchange(x *account.Exchange) *contract.Exchange {
	if x == nil {
		return nil
	}
	return &contract.Exchange{Quote: x.Quote, Rate: x.Rate, FromAmount: x.FromAmount, FromCurrency: x.FromCurrency,
		ToAmount: x.ToAmount, ToCurrency: x.ToCurrency}
}
