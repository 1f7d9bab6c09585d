package main_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/testkit"
)

// TestANodeThatDiedLeavesTheNodeListAndMakesAccountListsPartial kills account-2's process
// (SIGKILL: it cannot delete its heartbeat). Within the heartbeat's time to live and a second it
// is no longer listed as live (it was for 15 s before), and a list of every account says it is
// partial and names account-2, before and after its heartbeat expired, instead of failing first
// and then silently leaving account-2's accounts out.
func TestANodeThatDiedLeavesTheNodeListAndMakesAccountListsPartial(t *testing.T) {
	t.Parallel()
	ns := testkit.StartNATS(t)
	c := client.New(testkit.Connect(t, ns))
	_, keysEnv := coordinator(t)
	bin := testkit.Build(t, ".")
	procs := map[string]*testkit.Process{}
	for _, name := range []string{"account-1", "account-2"} {
		procs[name] = testkit.NewProcess(t, bin, "ACCOUNT_NODE="+name, "DATABASE_URL="+testkit.Postgres(t, "account"),
			"NATS_URL="+ns.ClientURL(), "REQUEST_TIMEOUT=1s", keysEnv)
		procs[name].Start(t)
	}
	ctx := context.Background()
	for i, id := range []string{"alice", "bob", "carol", "dave"} {
		if _, err := c.Open(ctx, id, contract.OpenRequest{ID: "o-" + id, Currency: "EUR", Node: []string{"account-1", "account-2"}[i%2]}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := c.List(ctx, contract.ListRequest{})
	if err != nil || len(all.Accounts) != 4 || all.Partial {
		t.Fatalf("with both nodes up: %+v, %v", all, err)
	}

	procs["account-2"].Kill(t)
	killed := time.Now()
	partial := func() error {
		// Bounded: a list sent in the instant after the SIGKILL may still be handed to the dead
		// node's subscription, which the server has not dropped yet, and get no answer.
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		l, err := c.List(ctx, contract.ListRequest{})
		if err != nil {
			return fmt.Errorf("the list failed instead of being partial: %w", err)
		}
		var ids []string
		for _, a := range l.Accounts {
			ids = append(ids, a.ID)
		}
		if !l.Partial || !slices.Equal(l.Unavailable, []string{"account-2"}) || !slices.Equal(ids, []string{"alice", "carol"}) {
			return fmt.Errorf("list %v partial %v unavailable %v; want alice, carol, partial, account-2 unavailable", ids, l.Partial, l.Unavailable)
		}
		return nil
	}
	testkit.CheckFor(t, 5*time.Second, 50*time.Millisecond, partial) // at once, give or take a lost request
	testkit.CheckFor(t, contract.NodeTTL+time.Second, 50*time.Millisecond, func() error {
		l, err := c.Nodes(ctx)
		if err != nil {
			return err
		}
		if len(l.Nodes) != 1 || l.Nodes[0].Name != "account-1" {
			return fmt.Errorf("live nodes %+v %v after account-2's SIGKILL", l.Nodes, time.Since(killed))
		}
		return nil
	})
	t.Logf("account-2 left the node list %.1f s after its SIGKILL", time.Since(killed).Seconds())
	if err := partial(); err != nil {
		t.Fatalf("after its heartbeat expired: %v", err)
	}
}
