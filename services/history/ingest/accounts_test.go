package ingest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/history/history"
	"tsbank/services/history/ingest"
	"tsbank/services/history/pgstore"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// nodeList answers bank.accounts.list as the nodes do, from a fixed list sorted by id.
type nodeList struct{ accounts []contract.Account }

func (l *nodeList) List(_ context.Context, req contract.ListRequest) (contract.AccountList, error) {
	i, _ := slices.BinarySearchFunc(l.accounts, req.After, func(a contract.Account, id string) int {
		if a.ID <= id {
			return -1
		}
		return 1
	})
	end := min(i+req.Limit, len(l.accounts))
	page := contract.AccountList{Accounts: l.accounts[i:end]}
	if end < len(l.accounts) {
		page.Next = l.accounts[end-1].ID
	}
	return page, nil
}

// TestAccountBalancesListsAccountsWithNoEvents pins issue 12's missing accounts: account_balances
// was built from the transactions alone, so an account with no event was not in it. The nodes'
// accounts, copied page by page into the accounts table, now are, at balance 0 with as_of NULL,
// beside those with events; a second copy rewrites nothing, and a closed account is updated.
func TestAccountBalancesListsAccountsWithNoEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), testkit.Postgres(t, "history"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := pgstore.New(pool)
	eur, _ := money.LookupCurrency("EUR")
	opened := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	nodes := &nodeList{}
	for i := range 2345 { // three pages
		nodes.accounts = append(nodes.accounts, contract.Account{ID: fmt.Sprintf("acc-%05d", i), Node: "account-1",
			Currency: "JPY", Status: "open", OpenedAt: opened})
	}
	nodes.accounts[0].Currency = "EUR" // acc-00000 has an event, below
	nodes.accounts[1].Currency = "EUR"
	if _, err := store.Insert(context.Background(), []history.Row{{EventID: "00000000-0000-7000-8000-000000000001",
		Account: "acc-00000", Type: "deposit", Amount: 1250, Currency: eur, BalanceAfter: 1250, At: opened.Add(time.Hour),
		Node: "account-1", StreamSeq: 1, AccountSeq: 1}}); err != nil {
		t.Fatal(err)
	}
	sync := &ingest.Accounts{Nodes: nodes, Store: store, Log: testkit.Logger(t), Interval: time.Hour, Timeout: 5 * time.Second}
	if n, err := sync.Sync(context.Background()); err != nil || n != 2345 {
		t.Fatalf("first copy: %d rows, %v; want 2345", n, err)
	}
	balances := func() map[string]string {
		rows, err := pool.Query(context.Background(), `SELECT account, currency, balance::text, coalesce(as_of::text, 'NULL') FROM account_balances`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var account, currency, balance, asOf string
			if err := rows.Scan(&account, &currency, &balance, &asOf); err != nil {
				t.Fatal(err)
			}
			if _, dup := out[account]; dup {
				t.Fatalf("%s is in account_balances twice", account)
			}
			out[account] = strings.Join([]string{currency, balance, asOf}, " ")
		}
		return out
	}
	got := balances()
	if len(got) != 2345 || got["acc-00000"] != "EUR 12.50 2026-01-01 01:00:00+00" || got["acc-02344"] != "JPY 0 NULL" || got["acc-00001"] != "EUR 0.00 NULL" {
		t.Fatalf("account_balances has %d accounts; acc-00000 %q, acc-00001 %q, acc-02344 %q", len(got), got["acc-00000"], got["acc-00001"], got["acc-02344"])
	}

	if n, err := sync.Sync(context.Background()); err != nil || n != 0 {
		t.Fatalf("second copy of the same list: %d rows written, %v; want 0", n, err)
	}
	closed := opened.Add(48 * time.Hour)
	nodes.accounts[7].Status, nodes.accounts[7].ClosedAt = "closed", &closed
	if n, err := sync.Sync(context.Background()); err != nil || n != 1 {
		t.Fatalf("copy after a close: %d rows written, %v; want 1", n, err)
	}
	var status string
	var closedAt time.Time
	if err := pool.QueryRow(context.Background(), `SELECT status, closed_at FROM accounts WHERE account = 'acc-00007'`).Scan(&status, &closedAt); err != nil ||
		status != "closed" || !closedAt.Equal(closed) {
		t.Fatalf("acc-00007: %s %v, %v", status, closedAt, err)
	}
}
