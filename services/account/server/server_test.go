package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/testkit"
)

func TestAccountsLiveOnTheNodeThatOpenedThem(t *testing.T) {
	t.Parallel()
	b := startNodes(t)
	alice := b.open(t, "alice", "account-1")
	bob := b.open(t, "bob", "account-2")
	if alice.Node != "account-1" || bob.Node != "account-2" {
		t.Fatalf("nodes = %s, %s; want account-1, account-2", alice.Node, bob.Node)
	}
	for id, want := range map[string]string{"alice": "account-1", "bob": "account-2"} {
		w, err := b.c.Whereis(ctx(t), id)
		if err != nil || w.Node != want {
			t.Fatalf("whereis %s = %+v, %v; want %s", id, w, err, want)
		}
		got, err := b.c.Get(ctx(t), id)
		if err != nil || got.Node != want || got.Currency != "EUR" || got.Balance != "0.00" {
			t.Fatalf("get %s = %+v, %v", id, got, err)
		}
	}
	// Each node's database holds only its own account.
	for name, want := range map[string]string{"account-1": "alice", "account-2": "bob"} {
		if ids := accountIDs(t, b.dbs[name]); len(ids) != 1 || ids[0] != want {
			t.Fatalf("%s holds %v, want [%s]", name, ids, want)
		}
	}
	if _, err := b.c.Whereis(ctx(t), "carol"); contract.CodeOf(err) != contract.CodeAccountNotFound {
		t.Fatalf("whereis carol = %v, want account_not_found", err)
	}
}

