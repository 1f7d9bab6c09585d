package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"tsbank/contract"
)

func TestASpreadPlanEvensTheNodesMovingAsFewAsItCan(t *testing.T) {
	for _, c := range []struct {
		nodes  []string
		byNode map[string][]string
		want   string
	}{
		{[]string{"a", "b"}, map[string][]string{"a": {"x1", "x2", "x3", "x4"}}, "[{x3 a b} {x4 a b}]"},
		{[]string{"a", "b"}, map[string][]string{"a": {"x1", "x2"}, "b": {"y1"}}, "[]"},
		{[]string{"a", "b", "c"}, map[string][]string{"a": {"x1", "x2", "x3", "x4", "x5"}, "b": {"y1"}}, "[{x3 a b} {x4 a c} {x5 a c}]"},
		{[]string{"a", "b"}, map[string][]string{"a": {"x1", "x2", "x3"}, "b": {"y1", "y2", "y3", "y4"}}, "[]"},
		// A node that is not running keeps its accounts, and gets none.
		{[]string{"a", "b"}, map[string][]string{"a": {"x1", "x2"}, "down": {"z1", "z2", "z3"}}, "[{x2 a b}]"},
		{[]string{"a"}, map[string][]string{"a": {"x1", "x2"}}, "[]"},
	} {
		plan := planSpread(c.nodes, c.byNode)
		if got := fmt.Sprint(plan); got != c.want {
			t.Errorf("planSpread(%v, %v) = %v, want %s", c.nodes, c.byNode, got, c.want)
		}
	}
}

// TestSpreadMovesAccountsUntilEveryNodeHoldsAsMany runs the command's work against a running
// bank: six accounts on one node end three on each, with their balances, and a second spread
// finds nothing to do.
func TestSpreadMovesAccountsUntilEveryNodeHoldsAsMany(t *testing.T) {
	c := startBank(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range 6 {
		id := fmt.Sprintf("acc%d", i)
		if _, err := c.Open(ctx, id, contract.OpenRequest{ID: "o-" + id, Currency: "EUR", Node: "account-1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Deposit(ctx, id, contract.MoneyRequest{ID: "d-" + id, Amount: fmt.Sprintf("%d.00", i+1)}); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := spread(ctx, c, "s1", false, &out); err != nil {
		t.Fatalf("spread: %v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), ": done"); n != 3 {
		t.Fatalf("spread made %d moves, want 3:\n%s", n, out.String())
	}
	counts := map[string]int{}
	for i := range 6 {
		id := fmt.Sprintf("acc%d", i)
		acc, err := c.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if acc.Balance != fmt.Sprintf("%d.00", i+1) {
			t.Errorf("%s has %s after the spread", id, acc.Balance)
		}
		counts[acc.Node]++
	}
	if counts["account-1"] != 3 || counts["account-2"] != 3 {
		t.Fatalf("accounts per node after the spread: %v", counts)
	}
	out.Reset()
	if err := spread(ctx, c, "s2", false, &out); err != nil || !strings.Contains(out.String(), "nothing to move") {
		t.Fatalf("a second spread: %v\n%s", err, out.String())
	}
}
