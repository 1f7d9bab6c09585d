// Command tsbankctl holds the operator's one-shot jobs:
//
//	tsbankctl migrate KIND=URL ...   apply migrations, e.g. account=postgres://…/tsbank_account_1,
//	                                 then provision NATS when NATS_URL is set
//	tsbankctl provision              create or update the streams, buckets and consumer on NATS
//	tsbankctl nats-config [NODE...]  print the NATS server configuration (deploy/nats/nats.conf)
//	tsbankctl secrets                print a fresh .env: every password and key of the deployment
//	tsbankctl demo                   open a few accounts on both nodes, deposit and transfer
//	tsbankctl keygen                 print a fresh coordinator signing key and its public key as env lines
//	tsbankctl customer add <customer> <account>...   add a customer (password: CUSTOMER_PASSWORD, or generated and printed once)
//	tsbankctl customer grant <customer> <account>    give a customer one more account
//	tsbankctl keygen-account         print a fresh AUTH_ISSUER_SEED and AUTH_ISSUER_PUBLIC_KEY
//	tsbankctl bench [flags]          load a running bank through its public subjects, report and check the money (bench -h)
//	tsbankctl history-export <account> [QUERY]   the account's whole history (or QUERY's rows) as one CSV file
//	tsbankctl spread [-n]            move accounts so that every live node holds as many (-n: only print the plan)
//
// Every command that speaks NATS connects to NATS_URL (default nats://127.0.0.1:4222) as
// NATS_USER / NATS_PASSWORD; provisioning needs the operator, since no service may create a
// stream, a bucket or a consumer. It reads JS_REPLICAS (default 1; 3 on a cluster), LEASE_TTL
// (default 3s: how long a dead node's lease outlives it) and EVENTS_RETENTION (default 720h: how
// long the events stream keeps an event; at least 10m, or 0 for ever; the history database is the
// long-term store). The demo uses fixed request ids, so
// running it again changes nothing.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/decisionsig"
	"tsbank/migrations"
	"tsbank/platform/natsconf"
	"tsbank/platform/provision"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tsbankctl:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: tsbankctl migrate KIND=URL ... | provision | nats-config [NODE...] | secrets | demo | customer add|grant ... | keygen | keygen-account | bench [flags] | history-export <account> [QUERY] | spread [-n]")
	}
	switch args[0] {
	case "migrate":
		if err := migrate(args[1:], out); err != nil {
			return err
		}
		if os.Getenv("NATS_URL") == "" {
			return nil
		}
		return provisionNATS(out)
	case "provision":
		return provisionNATS(out)
	case "secrets":
		return secrets(out)
	case "nats-config":
		// The account nodes of the deployment, each its own NATS user.
		nodes := []string{"account-1", "account-2"}
		if len(args) > 1 {
			nodes = args[1:]
		}
		_, err := io.WriteString(out, natsconf.Render(natsconf.Options{Nodes: nodes}))
		return err
	case "demo":
		nc, err := connect("tsbankctl-demo")
		if err != nil {
			return err
		}
		defer nc.Close()
		return demo(client.New(nc), out)
	case "keygen":
		return keygen(out)
	case "customer":
		return customerCmd(args[1:], out)
	case "keygen-account":
		return keygenAccount(out)
	case "bench":
		return bench(args[1:], out, os.Stderr)
	case "history-export":
		return historyExport(args[1:], out)
	case "spread":
		return spreadCmd(args[1:], out)
	}
	return fmt.Errorf("unknown command %q: use migrate, provision, nats-config, secrets, demo, customer, keygen, keygen-account, bench, history-export or spread", args[0])
}

// connect connects to NATS_URL as NATS_USER.
func connect(name string) (*nats.Conn, error) {
	nc, err := nats.Connect(natsURL(), credentials(name)...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", natsURL(), err)
	}
	return nc, nil
}

func natsURL() string {
	if url := os.Getenv("NATS_URL"); url != "" {
		return url
	}
	return nats.DefaultURL
}

// credentials are the connection options of NATS_USER, retrying a while: in a deployment the
// server may still be starting.
func credentials(name string) []nats.Option {
	opts := []nats.Option{nats.Name(name), nats.RetryOnFailedConnect(true), nats.MaxReconnects(30), nats.ReconnectWait(time.Second)}
	if u := os.Getenv("NATS_USER"); u != "" {
		opts = append(opts, nats.UserInfo(u, os.Getenv("NATS_PASSWORD")))
	}
	return opts
}

