package history_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/history/history"
	"tsbank/services/history/history/memstore"
)

var (
	eur, _ = money.LookupCurrency("EUR")
	jpy, _ = money.LookupCurrency("JPY")
	t0     = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
)

// fakeClock stands still until the use case waits on it; a wait passes at once, moves the time
// on, and lets the test change the world meanwhile (onWait).
type fakeClock struct {
	now    time.Time
	waited []time.Duration
	onWait func()
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.now = c.now.Add(d)
	c.waited = append(c.waited, d)
	if c.onWait != nil {
		c.onWait()
	}
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// nodeAccount is an account as its fake node holds it.
type nodeAccount struct {
	currency money.Currency
	balance  int64
	seq      int64
}

// errNodeDown is what the fake nodes answer for an account whose node is down, marked as the
// Nodes port marks a node's failure.
var errNodeDown = fmt.Errorf("%w: node account-2 is down", history.ErrNodeUnavailable)

// fakeNodes are the account nodes: their accounts, which of them are down, and how often they
// were asked for a balance.
type fakeNodes struct {
	accounts  map[string]nodeAccount
	down      map[string]bool
	listErr   error
	balances  int          // Balance calls
	onBalance func(string) // called before a balance is answered
}

// nodesPage is the fake nodes' page of accounts: small, so that a few accounts take pages.
const nodesPage = 2

func newNodes() *fakeNodes {
	return &fakeNodes{accounts: map[string]nodeAccount{}, down: map[string]bool{}}
}

func (n *fakeNodes) lookup(account string) (nodeAccount, error) {
	if n.down[account] {
		return nodeAccount{}, errNodeDown
	}
	a, ok := n.accounts[account]
	if !ok {
		return a, fmt.Errorf("%w: account %s does not exist", history.ErrAccountNotFound, account)
	}
	return a, nil
}

func (n *fakeNodes) Currency(_ context.Context, account string) (money.Currency, error) {
	a, err := n.lookup(account)
	return a.currency, err
}

func (n *fakeNodes) Balance(_ context.Context, account string) (history.NodeBalance, error) {
	n.balances++
	if n.onBalance != nil {
		n.onBalance(account)
	}
	a, err := n.lookup(account)
	if err != nil {
		return history.NodeBalance{}, err
	}
	return history.NodeBalance{Balance: money.Format(a.balance, a.currency), Currency: a.currency.Code, EventSeq: a.seq}, nil
}

func (n *fakeNodes) Accounts(_ context.Context, after string) ([]string, string, error) {
	if n.listErr != nil {
		return nil, "", n.listErr
	}
	var ids []string
	for id := range n.accounts {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) <= nodesPage {
		return ids, "", nil
	}
	return ids[:nodesPage], ids[nodesPage-1], nil
}

// bank is a history service on the in-memory store, the fake nodes and the fake clock.
type bank struct {
	t     *testing.T
	svc   *history.Service
	store *memstore.Store
	nodes *fakeNodes
	clock *fakeClock
	ids   int
	found []int // what the Differences hook was told
}

func newBank(t *testing.T) *bank {
	b := &bank{t: t, store: memstore.New(), nodes: newNodes(), clock: &fakeClock{now: t0.Add(24 * time.Hour)}}
	b.svc = &history.Service{Store: b.store, Nodes: b.nodes, Cursors: history.Cursors{Secret: []byte("test")}, Clock: b.clock,
		CatchUp: 5 * time.Second, Differences: func(n int) { b.found = append(b.found, n) }}
	return b
}

// row makes an event of account numbered seq, amount in minor units of EUR, at t0 + seq minutes.
func (b *bank) row(account string, seq, amount, balance int64) history.Row {
	b.ids++
	typ := contract.EventDeposit
	if amount < 0 {
		typ = contract.EventWithdrawal
	}
	return history.Row{EventID: fmt.Sprintf("00000000-0000-7000-8000-%012d", b.ids), Account: account, Type: typ,
		Amount: amount, Currency: eur, BalanceAfter: balance, At: t0.Add(time.Duration(seq) * time.Minute),
		Node: "account-1", StreamSeq: uint64(b.ids), AccountSeq: seq}
}

// events gives account events of the amounts given, numbered from 1, both in the history and on
// its node, and returns the rows.
func (b *bank) events(account string, amounts ...int64) []history.Row {
	b.t.Helper()
	var rows []history.Row
	var balance int64
	for i, a := range amounts {
		balance += a
		rows = append(rows, b.row(account, int64(i+1), a, balance))
	}
	b.insert(rows...)
	b.nodes.accounts[account] = nodeAccount{currency: eur, balance: balance, seq: int64(len(amounts))}
	return rows
}

func (b *bank) insert(rows ...history.Row) {
	b.t.Helper()
	if _, err := b.store.Insert(context.Background(), rows); err != nil {
		b.t.Fatal(err)
	}
}

// wantRefusal fails unless err is a refusal of kind with a message.
func wantRefusal(t *testing.T, err, kind error) *history.Error {
	t.Helper()
	var e *history.Error
	if !errors.As(err, &e) || !errors.Is(err, kind) || e.Message == "" {
		t.Fatalf("error %v, want a refusal of kind %q", err, kind)
	}
	return e
}
