package history

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"tsbank/contract/money"
)

// Reconciliation is what comparing the history with the nodes found.
type Reconciliation struct {
	Accounts    int // checked
	Differences []Difference
	// Forged counts, per account checked that has any, the events the history refused as forged.
	Forged map[string]int64
}

// Difference is an account whose history and node disagree, or whose node could not be asked.
type Difference struct {
	Account      string
	Currency     string
	NodeBalance  string // as the node wrote it
	NodeEventSeq int64
	LastBalance  string // balance_after of the history's newest row
	SumOfAmounts string // of every row of the history
	Problem      string
}

// Reconcile compares, per account (the one given, or every one if account is ""), the history
// with the owning node. A node numbers each account's events 1, 2, 3… and answers a balance with
// the number of the newest event behind it, read in one snapshot; the history's rows numbered 1 to
// that number must be all there, once each, and add up to that balance, however many events
// followed: so the comparison is exact while the bank runs. An account whose only fault is rows
// not ingested yet is checked again, for CatchUp, before it counts as a difference. Forged events
// are not in the rows, so they are never a node's loss or gain; they are counted per account
// apart.
func (s *Service) Reconcile(ctx context.Context, account string) (Reconciliation, error) {
	if account != "" {
		if err := checkID("account", account); err != nil {
			return Reconciliation{}, err
		}
	}
	summaries, err := s.Store.Summaries(ctx, account)
	if err != nil {
		return Reconciliation{}, err
	}
	known := map[string]Summary{}
	for _, sm := range summaries {
		known[sm.Account] = sm
	}
	// Accounts with no history row at all are found on the nodes.
	accounts, err := s.nodeAccounts(ctx, account)
	if err != nil {
		return Reconciliation{}, err
	}
	for id := range known {
		if !slices.Contains(accounts, id) {
			accounts = append(accounts, id)
		}
	}
	slices.Sort(accounts)
	forged, err := s.Store.ForgedCounts(ctx, account)
	if err != nil {
		return Reconciliation{}, err
	}
	result := Reconciliation{Accounts: len(accounts), Differences: []Difference{}, Forged: map[string]int64{}}
	for _, id := range accounts {
		if n := forged[id]; n > 0 {
			result.Forged[id] = n
		}
	}
	var pending []*check
	for _, id := range accounts {
		c, d := s.askNode(ctx, id, known[id])
		if d != nil {
			result.Differences = append(result.Differences, *d)
		} else if c != nil {
			pending = append(pending, c)
		}
	}
	// Each node answered once; the history may still be ingesting the events behind an answer.
	deadline := s.Clock.Now().Add(s.CatchUp)
	for wait := 50 * time.Millisecond; len(pending) > 0; wait = min(2*wait, time.Second) {
		var behind []*check
		for _, c := range pending {
			d, lag := s.compare(ctx, c)
			switch {
			case d == nil:
			case lag && s.Clock.Now().Add(wait).Before(deadline):
				behind = append(behind, c)
			default:
				result.Differences = append(result.Differences, *d)
			}
		}
		if len(behind) > 0 {
			select {
			case <-ctx.Done():
			case <-s.Clock.After(wait):
			}
		}
		pending = behind
	}
	slices.SortFunc(result.Differences, func(x, y Difference) int { return strings.Compare(x.Account, y.Account) })
	if account == "" && s.Differences != nil {
		s.Differences(len(result.Differences))
	}
	return result, nil
}

// nodeAccounts lists the accounts the nodes know: one, or all of them page by page.
func (s *Service) nodeAccounts(ctx context.Context, account string) ([]string, error) {
	if account != "" {
		return []string{account}, nil
	}
	var ids []string
	after := ""
	for {
		page, next, err := s.Nodes.Accounts(ctx, after)
		if err != nil {
			return nil, refuse(ErrNodeUnavailable, "could not list the accounts of the nodes: %s", err)
		}
		ids = append(ids, page...)
		if next == "" {
			return ids, nil
		}
		after = next
	}
}

// check is one account being reconciled: what the node answered, and the difference to report
// if the history does not match it.
type check struct {
	currency    money.Currency
	nodeBalance int64 // minor units
	diff        Difference
}

// askNode asks the owning node for account id's balance and the number of its newest event, and
// returns what is left to check in the history, or the difference already found, or neither for an
// account that exists nowhere. sm must have been read before: a history row numbered beyond the
// node's newest event is then a loss on the node, not an event that came meanwhile.
func (s *Service) askNode(ctx context.Context, id string, sm Summary) (*check, *Difference) {
	bal, err := s.Nodes.Balance(ctx, id)
	if errors.Is(err, ErrAccountNotFound) && sm.Rows == 0 {
		return nil, nil
	}
	c := sm.Currency
	if sm.Rows == 0 && err == nil {
		c, _ = money.LookupCurrency(bal.Currency)
	}
	d := Difference{Account: id, Currency: c.Code, NodeBalance: bal.Balance, NodeEventSeq: bal.EventSeq,
		LastBalance: money.Format(sm.LastBalance, c), SumOfAmounts: money.Format(sm.Sum, c)}
	if err != nil {
		d.Problem = "the node did not answer: " + err.Error()
		return nil, &d
	}
	if sm.LastSeq > bal.EventSeq {
		d.Problem = fmt.Sprintf("the history has events numbered up to %d, the node's newest is %d: the node lost events", sm.LastSeq, bal.EventSeq)
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
func (s *Service) compare(ctx context.Context, c *check) (_ *Difference, lag bool) {
	d, n := c.diff, c.diff.NodeEventSeq
	p, err := s.Store.Upto(ctx, d.Account, n)
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