func TestUnplacedOpenIsPlacedOnALiveNode(t *testing.T) {
	t.Parallel()
	b := startNodes(t)
	placed := map[string]int{}
	for i := range 20 {
		a := b.open(t, fmt.Sprintf("u%02d", i), "")
		placed[a.Node]++
	}
	if placed["account-1"]+placed["account-2"] != 20 {
		t.Fatalf("placements = %v", placed)
	}
	g, err := b.c.OpenGenerated(ctx(t), contract.OpenRequest{ID: "gen-1", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.c.OpenGenerated(ctx(t), contract.OpenRequest{ID: "gen-1", Currency: "USD"})
	if err != nil || again.ID != g.ID || again.Node != g.Node {
		t.Fatalf("retried generated open = %+v, %v; want %+v", again, err, g)
	}
}

func TestListsAccountsPerNodeAndOverall(t *testing.T) {
	t.Parallel()
	b := startNodes(t)
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("l%02d", i)
		b.open(t, id, []string{"account-1", "account-2"}[i%2])
		want = append(want, id)
	}
	var got []string
	after := ""
	for {
		page, err := b.c.List(ctx(t), contract.ListRequest{After: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Accounts {
			got = append(got, a.ID)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("overall list = %v, want %v", got, want)
	}
	one, err := b.c.List(ctx(t), contract.ListRequest{Node: "account-2"})
	if err != nil || len(one.Accounts) != 3 || one.Next != "" {
		t.Fatalf("account-2 list = %+v, %v; want 3 accounts", one, err)
	}
	nodes, err := b.c.Nodes(ctx(t))
	if err != nil || len(nodes.Nodes) != 2 || nodes.Nodes[0].Name != "account-1" {
		t.Fatalf("nodes = %+v, %v", nodes, err)
	}
	_, err = b.c.List(ctx(t), contract.ListRequest{Limit: 1001})
	wantCode(t, err, contract.CodeBadRequest)
	// "limit":0 is out of range too, not the default (as the README says): the Go client's
	// ListRequest leaves a zero limit out, so the request is sent as JSON.
	var l contract.AccountList
	wantCode(t, b.c.Call(ctx(t), contract.SubjectListAccounts, json.RawMessage(`{"limit":0}`), &l), contract.CodeBadRequest)
}

func TestRacingOpensOfOneIDLeaveExactlyOneOwner(t *testing.T) {
	t.Parallel()
	b := startNodes(t)
	for i := range 20 {
		id := fmt.Sprintf("race%02d", i)
		var wg sync.WaitGroup
		results := make([]error, 2)
		for k, name := range []string{"account-1", "account-2"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, results[k] = b.c.Open(ctx(t), id, contract.OpenRequest{ID: "o-" + name, Currency: "EUR", Node: name})
			}()
		}
		wg.Wait()
		wins := 0
		for _, err := range results {
			if err == nil {
				wins++
			} else if contract.CodeOf(err) != contract.CodeAccountExists {
				t.Fatalf("%s: loser got %v, want account_exists", id, err)
			}
		}
		if wins != 1 {
			t.Fatalf("%s: %d opens succeeded, want 1 (%v)", id, wins, results)
		}
	}
	// Every id is in exactly one node's database, and that node is the registered owner.
	seen := map[string]string{}
	for name, url := range b.dbs {
		for _, id := range accountIDs(t, url) {
			if other, dup := seen[id]; dup {
				t.Fatalf("%s is on %s and %s", id, other, name)
			}
			seen[id] = name
			if w, err := b.c.Whereis(ctx(t), id); err != nil || w.Node != name {
				t.Fatalf("whereis %s = %+v, %v; its row is on %s", id, w, err, name)
			}
		}
	}
	if len(seen) != 20 {
		t.Fatalf("%d accounts stored, want 20", len(seen))
	}
}

func TestDepositWithdrawAndBalance(t *testing.T) {
	t.Parallel()
	b := startNodes(t)
	b.open(t, "alice", "account-2")
	// Through the typed client, from a connection whose requests may land on either node.
	r := b.deposit(t, "alice", "d-1", "100.00")
	if r.BalanceAfter != "100.00" || r.Amount != "100.00" || r.Type != "deposit" || r.EventID == "" {
		t.Fatalf("deposit receipt = %+v", r)
	}
	w, err := b.c.Withdraw(ctx(t), "alice", contract.MoneyRequest{ID: "w-1", Amount: "30.5", Description: "rent"})
	if err != nil || w.BalanceAfter != "69.50" || w.Amount != "-30.50" {
		t.Fatalf("withdraw = %+v, %v", w, err)
	}
	// As raw bytes, the way `nats req` sends them.
	msg, err := b.nc.Request(contract.AccountSubject("alice", "deposit"), []byte(`{"id":"d-2","amount":"0.50"}`), 5*time.Second)
	if err != nil || client.ReplyError(msg) != nil {
		t.Fatalf("raw deposit: %v %v", err, client.ReplyError(msg))
	}
	msg, err = b.nc.Request(contract.AccountSubject("alice", "balance"), nil, 5*time.Second)
	if err != nil || string(msg.Data) != `{"account":"alice","currency":"EUR","balance":"70.00","on_hold":"0.00","available":"70.00","event_seq":3}` {
		t.Fatalf("raw balance = %s, %v", msg.Data, err)
	}
}

func TestRetriesAreAppliedOnce(t *testing.T) {
	t.Parallel()
	b := startNodes(t)
	b.open(t, "alice", "account-1")
	first := b.deposit(t, "alice", "d-1", "10.00")
	for range 3 {
		again := b.deposit(t, "alice", "d-1", "10.00")
		if again != first {
			t.Fatalf("retry receipt = %+v, want the first %+v", again, first)
		}
	}
	if bal := b.balance(t, "alice"); bal.Balance != "10.00" {
		t.Fatalf("balance = %s after one deposit retried, want 10.00", bal.Balance)
	}
	_, err := b.c.Deposit(ctx(t), "alice", contract.MoneyRequest{ID: "d-1", Amount: "11.00"})
	wantCode(t, err, contract.CodeConflict)
	_, err = b.c.Withdraw(ctx(t), "alice", contract.MoneyRequest{ID: "d-1", Amount: "10.00"})
	wantCode(t, err, contract.CodeConflict)
	// Keys are per account: bob may use d-1 too.
	b.open(t, "bob", "account-2")
	b.deposit(t, "bob", "d-1", "10.00")
	// A retried open returns the account; an open of a taken id with another request id is refused.
	if _, err := b.c.Open(ctx(t), "alice", contract.OpenRequest{ID: "o-alice", Currency: "EUR", Node: "account-1"}); err != nil {
		t.Fatalf("retried open: %v", err)
	}
	_, err = b.c.Open(ctx(t), "alice", contract.OpenRequest{ID: "o-2", Currency: "EUR"})
	wantCode(t, err, contract.CodeAccountExists)
	_, err = b.c.Open(ctx(t), "alice", contract.OpenRequest{ID: "o-alice", Currency: "USD", Node: "account-1"})
	wantCode(t, err, contract.CodeConflict)
}

// TestTheNodePrunesOldIdempotencyRecords runs a node with a one-hour retention, checked every
// 50 ms, and ages one deposit's record by two hours: the node deletes it and keeps the other.
func TestTheNodePrunesOldIdempotencyRecords(t *testing.T) {
	t.Parallel()
	b := newHarness(t)
	b.addNode(t, "account-1", testkit.Postgres(t, "account"), "IDEMPOTENCY_RETENTION", "1h", "PRUNE_INTERVAL", "50ms")
	b.open(t, "alice", "account-1")
	b.deposit(t, "alice", "d-old", "1.00")
	kept := b.deposit(t, "alice", "d-new", "2.00")
	pool, err := pgxpool.New(ctx(t), b.dbs["account-1"])
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx(t), `UPDATE requests SET created_at = now() - interval '2 hours' WHERE request_id = 'd-old'`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ids []string
		err := pool.QueryRow(ctx(t), `SELECT coalesce(array_agg(request_id ORDER BY request_id), '{}') FROM requests`).Scan(&ids)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(ids, " ") == "d-new o-alice" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records = %v 5 s after d-old aged past the retention, want d-new and o-alice", ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if again := b.deposit(t, "alice", "d-new", "2.00"); again != kept {
		t.Fatalf("retry of the kept d-new = %+v, want its first receipt %+v", again, kept)
	}
}

// TestAnOverdraftIsTheBanksLimitNotTheCustomersOpen pins issue 10, item 5: open took an
// overdraft limit from the customer, any limit. Now an open asking for one is refused, creates
// nothing (no account, no registry entry) and names the operator request; the account opens at 0,
// and the limit request lets it draw into an overdraft.
func TestAnOverdraftIsTheBanksLimitNotTheCustomersOpen(t *testing.T) {
	t.Parallel()
	b := startNodes(t)
	b.open(t, "alice", "account-1")
	b.deposit(t, "alice", "d-1", "10.00")
	_, err := b.c.Withdraw(ctx(t), "alice", contract.MoneyRequest{ID: "w-1", Amount: "10.01"})
	wantCode(t, err, contract.CodeInsufficient)
	if bal := b.balance(t, "alice"); bal.Balance != "10.00" {
		t.Fatalf("refused withdrawal changed the balance to %s", bal.Balance)
	}

	msg, err := b.nc.Request(contract.AccountSubject("carol", contract.OpOpen),
		[]byte(`{"id":"o-1","currency":"EUR","overdraft_limit":"10000000000000.00"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if e := client.ReplyError(msg); e == nil || e.Code != contract.CodeBadRequest || !strings.Contains(e.Message, "bank.account.carol.limit") {
		t.Fatalf("open with an overdraft = %s, want bad_request naming bank.account.carol.limit", msg.Data)
	}
	_, err = b.c.Whereis(ctx(t), "carol")
	wantCode(t, err, contract.CodeAccountNotFound)

	carol := b.open(t, "carol", "account-2")
	if carol.OverdraftLimit != "0.00" {
		t.Fatalf("carol opened with overdraft limit %s, want 0.00", carol.OverdraftLimit)
	}
	_, err = b.c.Withdraw(ctx(t), "carol", contract.MoneyRequest{ID: "w-0", Amount: "0.01"})
	wantCode(t, err, contract.CodeInsufficient)
	limited, err := b.c.SetLimit(ctx(t), "carol", contract.LimitRequest{ID: "l-1", OverdraftLimit: "50.00"})
	if err != nil || limited.OverdraftLimit != "50.00" || limited.Balance != "0.00" {
		t.Fatalf("limit = %+v, %v", limited, err)
	}
	w, err := b.c.Withdraw(ctx(t), "carol", contract.MoneyRequest{ID: "w-1", Amount: "50.00"})
	if err != nil || w.BalanceAfter != "-50.00" {
		t.Fatalf("withdraw within overdraft = %+v, %v", w, err)
	}
	_, err = b.c.Withdraw(ctx(t), "carol", contract.MoneyRequest{ID: "w-2", Amount: "0.01"})
	wantCode(t, err, contract.CodeInsufficient)
}

// TestALimitRetriedWithItsIdIsAppliedOnce: a retry of a limit request gets its first reply and
// does not undo a later limit; the same id with another limit is a conflict. The later limit is
// below what the account has drawn, which is allowed: it only stops further drawing.
func TestALimitRetriedWithItsIdIsAppliedOnce(t *testing.T) {
	t.Parallel()
	b := startNodes(t)
	b.open(t, "carol", "account-1")
	first, err := b.c.SetLimit(ctx(t), "carol", contract.LimitRequest{ID: "l-1", OverdraftLimit: "50.00"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.c.Withdraw(ctx(t), "carol", contract.MoneyRequest{ID: "w-1", Amount: "30.00"}); err != nil {
		t.Fatal(err)
	}
	lowered, err := b.c.SetLimit(ctx(t), "carol", contract.LimitRequest{ID: "l-2", OverdraftLimit: "10.00"})
	if err != nil || lowered.OverdraftLimit != "10.00" || lowered.Balance != "-30.00" {
		t.Fatalf("limit lowered below what is drawn = %+v, %v", lowered, err)
	}
	again, err := b.c.SetLimit(ctx(t), "carol", contract.LimitRequest{ID: "l-1", OverdraftLimit: "50.00"})
	if err != nil || again != first {
		t.Fatalf("retried limit = %+v, %v; want its first reply %+v", again, err, first)
	}
	if acc, err := b.c.Get(ctx(t), "carol"); err != nil || acc.OverdraftLimit != "10.00" {
		t.Fatalf("after the retry carol = %+v, %v; want the later limit 10.00", acc, err)
	}
	_, err = b.c.Withdraw(ctx(t), "carol", contract.MoneyRequest{ID: "w-2", Amount: "0.01"})
	wantCode(t, err, contract.CodeInsufficient)
	if d := b.deposit(t, "carol", "d-1", "5.00"); d.BalanceAfter != "-25.00" {
		t.Fatalf("deposit into an account beyond its limit = %+v", d)
	}
	_, err = b.c.SetLimit(ctx(t), "carol", contract.LimitRequest{ID: "l-1", OverdraftLimit: "60.00"})
	wantCode(t, err, contract.CodeConflict)
}

func TestCloseRules(t *testing.T) {
	t.Parallel()
	b := startNodes(t)
	b.open(t, "alice", "account-2")
	b.deposit(t, "alice", "d-1", "5.00")
	_, err := b.c.Close(ctx(t), "alice", contract.CloseRequest{ID: "c-1"})
	wantCode(t, err, contract.CodeAccountNotEmpty)
	if _, err := b.c.Withdraw(ctx(t), "alice", contract.MoneyRequest{ID: "w-1", Amount: "5.00"}); err != nil {
		t.Fatal(err)
	}
	closed, err := b.c.Close(ctx(t), "alice", contract.CloseRequest{ID: "c-2"})
	if err != nil || closed.Status != "closed" || closed.ClosedAt == nil {
		t.Fatalf("close = %+v, %v", closed, err)
	}
	if again, err := b.c.Close(ctx(t), "alice", contract.CloseRequest{ID: "c-2"}); err != nil || again.Status != "closed" {
		t.Fatalf("retried close = %+v, %v", again, err)
	}
	_, err = b.c.Deposit(ctx(t), "alice", contract.MoneyRequest{ID: "d-2", Amount: "1.00"})
	wantCode(t, err, contract.CodeAccountClosed)
	_, err = b.c.Close(ctx(t), "alice", contract.CloseRequest{ID: "c-3"})
	wantCode(t, err, contract.CodeAccountClosed)
	// The id stays taken.
	_, err = b.c.Open(ctx(t), "alice", contract.OpenRequest{ID: "o-9", Currency: "EUR"})
	wantCode(t, err, contract.CodeAccountExists)
}

func TestAnUnreachableOwnerIsReportedAsUnavailable(t *testing.T) {
	t.Parallel()
	b := startNodes(t)
	b.open(t, "bob", "account-2")
	b.nodes["account-2"].Stop(5 * time.Second)
	// Whichever node the request lands on now, only account-1 is left to route it.
	_, err := b.c.Balance(ctx(t), "bob")
	wantCode(t, err, contract.CodeNodeUnavailable)
	_, err = b.c.Open(ctx(t), "zed", contract.OpenRequest{ID: "o-1", Currency: "EUR", Node: "account-2"})
	wantCode(t, err, contract.CodeNodeUnavailable)
	// A withdrawal is not forwarded: account-1 sees it too, and says the owner is away (once its
	// list of live nodes, read at most once a second, no longer has account-2).
	testkit.CheckFor(t, 5*time.Second, 100*time.Millisecond, func() error {
		_, err := b.c.Withdraw(ctx(t), "bob", contract.MoneyRequest{ID: "w-1", Amount: "1.00"})
		if contract.CodeOf(err) != contract.CodeNodeUnavailable {
			return fmt.Errorf("withdraw from a stopped owner: %v", err)
		}
		return nil
	})
}

// TestMoneyRequestsAreAnsweredByTheOwnerAlone pins that a deposit reaches the owner without any
// forwarding (every node receives it; only the owner answers), exactly once, and that an
// unknown account is not found.
func TestMoneyRequestsAreAnsweredByTheOwnerAlone(t *testing.T) {
	t.Parallel()
	b := startNodes(t)
	b.open(t, "bob", "account-2")
	for i := range 5 {
		r, err := b.c.Deposit(ctx(t), "bob", contract.MoneyRequest{ID: fmt.Sprintf("d-%d", i), Amount: "1.00"})
		if err != nil {
			t.Fatal(err)
		}
		if r.BalanceAfter != fmt.Sprintf("%d.00", i+1) {
			t.Fatalf("deposit %d: balance after %s", i, r.BalanceAfter)
		}
	}
	_, err := b.c.Deposit(ctx(t), "nobody", contract.MoneyRequest{ID: "d-1", Amount: "1.00"})
	wantCode(t, err, contract.CodeAccountNotFound)
}

func accountIDs(t *testing.T, url string) []string {
	t.Helper()
	pool, err := pgxpool.New(ctx(t), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(ctx(t), `SELECT id FROM accounts ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	return ids
}
