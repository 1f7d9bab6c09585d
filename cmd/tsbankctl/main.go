// Command tsbankctl holds the operator's one-shot jobs:
//
//	tsbankctl migrate KIND=URL ...   apply migrations, e.g. account=postgres://…/tsbank_account_1
//	tsbankctl demo                   open a few accounts on both nodes, deposit and transfer
//	tsbankctl customer add <customer> <account>...   add a customer (password: CUSTOMER_PASSWORD, or generated and printed once)
//	tsbankctl customer grant <customer> <account>    give a customer one more account
//	tsbankctl keygen-account         print a fresh AUTH_ISSUER_SEED and AUTH_ISSUER_PUBLIC_KEY
//
// demo and customer connect to NATS_URL (default nats://127.0.0.1:4222) as NATS_USER /
// NATS_PASSWORD, and use fixed request ids, so running them again changes nothing.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/migrations"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tsbankctl:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: tsbankctl migrate KIND=URL ... | demo | customer add|grant ... | keygen-account")
	}
	switch args[0] {
	case "migrate":
		return migrate(args[1:], out)
	case "demo":
		nc, err := connect("tsbankctl-demo")
		if err != nil {
			return err
		}
		defer nc.Close()
		return demo(client.New(nc), out)
	case "customer":
		return customerCmd(args[1:], out)
	case "keygen-account":
		return keygenAccount(out)
	}
	return fmt.Errorf("unknown command %q: use migrate, demo, customer or keygen-account", args[0])
}

// connect connects to NATS_URL as NATS_USER / NATS_PASSWORD, if set.
func connect(name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name)}
	if u := os.Getenv("NATS_USER"); u != "" {
		opts = append(opts, nats.UserInfo(u, os.Getenv("NATS_PASSWORD")))
	}
	url := os.Getenv("NATS_URL")
	if url == "" {
		url = nats.DefaultURL
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", url, err)
	}
	return nc, nil
}

// migrate applies each KIND=URL pair's migrations, retrying a while: in a deployment the
// database may still be starting.
func migrate(pairs []string, out io.Writer) error {
	if len(pairs) == 0 {
		return fmt.Errorf("migrate needs KIND=URL pairs, KIND one of %v", migrations.Databases)
	}
	for _, pair := range pairs {
		kind, url, ok := strings.Cut(pair, "=")
		if !ok || url == "" {
			return fmt.Errorf("%q is not KIND=URL", pair)
		}
		var err error
		for try := 0; try < 30; try++ {
			if err = migrations.Up(kind, url); err == nil {
				break
			}
			time.Sleep(time.Second)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "migrated %s database %s\n", kind, url[strings.LastIndex(url, "/")+1:])
	}
	return nil
}

// demo makes a small bank: alice and carol on account-1, bob and dave on account-2.
func demo(c *client.Client, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// In a deployment that has just started, wait until both nodes serve.
	for {
		nodes, err := c.Nodes(ctx)
		if err == nil && len(nodes.Nodes) >= 2 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the account nodes are not serving: %v", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	accounts := []struct{ id, node, deposit string }{
		{"alice", "account-1", "500.00"}, {"carol", "account-1", "80.00"},
		{"bob", "account-2", "250.00"}, {"dave", "account-2", "0.00"},
	}
	for _, a := range accounts {
		if _, err := c.Open(ctx, a.id, contract.OpenRequest{ID: "demo-open", Currency: "EUR", Node: a.node}); err != nil {
			return fmt.Errorf("open %s: %w", a.id, err)
		}
		if a.deposit != "0.00" {
			if _, err := c.Deposit(ctx, a.id, contract.MoneyRequest{ID: "demo-salary", Amount: a.deposit, Description: "salary"}); err != nil {
				return fmt.Errorf("deposit into %s: %w", a.id, err)
			}
		}
	}
	if _, err := c.Withdraw(ctx, "alice", contract.MoneyRequest{ID: "demo-atm", Amount: "40.00", Description: "ATM"}); err != nil {
		return fmt.Errorf("withdraw: %w", err)
	}
	for _, t := range []struct{ from, id, to, amount, description string }{
		{"alice", "demo-rent", "bob", "120.00", "rent"},
		{"bob", "demo-dinner", "carol", "35.50", "dinner"},
		{"carol", "demo-books", "alice", "12.30", "books"},
		{"dave", "demo-too-much", "alice", "10.00", "refused: dave has nothing"},
		{"alice", "demo-gift", "dave", "25.00", "gift"},
	} {
		tr, err := c.Transfer(ctx, t.from, contract.TransferRequest{ID: t.id, To: t.to, Amount: t.amount, Description: t.description})
		if err != nil {
			return fmt.Errorf("transfer %s: %w", t.id, err)
		}
		fmt.Fprintf(out, "transfer %-14s %-5s -> %-5s %8s  %s %s\n", t.id, t.from, t.to, tr.Amount, tr.Status, tr.Reason)
	}
	for _, a := range accounts {
		b, err := c.Balance(ctx, a.id)
		if err != nil {
			return fmt.Errorf("balance %s: %w", a.id, err)
		}
		fmt.Fprintf(out, "%-5s on %s  balance %8s %s\n", a.id, a.node, b.Balance, b.Currency)
	}
	return nil
}
