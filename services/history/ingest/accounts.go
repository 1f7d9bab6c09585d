package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/history/history"
)

// Lister lists the accounts of every node, a page at a time (the typed client's List).
type Lister interface {
	List(ctx context.Context, req contract.ListRequest) (contract.AccountList, error)
}

// Accounts copies the nodes' list of accounts into the store's accounts table, so that SQL sees
// accounts that have no event yet (account_balances). Events say nothing of an account until its
// first balance change, and the registry, which names every account, is neither SQL-visible nor
// enumerable with the history's permissions (direct gets of one key only), so the list is read
// from the nodes, whom the history may already ask: bank.accounts.list, page by page, every
// Interval. Rows are only ever added or updated: ids of closed accounts stay taken.
type Accounts struct {
	Nodes    Lister
	Store    history.Store
	Log      *slog.Logger
	Interval time.Duration
	Timeout  time.Duration // one page's request
}

// Run copies the list at once and then every Interval, until ctx ends. A failed copy (no node
// answers, the database is away) is logged once until one succeeds again, and retried at the next
// interval; the accounts copied so far stay.
func (a *Accounts) Run(ctx context.Context) {
	failing := false
	for {
		n, err := a.Sync(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			a.Log.Warn("could not copy the nodes' accounts; trying again later", "err", err, "in", a.Interval)
			failing = true
		case err == nil && failing:
			a.Log.Info("copied the nodes' accounts again", "changed", n)
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.Interval):
		}
	}
}

// Sync copies every page of the nodes' list once and returns how many rows changed.
func (a *Accounts) Sync(ctx context.Context) (int, error) {
	changed, after := 0, ""
	for {
		pctx, cancel := context.WithTimeout(ctx, a.Timeout)
		page, err := a.Nodes.List(pctx, contract.ListRequest{After: after, Limit: contract.MaxPageSize})
		cancel()
		if err != nil {
			return changed, fmt.Errorf("list the accounts after %q: %w", after, err)
		}
		accounts := make([]history.Account, 0, len(page.Accounts))
		for _, w := range page.Accounts {
			c, err := money.LookupCurrency(w.Currency)
			if err != nil {
				a.Log.Warn("an account with an unknown currency is left out of the accounts table", "account", w.ID, "currency", w.Currency)
				continue
			}
			acc := history.Account{ID: w.ID, Node: w.Node, Currency: c, Status: w.Status, OpenedAt: w.OpenedAt}
			if w.ClosedAt != nil {
				acc.ClosedAt = *w.ClosedAt
			}
			accounts = append(accounts, acc)
		}
		if len(accounts) > 0 {
			n, err := a.Store.SaveAccounts(ctx, accounts)
			if err != nil {
				return changed, err
			}
			changed += n
		}
		if page.Next == "" {
			return changed, nil
		}
		after = page.Next
	}
}
