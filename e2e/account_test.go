package e2e

import (
	"strings"
	"testing"

	"tsbank/contract"
)

// TestBalanceWithAnOverdraftShowsWhatCanBeSpent pins a bug: `available` on an account with an
// overdraft was the balance less the holds, so an account allowed to draw 50.00 below zero showed
// 0.00 available, and once overdrawn a negative figure. The balance reply, the account and the
// receipt now show the balance and, apart, what can be spent.
func TestBalanceWithAnOverdraftShowsWhatCanBeSpent(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.open("carol", "account-1", "EUR")
	if acc, err := b.c.SetLimit(ctx(t), "carol", contract.LimitRequest{ID: "l-1", OverdraftLimit: "50.00"}); err != nil || acc.Available != "50.00" {
		t.Fatalf("limit: %+v, %v; want 50.00 available", acc, err)
	}
	rc, err := b.c.Withdraw(ctx(t), "carol", contract.MoneyRequest{ID: "w-1", Amount: "20.00"})
	if err != nil || rc.BalanceAfter != "-20.00" || rc.Available != "30.00" {
		t.Fatalf("withdraw: %+v, %v; want balance -20.00, 30.00 available", rc, err)
	}
	bal, err := b.c.Balance(ctx(t), "carol")
	if err != nil || bal.Balance != "-20.00" || bal.OnHold != "0.00" || bal.Available != "30.00" {
		t.Fatalf("balance: %+v, %v; want balance -20.00, 30.00 available", bal, err)
	}
	acc, err := b.c.Get(ctx(t), "carol")
	if err != nil || acc.Balance != "-20.00" || acc.Available != "30.00" || acc.OverdraftLimit != "50.00" {
		t.Fatalf("get: %+v, %v", acc, err)
	}
	// Exactly the available amount can be drawn, and the refusal of more names the same figure.
	_, err = b.c.Withdraw(ctx(t), "carol", contract.MoneyRequest{ID: "w-2", Amount: "30.01"})
	wantCode(t, err, contract.CodeInsufficient)
	if want := "carol has 30.00 available (balance -20.00, on hold 0.00, overdraft limit 50.00)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("refusal %v, want it to say %q", err, want)
	}
	if rc, err := b.c.Withdraw(ctx(t), "carol", contract.MoneyRequest{ID: "w-3", Amount: "30.00"}); err != nil || rc.BalanceAfter != "-50.00" || rc.Available != "0.00" {
		t.Fatalf("withdraw of what was available: %+v, %v", rc, err)
	}
	// A limit lowered below what is drawn leaves nothing to spend, not a negative figure.
	if acc, err := b.c.SetLimit(ctx(t), "carol", contract.LimitRequest{ID: "l-2", OverdraftLimit: "10.00"}); err != nil || acc.Available != "0.00" || acc.Balance != "-50.00" {
		t.Fatalf("lowered limit: %+v, %v", acc, err)
	}
}

// TestOpeningOnANodeThatNeverRanIsNotFoundNotUnavailable pins a bug: an open naming a node that does
// not exist said "is not running: retry later", as for a node that is down, so a typo in "node"
// read as an outage to wait out. A name no node has ever run under is node_not_found, naming the
// live nodes, and registers nothing; a node that ran and is down is still node_unavailable.
func TestOpeningOnANodeThatNeverRanIsNotFoundNotUnavailable(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	_, err := b.c.Open(ctx(t), "zed", contract.OpenRequest{ID: "o-1", Currency: "EUR", Node: "account-9"})
	wantCode(t, err, contract.CodeNodeNotFound)
	if want := "the live ones are account-1, account-2"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q, want it to say %q", err, want)
	}
	_, err = b.c.Whereis(ctx(t), "zed")
	wantCode(t, err, contract.CodeAccountNotFound)
	b.stopNode("account-2")
	_, err = b.c.Open(ctx(t), "zed", contract.OpenRequest{ID: "o-1", Currency: "EUR", Node: "account-2"})
	wantCode(t, err, contract.CodeNodeUnavailable)
	// Nothing was taken by the refusals: the same request on a live node opens the account.
	if acc, err := b.c.Open(ctx(t), "zed", contract.OpenRequest{ID: "o-1", Currency: "EUR", Node: "account-1"}); err != nil || acc.Node != "account-1" {
		t.Fatalf("open on account-1: %+v, %v", acc, err)
	}
}