// provisionNATS creates or updates the bank's JetStream assets (platform/provision).
func provisionNATS(out io.Writer) error {
	o, err := provisionOptions(os.Getenv)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := provision.At(ctx, natsURL(), o, credentials("tsbankctl-provision")...); err != nil {
		return err
	}
	kept := "for ever"
	if o.EventsRetention > 0 {
		kept = o.EventsRetention.String()
	}
	fmt.Fprintf(out, "provisioned NATS: stream %s (events kept %s), buckets %s, %s, %s, consumer %s (replicas %d, lease TTL %s)\n",
		contract.EventsStream, kept, contract.AccountsBucket, contract.NodesBucket, contract.LeasesBucket,
		contract.HistoryConsumer, o.Replicas, o.LeaseTTL)
	return nil
}

// provisionOptions reads JS_REPLICAS, LEASE_TTL and EVENTS_RETENTION.
func provisionOptions(getenv func(string) string) (provision.Options, error) {
	o := provision.Defaults
	if v := getenv("JS_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5 {
			return o, fmt.Errorf("JS_REPLICAS=%q: give a number from 1 to 5", v)
		}
		o.Replicas = n
	}
	if v := getenv("LEASE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 500*time.Millisecond {
			return o, fmt.Errorf("LEASE_TTL=%q: give a duration of at least 500ms, such as 3s", v)
		}
		o.LeaseTTL = d
	}
	// The retention may not be shorter than the stream's duplicate window, which lets the
	// stream drop a node's re-publish of an event after a crash.
	switch v := getenv("EVENTS_RETENTION"); v {
	case "":
	case "0":
		o.EventsRetention = provision.KeepEvents
	default:
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Minute {
			return o, fmt.Errorf("EVENTS_RETENTION=%q: give a duration of at least 10m (the stream's duplicate window), such as 720h, or 0 to keep every event", v)
		}
		o.EventsRetention = d
	}
	return o, nil
}

// keygen prints a fresh coordinator signing key as the two lines of .env that use it: the seed
// for the coordinator, the public key for every account node (to rotate, list the old and the
// new public key on the nodes, then change the coordinator's seed).
func keygen(out io.Writer) error {
	seed, public, err := decisionsig.Generate()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "COORDINATOR_SIGNING_KEY=%s\nCOORDINATOR_PUBLIC_KEYS=%s\n", seed, public)
	return err
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
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// In a deployment that has just started (`up -d` returns before its services serve), wait
	// until both nodes, the coordinator and the customer directory answer.
	for {
		nodes, err := c.Nodes(ctx)
		if err == nil && len(nodes.Nodes) >= 2 {
			err = c.Ping(ctx, "coordinator", "customers")
		}
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bank is not serving (is `docker-compose up -d` running?): %v", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	accounts := []struct{ id, node, deposit string }{
		{"alice", "account-1", "500.00"}, {"carol", "account-1", "80.00"},
		{"bob", "account-2", "250.00"}, {"dave", "account-2", "0.00"},
	}
	// The customers first, in the customer directory (the auth service), each owning the account
	// of their name: DEMO_<CUSTOMER>_PASSWORD is the password they log in with. Without it the
	// customer is not added (the account is opened all the same, and only the operator uses it);
	// one that exists already is left as it is, so a second run changes nothing.
	for _, a := range accounts {
		if err := demoCustomer(ctx, c, a.id, out); err != nil {
			return err
		}
	}
	for _, a := range accounts {
		if _, err := c.Open(ctx, a.id, contract.OpenRequest{ID: "demo-open", Currency: "EUR", Node: a.node}); err != nil {
			return fmt.Errorf("open %s: %w", a.id, err)
		}
		// A teller's deposit: the demo runs as the operator; customers may not deposit.
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
	fx, err := demoExchange(ctx, c, out)
	if err != nil {
		return err
	}
	for _, a := range append(accounts, fx...) {
		b, err := c.Balance(ctx, a.id)
		if err != nil {
			return fmt.Errorf("balance %s: %w", a.id, err)
		}
		fmt.Fprintf(out, "%-6s on %s  balance %8s %s\n", a.id, a.node, b.Balance, b.Currency)
	}
	return nil
}

