package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/services/history/render"
	"tsbank/testkit"
)

func TestHistoryRecordsEveryCommittedChange(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.startHistory()
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.open("carol", "account-1", "EUR")
	b.deposit("alice", "100.00")
	if _, err := b.c.Withdraw(ctx(t), "alice", contract.MoneyRequest{ID: "w-1", Amount: "10.00", Description: "cash"}); err != nil {
		t.Fatal(err)
	}
	tr := b.transfer("alice", "t-1", "bob", "25.00")
	b.transfer("alice", "t-2", "carol", "5.00")
	if aborted := b.transfer("alice", "t-3", "bob", "1000.00"); aborted.Status != contract.TransferAborted {
		t.Fatalf("t-3 = %+v", aborted)
	}
	if n := b.historyMatchesOutboxes(); n != 6 {
		t.Fatalf("%d events, want 6 (deposit, withdrawal, two legs of each committed transfer)", n)
	}
	b.reconciled()

	var page contract.HistoryPage
	if err := b.c.Call(ctx(t), contract.HistorySubject("alice", "query"), contract.HistoryQuery{}, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != 4 || page.Rows[0].Type != "transfer_out" || page.Totals.Net != "60.00" || page.Currency != "EUR" {
		t.Fatalf("alice's page = %+v", page)
	}
	var legs contract.HistoryPage
	if err := b.c.Call(ctx(t), contract.HistorySubject("bob", "query"), contract.HistoryQuery{TransferID: tr.TransferID}, &legs); err != nil {
		t.Fatal(err)
	}
	if len(legs.Rows) != 1 || legs.Rows[0].Counterparty != "alice" || legs.Rows[0].Amount != "25.00" {
		t.Fatalf("bob's leg of t-1 = %+v", legs.Rows)
	}
	// The table and csv formats, as `nats req` prints them.
	msg, err := b.nc.Request(contract.HistorySubject("alice", "query"), []byte(`{"format":"table"}`), 5*time.Second)
	if err != nil || !strings.Contains(string(msg.Data), "transfer_out") || !strings.Contains(string(msg.Data), "net 60.00") {
		t.Fatalf("table:\n%s\n%v", msg.Data, err)
	}
	msg, err = b.nc.Request(contract.HistorySubject("alice", "query"), []byte(`{"format":"csv"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rows, err := render.ParseCSV(msg.Data); err != nil || len(rows) != 4 {
		t.Fatalf("csv parses to %d rows, %v", len(rows), err)
	}
	// A statement over the whole day.
	day := time.Now().UTC().Format(time.DateOnly)
	next := time.Now().UTC().Add(24 * time.Hour).Format(time.DateOnly)
	var st contract.Statement
	if err := b.c.Call(ctx(t), contract.HistorySubject("alice", "statement"), contract.StatementRequest{From: day, To: next}, &st); err != nil {
		t.Fatal(err)
	}
	if st.OpeningBalance != "0.00" || st.ClosingBalance != "60.00" || st.Totals.In != "100.00" || st.Totals.Out != "-40.00" || len(st.Rows) != 4 {
		t.Fatalf("statement = %+v", st)
	}
	// Bad requests that need the nodes to judge.
	var none contract.HistoryPage
	wantCode(t, b.c.Call(ctx(t), contract.HistorySubject("nobody", "query"), contract.HistoryQuery{}, &none), contract.CodeAccountNotFound)
	wantCode(t, b.c.Call(ctx(t), contract.HistorySubject("alice", "statement"), contract.StatementRequest{From: day}, &st), contract.CodeBadRequest)
}

// transferLoad runs random transfers among accounts from clients goroutines until stop closes.
func (b *bank) transferLoad(accounts []string, clients int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(c), 3))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				from, to := accounts[r.IntN(len(accounts))], accounts[r.IntN(len(accounts))]
				if from != to {
					rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					_, _ = b.c.Transfer(rctx, from, contract.TransferRequest{ID: fmt.Sprintf("l%d-%d", c, i), To: to, Amount: fmt.Sprintf("%d.00", 1+r.IntN(30))})
					cancel()
				}
			}
		}()
	}
	return &wg
}

func (b *bank) fourAccounts() []string {
	accounts := []string{"a1", "a2", "b1", "b2"}
	for i, id := range accounts {
		b.open(id, nodeNames[i/2], "EUR")
		b.deposit(id, "300.00")
	}
	return accounts
}

// TestHistoryCatchesUpAfterBeingStopped stops the history service while transfers go on, then
// restarts it: it catches up with nothing lost and nothing doubled, and reconciles.
func TestHistoryCatchesUpAfterBeingStopped(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.startHistory()
	accounts := b.fourAccounts()
	stop := make(chan struct{})
	wg := b.transferLoad(accounts, 4, stop)
	testkit.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		var n int
		_ = b.pool("history").QueryRow(ctx(t), `SELECT count(*) FROM transactions`).Scan(&n)
		if n < 50 {
			return fmt.Errorf("%d rows", n)
		}
		return nil
	})
	b.hist.Stop(5 * time.Second)
	var stoppedAt int
	_ = b.pool("history").QueryRow(ctx(t), `SELECT count(*) FROM transactions`).Scan(&stoppedAt)
	testkit.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error { // transfers go on without it
		var n int
		_ = b.pool("account-1").QueryRow(ctx(t), `SELECT count(*) FROM outbox`).Scan(&n)
		if n < stoppedAt/2+100 {
			return fmt.Errorf("%d events on account-1", n)
		}
		return nil
	})
	b.startHistory()
	close(stop)
	wg.Wait()
	b.settled()
	n := b.historyMatchesOutboxes()
	t.Logf("%d events in the history, %d of them ingested after the restart", n, n-stoppedAt)
	b.reconciled()
}

// TestHistorySIGKILLMidBatch kills the history process with SIGKILL while it ingests, in batches,
// a backlog of events, restarts it, and checks the history equals the outboxes.
func TestHistorySIGKILLMidBatch(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	accounts := b.fourAccounts()
	stop := make(chan struct{})
	wg := b.transferLoad(accounts, 4, stop)
	testkit.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error { // a backlog builds up
		var n int
		_ = b.pool("account-1").QueryRow(ctx(t), `SELECT count(*) FROM outbox`).Scan(&n)
		if n < 400 {
			return fmt.Errorf("%d events", n)
		}
		return nil
	})
	hist := testkit.NewProcess(t, testkit.Build(t, "tsbank/services/history/cmd/history"),
		"DATABASE_URL="+b.dbs["history"], "NATS_URL="+b.env["NATS_URL"], "INGEST_BATCH=20")
	hist.Start(t)
	testkit.CheckFor(t, 20*time.Second, 5*time.Millisecond, func() error { // part-way through the backlog
		var n int
		_ = b.pool("history").QueryRow(ctx(t), `SELECT count(*) FROM transactions`).Scan(&n)
		if n < 100 {
			return fmt.Errorf("%d rows", n)
		}
		return nil
	})
	hist.Kill(t)
	hist.Start(t)
	close(stop)
	wg.Wait()
	b.settled()
	t.Logf("%d events in the history after a SIGKILL mid-ingest", b.historyMatchesOutboxes())
	b.reconciled()
}

// TestBalanceAtAnyMomentFromTheNumberedEvents: alice's balance at every moment around each of her
// events, from bank.history.<account>.balance_at and from the SQL function balance_at, both
// against the balances her node reported after each event: 0 before her first, the balance after
// an event from its very time on, the newest balance at any later moment. An unknown account is
// account_not_found; a missing or malformed moment is bad_request.
func TestBalanceAtAnyMomentFromTheNumberedEvents(t *testing.T) {
	t.Parallel()
	b := startBank(t)
	b.startHistory()
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	type point struct {
		seq     int64
		balance string
	}
	var after []point
	note := func() {
		bal, err := b.c.Balance(ctx(t), "alice")
		if err != nil {
			t.Fatal(err)
		}
		after = append(after, point{bal.EventSeq, bal.Balance})
	}
	b.deposit("alice", "100.00")
	note()
	if _, err := b.c.Withdraw(ctx(t), "alice", contract.MoneyRequest{ID: "w-1", Amount: "10.00"}); err != nil {
		t.Fatal(err)
	}
	note()
	b.transfer("alice", "t-1", "bob", "25.00")
	note()
	b.transfer("bob", "t-2", "alice", "5.50")
	note()
	b.historyMatchesOutboxes()

	// Each event's time, from the history itself.
	times := map[int64]time.Time{}
	rows, err := b.pool("history").Query(ctx(t), `SELECT account_seq, at FROM transactions WHERE account = 'alice'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var seq int64
		var at time.Time
		if err := rows.Scan(&seq, &at); err != nil {
			t.Fatal(err)
		}
		times[seq] = at
	}
	if rows.Err() != nil || len(times) != 4 {
		t.Fatalf("alice's events: %v, %v", times, rows.Err())
	}
	balanceAt := func(at time.Time) (contract.BalanceAt, string) {
		var got contract.BalanceAt
		if err := b.c.Call(ctx(t), contract.HistorySubject("alice", "balance_at"), contract.BalanceAtRequest{At: at.Format(time.RFC3339Nano)}, &got); err != nil {
			t.Fatalf("balance_at %s: %v", at, err)
		}
		var sql string
		if err := b.pool("history").QueryRow(ctx(t), `SELECT to_char(balance_at('alice', $1), 'FM999999990.00')`, at).Scan(&sql); err != nil {
			t.Fatal(err)
		}
		return got, sql
	}
	check := func(at time.Time, seq int64, want string) {
		t.Helper()
		got, sql := balanceAt(at)
		if got.Balance != want || got.EventSeq != seq || got.Currency != "EUR" || sql != want {
			t.Errorf("at %s: service %s after event %d, SQL %s; want %s after event %d", at.Format(time.RFC3339Nano), got.Balance, got.EventSeq, sql, want, seq)
		}
	}
	check(times[1].Add(-time.Microsecond), 0, "0.00")
	for _, p := range after {
		at := times[p.seq]
		check(at, p.seq, p.balance) // from the event's own time on
		if next, ok := times[p.seq+1]; ok && next.After(at.Add(time.Microsecond)) {
			check(next.Add(-time.Microsecond), p.seq, p.balance) // until just before the next
		}
	}
	check(time.Now().Add(time.Hour), after[len(after)-1].seq, after[len(after)-1].balance)

	var none contract.BalanceAt
	wantCode(t, b.c.Call(ctx(t), contract.HistorySubject("nobody", "balance_at"), contract.BalanceAtRequest{At: "2026-01-01"}, &none), contract.CodeAccountNotFound)
	wantCode(t, b.c.Call(ctx(t), contract.HistorySubject("alice", "balance_at"), contract.BalanceAtRequest{}, &none), contract.CodeBadRequest)
	wantCode(t, b.c.Call(ctx(t), contract.HistorySubject("alice", "balance_at"), contract.BalanceAtRequest{At: "yesterday"}, &none), contract.CodeBadRequest)
}
