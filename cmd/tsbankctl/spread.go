package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"tsbank/contract"
	"tsbank/contract/client"
)

// spreadCmd moves accounts so that every live node holds as many as the others, give or take
// one: `tsbankctl spread [-n]`, -n printing the plan without moving anything.
func spreadCmd(args []string, out io.Writer) error {
	dry := false
	switch {
	case len(args) == 1 && args[0] == "-n":
		dry = true
	case len(args) > 0:
		return errors.New("usage: tsbankctl spread [-n]")
	}
	nc, err := connect("tsbankctl-spread")
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	return spread(ctx, client.New(nc), fmt.Sprintf("spread-%d", time.Now().UnixNano()), dry, out)
}

// plannedMove is one move of a spread.
type plannedMove struct{ Account, From, To string }

// planSpread returns the moves that leave each of nodes with as many accounts as the others,
// give or take one, moving as few as it can: from the nodes with the most to those with the
// fewest, the accounts of each node taken in id order. byNode lists each node's accounts; a node
// in byNode but not in nodes (not running) is left alone.
func planSpread(nodes []string, byNode map[string][]string) []plannedMove {
	nodes = slices.Sorted(slices.Values(nodes))
	total := 0
	for _, n := range nodes {
		total += len(byNode[n])
	}
	if len(nodes) < 2 {
		return nil
	}
	// The total%len(nodes) nodes that hold the most may keep one more: no account moves only
	// to move another back.
	fullest := slices.Clone(nodes)
	slices.SortStableFunc(fullest, func(a, b string) int { return len(byNode[b]) - len(byNode[a]) })
	quota := map[string]int{}
	for i, n := range fullest {
		quota[n] = total / len(nodes)
		if i < total%len(nodes) {
			quota[n]++
		}
	}
	var spare []plannedMove // accounts over their node's quota, not placed yet
	for _, n := range nodes {
		accounts := slices.Sorted(slices.Values(byNode[n]))
		for _, a := range accounts[min(quota[n], len(accounts)):] {
			spare = append(spare, plannedMove{Account: a, From: n})
		}
	}
	var plan []plannedMove
	for _, n := range nodes {
		for have := len(byNode[n]); have < quota[n] && len(spare) > 0; have++ {
			m := spare[0]
			spare, m.To = spare[1:], n
			plan = append(plan, m)
		}
	}
	return plan
}

func spread(ctx context.Context, c *client.Client, idPrefix string, dry bool, out io.Writer) error {
	live, err := c.Nodes(ctx)
	if err != nil {
		return fmt.Errorf("live nodes: %w", err)
	}
	var nodes []string
	for _, n := range live.Nodes {
		nodes = append(nodes, n.Name)
	}
	byNode := map[string][]string{}
	for req := (contract.ListRequest{Limit: 1000}); ; {
		page, err := c.List(ctx, req)
		if err != nil {
			return fmt.Errorf("list accounts: %w", err)
		}
		if page.Partial {
			return fmt.Errorf("nodes %v did not answer: spread once every node is running", page.Unavailable)
		}
		for _, a := range page.Accounts {
			byNode[a.Node] = append(byNode[a.Node], a.ID)
		}
		if page.Next == "" {
			break
		}
		req.After = page.Next
	}
	plan := planSpread(nodes, byNode)
	for _, n := range nodes {
		fmt.Fprintf(out, "%s: %d accounts\n", n, len(byNode[n]))
	}
	if len(plan) == 0 {
		fmt.Fprintln(out, "spread evenly already: nothing to move")
		return nil
	}
	for i, m := range plan {
		if dry {
			fmt.Fprintf(out, "would move %s from %s to %s\n", m.Account, m.From, m.To)
			continue
		}
		var mv contract.Move
		req := contract.MoveRequest{ID: fmt.Sprintf("%s-%d", idPrefix, i+1), Account: m.Account, To: m.To}
		// A move still going when its request's time is up is asked again with its id.
		for range 30 {
			if err = c.Call(ctx, contract.SubjectMoves, req, &mv); err != nil || mv.State == contract.MoveDone || mv.State == contract.MoveAborted {
				break
			}
			time.Sleep(time.Second)
		}
		if err != nil {
			return fmt.Errorf("move %s to %s: %w", m.Account, m.To, err)
		}
		fmt.Fprintf(out, "moved %s from %s to %s: %s (%d rows copied)\n", m.Account, m.From, m.To, mv.State, mv.Copied)
	}
	return nil
}