// demoExchange opens erin's dollar account and the bank's exchange accounts (fx-USD funded by a
// teller: the bank's dollars), sets the EUR/USD rates both ways, and has alice pay erin 20.00 EUR
// in dollars at a quote. Every request has a fixed id, so a second run changes nothing (the
// quote and the transfer are retries, answered as the first time, expired or not).
func demoExchange(ctx context.Context, c *client.Client, out io.Writer) ([]struct{ id, node, deposit string }, error) {
	accounts := []struct{ id, node, deposit string }{
		{"erin", "account-2", "0.00"}, {contract.ExchangeAccount("EUR"), "account-1", "0.00"}, {contract.ExchangeAccount("USD"), "account-2", "5000.00"},
	}
	for _, a := range accounts {
		currency := "USD"
		if a.id == contract.ExchangeAccount("EUR") {
			currency = "EUR"
		}
		if _, err := c.Open(ctx, a.id, contract.OpenRequest{ID: "demo-open", Currency: currency, Node: a.node}); err != nil {
			return nil, fmt.Errorf("open %s: %w", a.id, err)
		}
		if a.deposit != "0.00" {
			if _, err := c.Deposit(ctx, a.id, contract.MoneyRequest{ID: "demo-liquidity", Amount: a.deposit, Description: "the bank's dollars"}); err != nil {
				return nil, fmt.Errorf("deposit into %s: %w", a.id, err)
			}
		}
	}
	for _, r := range []contract.RateSetRequest{
		{ID: "demo-rate-eur-usd", Base: "EUR", Quote: "USD", Rate: "1.0842", By: "demo"},
		{ID: "demo-rate-usd-eur", Base: "USD", Quote: "EUR", Rate: "0.9201", By: "demo"},
	} {
		if _, err := c.SetRate(ctx, r); err != nil {
			return nil, fmt.Errorf("set rate %s/%s: %w", r.Base, r.Quote, err)
		}
	}
	q, err := c.Quote(ctx, "alice", contract.QuoteRequest{ID: "demo-quote", To: "erin", Amount: "20.00"})
	if err != nil {
		return nil, fmt.Errorf("quote: %w", err)
	}
	tr, err := c.Transfer(ctx, "alice", contract.TransferRequest{ID: "demo-fx", Quote: q.ID, Description: "to New York"})
	if err != nil {
		return nil, fmt.Errorf("exchange: %w", err)
	}
	fmt.Fprintf(out, "exchange %-14s alice -> erin  %s %s = %s %s at %s  %s %s\n", tr.ID, q.FromAmount, q.FromCurrency,
		q.ToAmount, q.ToCurrency, q.Rate, tr.Status, tr.Reason)
	return accounts, nil
}

// demoCustomer adds customer id with the account of the same name and the password in
// DEMO_<ID>_PASSWORD, unless the variable is empty or the customer exists already.
func demoCustomer(ctx context.Context, c *client.Client, id string, out io.Writer) error {
	v := "DEMO_" + strings.ToUpper(id) + "_PASSWORD"
	password := os.Getenv(v)
	if password == "" {
		fmt.Fprintf(out, "customer %-5s not added: %s is not set\n", id, v)
		return nil
	}
	for {
		cu, err := c.Customer(ctx, id)
		switch code := contract.CodeOf(err); {
		case err == nil:
			fmt.Fprintf(out, "customer %-5s exists already, with accounts %s\n", id, strings.Join(cu.Accounts, ", "))
			return nil
		case code == contract.CodeCustomerNotFound:
			cu, err = c.AddCustomer(ctx, contract.AddCustomerRequest{ID: "demo-customer-" + id, Customer: id, Password: password, Accounts: []string{id}})
			if contract.CodeOf(err) == contract.CodeCustomerExists { // added meanwhile by someone else
				continue
			}
			if err != nil {
				return fmt.Errorf("add customer %s: %w", id, err)
			}
			fmt.Fprintf(out, "customer %-5s added, with accounts %s (password: %s)\n", id, strings.Join(cu.Accounts, ", "), v)
			return nil
		case code == contract.CodeNodeUnavailable: // the auth service is starting
			select {
			case <-ctx.Done():
				return fmt.Errorf("customer %s: the customer directory (auth service) does not answer: %w", id, err)
			case <-time.After(250 * time.Millisecond):
			}
		default:
			return fmt.Errorf("customer %s: %w", id, err)
		}
	}
}
