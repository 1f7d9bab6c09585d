// Package nodes is the history's port to the account nodes over NATS: history.Nodes on the typed
// client.
package nodes

import (
	"context"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/money"
	"tsbank/services/history/history"
)

// NATS asks the nodes through the typed client.
type NATS struct {
	Client *client.Client
}

var _ history.Nodes = (*NATS)(nil)

// Currency asks account's node for the account.
func (n *NATS) Currency(ctx context.Context, account string) (money.Currency, error) {
	acc, err := n.Client.Get(ctx, account)
	if err != nil {
		return money.Currency{}, classify(err)
	}
	return money.LookupCurrency(acc.Currency)
}

// Balance asks account's node for its balance.
func (n *NATS) Balance(ctx context.Context, account string) (history.NodeBalance, error) {
	bal, err := n.Client.Balance(ctx, account)
	return history.NodeBalance{Balance: bal.Balance, Currency: bal.Currency, EventSeq: bal.EventSeq}, classify(err)
}

// Accounts asks the nodes for a page of their accounts, as large as a page can be.
func (n *NATS) Accounts(ctx context.Context, after string) ([]string, string, error) {
	page, err := n.Client.List(ctx, contract.ListRequest{After: after, Limit: contract.MaxPageSize})
	if err != nil {
		return nil, "", classify(err)
	}
	ids := make([]string, 0, len(page.Accounts))
	for _, acc := range page.Accounts {
		ids = append(ids, acc.ID)
	}
	return ids, page.Next, nil
}

// classify marks a node's refusal with the history's kind for it. An error without a code (one
// the client itself failed with) is left as it is: the history's own failure.
func classify(err error) error {
	switch code := contract.CodeOf(err); {
	case err == nil || code == "":
		return err
	case code == contract.CodeAccountNotFound:
		return nodeError{kind: history.ErrAccountNotFound, err: err}
	default:
		return nodeError{kind: history.ErrNodeUnavailable, err: err}
	}
}

// nodeError is a node's refusal marked with a kind: it reads as the node's own error, whose
// message the history quotes, and still unwraps to it, so that the reply can pass its code on.
type nodeError struct{ kind, err error }

func (e nodeError) Error() string   { return e.err.Error() }
func (e nodeError) Unwrap() []error { return []error{e.kind, e.err} }
