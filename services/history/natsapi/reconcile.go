package natsapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/history/history"
)

// reconcile compares, per account, the history with the owning node. A node numbers each account's
// events 1, 2, 3… and answers a balance with the number of the newest event behind it, read in one
// snapshot; the history's rows numbered 1 to that number must be all there, once each, and add up
// to that balance, however many events followed: so the comparison is exact while the bank runs.
// An account whose only fault is rows not ingested yet is checked again, until half the request
// timeout has passed, before it counts as a difference. Forged events are not in the rows, so they
// are never a node's loss or gain; the reply counts them per account apart.
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
	forged, err := a.Store.ForgedCounts(ctx, r.Account)
	if err != nil {
		contract.Respond(req, nil, a.internal(err))
		return
	}
	result := contract.Reconciliation{Accounts: len(accounts), Differences: []contract.Difference{}, Forged: map[string]int64{}}
	for _, id := range accounts {
		if n := forged[id]; n > 0 {
			result.Forged[id] = n
		}
	}
	var pending []*check
	for _, id := range accounts {
		c, d := a.askNode(ctx, id, known[id])
		if d != nil {
			result.Differences = append(result.Differences, *d)
		} else if c != nil {
			pending = append(pending, c)
		}
	}
	// Each node answered once; the history may still be ingesting the events behind an answer.
	deadline := time.Now().Add(a.Timeout / 2)
	for wait := 50 * time.Millisecond; len(pending) > 0; wait = min(2*wait, time.Second) {
		var behind []*check
		for _, c := range pending {
			d, lag := a.compare(ctx, c)
			switch {
			case d == nil:
			case lag && time.Now().Add(wait).Before(deadline):
				behind = append(behind, c)
			default:
				result.Differences = append(result.Differences, *d)
			}
		}
		if len(behind) > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
		pending = behind
	}
	slices.SortFunc(result.Differences, func(x, y contract.Difference) int { return strings.Compare(x.Account, y.Account) })
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

// check is one account being reconciled: what the node answered, and the difference to report
// if the history does not match it.
type check struct {
	currency    money.Currency
	nodeBalance int64 // minor units
	diff        contract.Difference
}

// askNode asks the owning node for account id's balance and the number of its newest event, and
// returns what is left to check in the history, or the difference already found, or neither for an
// account that exists nowhere. s must have been read before: a history row numbered beyond the
// node's newest event is then a loss on the node, not an event that came meanwhile.
func (a *API) askNode(ctx context.Context, id string, s history.Summary) (*check, *contract.Difference) {
	bal, err := a.Client.Balance(ctx, id)
	if err != nil && contract.CodeOf(err) == contract.CodeAccountNotFound && s.Rows == 0 {
		return nil, nil
	}
	c := s.Currency
	if s.Rows == 0 && err == nil {
		c, _ = money.LookupCurrency(bal.Currency)
	}
	d := contract.Difference{Account: id, Currency: c.Code, NodeBalance: bal.Balance, NodeEventSeq: bal.EventSeq,
		LastBalance: money.Format(s.LastBalance, c), SumOfAmounts: money.Format(s.Sum, c)}
	if err != nil {
		d.Problem = "the node did not answer: " + err.Error()
		return nil, &d
	}
	if s.LastSeq > bal.EventSeq {
		d.Problem = fmt.Sprintf("the history has events numbered up to %d, the node's newest is %d: the node lost events", s.LastSeq, bal.EventSeq)
		return nil, &d
	}
	n, err := money.ParseBalance(bal.Balance, c)
	if err != nil {
		d.Problem = "the node's balance is not in the history's currency: " + err.Error()
		return nil, &d
	}
	return &check{currency: c, nodeBalance: n, diff: d}, nil
}

// compare checks the history's rows numbered 1 to the node's newest event: all there, once each,
// adding up to the node's balance and ending at it. It returns nil when they do, else the
// difference and whether it may only be the history being behind (then it is worth asking again).
func (a *API) compare(ctx context.Context, c *check) (_ *contract.Difference, lag bool) {
	d, n := c.diff, c.diff.NodeEventSeq
	p, err := a.Store.Upto(ctx, d.Account, n)
	switch {
	case err != nil:
		d.Problem = "could not read the history: " + err.Error()
	case p.Rows > n:
		d.Problem = fmt.Sprintf("the history has %d rows numbered 1 to %d: an event is doubled", p.Rows, n)
	case p.Rows < n:
		d.Problem = fmt.Sprintf("the history has %d of the node's %d events: not yet ingested, or lost", p.Rows, n)
		return &d, true
	case p.Sum != c.nodeBalance || (n > 0 && (!p.Found || p.Balance != c.nodeBalance)):
		d.Problem = fmt.Sprintf("the history's events 1 to %d add up to %s, the node's balance is %s",
			n, money.Format(p.Sum, c.currency), d.NodeBalance)
	default:
		return nil, false
	}
	return &d, false
}
