package natsapi

import (
	"context"
	"slices"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/history/history"
)

// reconcile compares, per account, the history's last balance and the sum of its amounts with each
// other and with the balance on the owning node. A difference can be a lag (events committed on a
// node and not yet ingested) as well as a loss: run it when the bank is quiet, or twice.
func (a *API) reconcile(req micro.Request) {
	ctx, cancel := context.WithTimeout(context.Background(), a.Timeout)
	defer cancel()
	var r contract.ReconcileRequest
	if e := contract.Decode(req.Data(), &r); e != nil {
		contract.Respond(req, nil, e)
		return
	}
	if r.Account != "" {
		if e := contract.CheckID("account", r.Account); e != nil {
			contract.Respond(req, nil, e)
			return
		}
	}
	summaries, err := a.Store.Summaries(ctx, r.Account)
	if err != nil {
		contract.Respond(req, nil, a.internal(err))
		return
	}
	known := map[string]history.Summary{}
	for _, s := range summaries {
		known[s.Account] = s
	}
	// Accounts with no history row at all are found on the nodes.
	accounts, e := a.nodeAccounts(ctx, r.Account)
	if e != nil {
		contract.Respond(req, nil, e)
		return
	}
	for id := range known {
		if !slices.Contains(accounts, id) {
			accounts = append(accounts, id)
		}
	}
	slices.Sort(accounts)
	result := contract.Reconciliation{Accounts: len(accounts), Differences: []contract.Difference{}}
	for _, id := range accounts {
		if d := a.compare(ctx, id, known[id]); d != nil {
			result.Differences = append(result.Differences, *d)
		}
	}
	if r.Account == "" && a.Differences != nil {
		a.Differences(len(result.Differences))
	}
	contract.Respond(req, result, nil)
}

// nodeAccounts lists the accounts the nodes know: one, or all of them page by page.
func (a *API) nodeAccounts(ctx context.Context, account string) ([]string, *contract.Error) {
	if account != "" {
		return []string{account}, nil
	}
	var ids []string
	after := ""
	for {
		page, err := a.Client.List(ctx, contract.ListRequest{After: after, Limit: contract.MaxPageSize})
		if err != nil {
			return nil, &contract.Error{Code: contract.CodeNodeUnavailable, Message: "could not list the accounts of the nodes: " + err.Error()}
		}
		for _, acc := range page.Accounts {
			ids = append(ids, acc.ID)
		}
		if page.Next == "" {
			return ids, nil
		}
		after = page.Next
	}
}

// compare returns the difference for one account, or nil when the history and the node agree.
// Both balances are formatted in the account's currency, so comparing the strings is exact.
func (a *API) compare(ctx context.Context, id string, s history.Summary) *contract.Difference {
	bal, err := a.Client.Balance(ctx, id)
	if err != nil && contract.CodeOf(err) == contract.CodeAccountNotFound && s.Rows == 0 {
		return nil // an account that exists nowhere
	}
	c := s.Currency
	if s.Rows == 0 && err == nil {
		c, _ = money.LookupCurrency(bal.Currency)
	}
	d := &contract.Difference{Account: id, Currency: c.Code, NodeBalance: bal.Balance,
		LastBalance: money.Format(s.LastBalance, c), SumOfAmounts: money.Format(s.Sum, c)}
	switch {
	case err != nil:
		d.Problem = "the node did not answer: " + err.Error()
	case s.LastBalance != s.Sum:
		d.Problem = "the history's amounts do not add up to its last balance: an event is missing or doubled"
	case bal.Balance != d.LastBalance:
		d.Problem = "the node's balance differs from the history's last balance: events not yet ingested, or lost"
	default:
		return nil
	}
	return d
}
