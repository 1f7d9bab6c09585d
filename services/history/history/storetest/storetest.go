// Package storetest is the contract of history.Store: one suite that every implementation passes
// (memstore and pgstore), so that the use cases' tests on the in-memory store say what the
// service does on Postgres.
package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/history/history"
)

// Run runs the contract against the stores newStore returns, a new empty one for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) history.Store) {
	for _, c := range []struct {
		name string
		test func(*testing.T, history.Store)
	}{
		{"InsertSkipsEventsAlreadyThere", testInsert},
		{"RowsReadBackAsWritten", testRoundTrip},
		{"PagesFilter", testFilters},
		{"PagesSortAndContinueAfterAPosition", testSortAndPages},
		{"PeriodsHaveTheirOpeningBalanceAndCommitOrder", testPeriods},
		{"CurrencyIsThatOfTheAccountsRows", testCurrency},
		{"BalanceAtReadsWhatTheMomentDependsOn", testBalanceAt},
		{"SummariesAndPrefixesAreWhatReconciliationCompares", testSummaries},
		{"ForgedEventsAreRecordedOnceAndCounted", testForged},
		{"AccountsAreWrittenOnlyWhenNewOrChanged", testAccounts},
		{"CountBatchesAreClaimedUntilMarked", testCountBatches},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.test(t, newStore(t))
		})
	}
}

var (
	eur, _ = money.LookupCurrency("EUR")
	jpy, _ = money.LookupCurrency("JPY")
	// t0 is whole microseconds in UTC, as Postgres keeps them.
	t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
)

func minute(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

// row makes row seq of account, with event id n (their order is the event ids' order).
func row(n int, account string, seq int64, typ string, amount, balance int64, at time.Time) history.Row {
	return history.Row{
		EventID: fmt.Sprintf("00000000-0000-7000-8000-%012d", n), Account: account, Type: typ, Amount: amount,
		Currency: eur, BalanceAfter: balance, At: at, Node: "account-1", StreamSeq: uint64(n), AccountSeq: seq,
	}
}

// alice's five rows and bob's one: a3 and a4 at the same time, and of the same absolute amount,
// so that their event ids break the ties.
var (
	a1 = with(row(1, "alice", 1, contract.EventDeposit, 10000, 10000, minute(0)), "Salary March", "", "")
	a2 = with(row(2, "alice", 2, contract.EventWithdrawal, -2550, 7450, minute(1)), "rent 100%", "", "")
	a3 = with(row(3, "alice", 3, contract.EventTransferOut, -1000, 6450, minute(2)), "books_and more", "bob", "tr-1")
	a4 = with(row(4, "alice", 4, contract.EventTransferIn, 1000, 7450, minute(2)), "gift", "carol", "tr-2")
	a5 = with(row(5, "alice", 5, contract.EventDeposit, 5, 7455, minute(3)), "coffee", "", "")
	b1 = with(row(6, "bob", 1, contract.EventTransferIn, 1000, 1000, minute(2)), "books_and more", "alice", "tr-1")
)

func with(r history.Row, description, counterparty, transfer string) history.Row {
	r.Description, r.Counterparty, r.TransferID = description, counterparty, transfer
	return r
}

func insert(t *testing.T, s history.Store, rows ...history.Row) int {
	t.Helper()
	n, err := s.Insert(context.Background(), rows)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func seed(t *testing.T, s history.Store) { insert(t, s, a1, a2, a3, a4, a5, b1) }

func ids(rows []history.Row) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.EventID)
	}
	return out
}

func wantRows(t *testing.T, what string, got []history.Row, want ...history.Row) {
	t.Helper()
	if g, w := ids(got), ids(want); !slices.Equal(g, w) {
		t.Errorf("%s: rows %v, want %v", what, g, w)
	}
}

func page(t *testing.T, s history.Store, q history.Query) []history.Row {
	t.Helper()
	if q.Account == "" {
		q.Account = "alice"
	}
	if q.SortBy == "" {
		q.SortBy = history.SortTime
	}
	if q.Limit == 0 {
		q.Limit = 100
	}
	rows, err := s.Page(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func testInsert(t *testing.T, s history.Store) {
	if n := insert(t, s, a1, a2, a3); n != 3 {
		t.Fatalf("inserted %d of 3 new rows", n)
	}
	if n := insert(t, s, a2, a3, a4); n != 1 {
		t.Fatalf("inserted %d rows of a batch with one new, want 1", n)
	}
	if n := insert(t, s, a5, a5); n != 1 {
		t.Fatalf("inserted %d rows of a batch with one new row twice, want 1", n)
	}
	wantRows(t, "after the redeliveries", page(t, s, history.Query{Desc: true}), a5, a4, a3, a2, a1)
}

func testRoundTrip(t *testing.T, s history.Store) {
	paid := row(10, "carol", 1, contract.EventTransferOut, -2000, 3000, minute(0))
	paid.TransferID, paid.Counterparty, paid.Description, paid.RequestID = "tr-9", "dave", "dinner", "req-1"
	refund := row(11, "carol", 2, contract.EventTransferIn, 500, 3500, minute(1))
	refund.TransferID, refund.Counterparty, refund.RefundOf = "rf-1", "dave", "tr-9"
	fx := row(12, "carol", 3, contract.EventTransferOut, -1000, 2500, minute(2))
	fx.TransferID, fx.Counterparty, fx.Node = "tr-10", "yuki", "account-2"
	fx.Exchange = &history.Exchange{Quote: "q-1", Rate: "162.5", FromAmount: "10.00", FromCurrency: "EUR", ToAmount: "1625", ToCurrency: "JPY"}
	insert(t, s, paid, refund, fx)
	got := page(t, s, history.Query{Account: "carol", Desc: false})
	// The original shows what its refunds moved; a refund and an unrefunded transfer show nothing.
	paid.Refunded = 500
	want := []history.Row{paid, refund, fx}
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		// pgstore does not read account_seq back: no use case needs it from a page.
		g.AccountSeq, w.AccountSeq = 0, 0
		if (g.Exchange == nil) != (w.Exchange == nil) || (g.Exchange != nil && *g.Exchange != *w.Exchange) {
			t.Errorf("row %d: exchange %+v, want %+v", i, g.Exchange, w.Exchange)
		}
		g.Exchange, w.Exchange = nil, nil
		if g != w {
			t.Errorf("row %d reads back as\n%+v, want\n%+v", i, g, w)
		}
	}
}

func testFilters(t *testing.T, s history.Store) {
	seed(t, s)
	for _, c := range []struct {
		name string
		f    history.Filter
		want []history.Row
	}{
		{"no filter: every row of the account", history.Filter{}, []history.Row{a5, a4, a3, a2, a1}},
		{"types", history.Filter{Types: []string{contract.EventWithdrawal, contract.EventTransferOut}}, []history.Row{a3, a2}},
		{"from inclusive, to exclusive", history.Filter{From: minute(1), To: minute(3)}, []history.Row{a4, a3, a2}},
		{"from only", history.Filter{From: minute(3)}, []history.Row{a5}},
		{"min amount on the absolute amount", history.Filter{MinAmount: "10"}, []history.Row{a4, a3, a2, a1}},
		{"max amount inclusive", history.Filter{MaxAmount: "10.00"}, []history.Row{a5, a4, a3}},
		{"min amount finer than the currency, compared exactly", history.Filter{MinAmount: "0.051"}, []history.Row{a4, a3, a2, a1}},
		{"counterparty", history.Filter{Counterparty: "bob"}, []history.Row{a3}},
		{"transfer id", history.Filter{TransferID: "tr-2"}, []history.Row{a4}},
		{"text in any case", history.Filter{Text: "SALARY"}, []history.Row{a1}},
		{"text with a percent sign, literally", history.Filter{Text: "%"}, []history.Row{a2}},
		{"text with an underscore, literally", history.Filter{Text: "_"}, []history.Row{a3}},
		{"filters together", history.Filter{Types: []string{contract.EventTransferIn, contract.EventTransferOut}, MinAmount: "10.00", Text: "o"}, []history.Row{a3}},
		{"nothing matches", history.Filter{Counterparty: "nobody"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantRows(t, c.name, page(t, s, history.Query{Filter: c.f, Desc: true}), c.want...)
		})
	}
	wantRows(t, "bob's rows", page(t, s, history.Query{Account: "bob", Desc: true}), b1)
	wantRows(t, "an account without rows", page(t, s, history.Query{Account: "nobody", Desc: true}))
}

func testSortAndPages(t *testing.T, s history.Store) {
	seed(t, s)
	for _, c := range []struct {
		name string
		sort string
		desc bool
		want []history.Row
	}{
		{"newest first, ties by event id", history.SortTime, true, []history.Row{a5, a4, a3, a2, a1}},
		{"oldest first", history.SortTime, false, []history.Row{a1, a2, a3, a4, a5}},
		{"largest absolute amount first", history.SortAmount, true, []history.Row{a1, a2, a4, a3, a5}},
		{"smallest absolute amount first", history.SortAmount, false, []history.Row{a5, a3, a4, a2, a1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := history.Query{Account: "alice", SortBy: c.sort, Desc: c.desc, Limit: 2}
			wantRows(t, "one page of all", page(t, s, history.Query{SortBy: c.sort, Desc: c.desc}), c.want...)
			var walked []history.Row
			for range 4 {
				rows := page(t, s, q)
				if len(rows) > 2 {
					t.Fatalf("%d rows on a page of 2", len(rows))
				}
				walked = append(walked, rows...)
				if len(rows) < 2 {
					break
				}
				p := q.PositionOf(rows[len(rows)-1])
				q.After = &p
			}
			wantRows(t, "pages of 2", walked, c.want...)
		})
	}
}

func testPeriods(t *testing.T, s history.Store) {
	seed(t, s)
	// dave's three events have one time and reached the store as 3, 1, 2, as a resumed relay can
	// deliver them: a period follows the account's numbering.
	d1 := row(21, "dave", 1, contract.EventDeposit, 100, 100, minute(5))
	d2 := row(22, "dave", 2, contract.EventDeposit, 200, 300, minute(5))
	d3 := row(23, "dave", 3, contract.EventDeposit, 300, 600, minute(5))
	insert(t, s, d3, d1, d2)
	for _, c := range []struct {
		name             string
		account          string
		from, to         time.Time
		opening, closing int64
		want             []history.Row
	}{
		{"a period inside the rows", "alice", minute(1), minute(3), 10000, 7450, []history.Row{a2, a3, a4}},
		{"a period before the first row", "alice", minute(-10), minute(0), 0, 0, nil},
		{"a period after the last row", "alice", minute(4), minute(10), 7455, 7455, nil},
		{"a period over every row", "alice", minute(-1), minute(4), 0, 7455, []history.Row{a1, a2, a3, a4, a5}},
		{"rows of one moment in their numbers' order", "dave", minute(0), minute(10), 0, 600, []history.Row{d1, d2, d3}},
		{"an account without rows", "nobody", minute(0), minute(10), 0, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			opening, rows, err := s.Period(context.Background(), c.account, c.from, c.to)
			if err != nil {
				t.Fatal(err)
			}
			// The closing balance is the one after the period's last row, or the opening one.
			closing := opening
			if len(rows) > 0 {
				closing = rows[len(rows)-1].BalanceAfter
			}
			if opening != c.opening || closing != c.closing {
				t.Errorf("balances %d → %d, want %d → %d", opening, closing, c.opening, c.closing)
			}
			wantRows(t, "period", rows, c.want...)
		})
	}
}

func testCurrency(t *testing.T, s history.Store) {
	seed(t, s)
	yen := row(30, "yuki", 1, contract.EventDeposit, 500, 500, minute(0))
	yen.Currency = jpy
	insert(t, s, yen)
	for account, want := range map[string]string{"alice": "EUR", "yuki": "JPY", "nobody": ""} {
		c, found, err := s.Currency(context.Background(), account)
		if err != nil || found != (want != "") || c.Code != want {
			t.Errorf("currency of %s: %q, %v, %v; want %q", account, c.Code, found, err, want)
		}
	}
}

func testBalanceAt(t *testing.T, s history.Store) {
	seed(t, s)
	// erin's event 2 has not arrived.
	insert(t, s, row(41, "erin", 1, contract.EventDeposit, 100, 100, minute(0)), row(43, "erin", 3, contract.EventDeposit, 300, 700, minute(2)))
	for _, c := range []struct {
		name    string
		account string
		at      time.Time
		want    history.Before
	}{
		{"before the first event", "alice", minute(-1), history.Before{Seq: 0, FirstAfter: 1, Rows: 1}},
		{"at an event's own time", "alice", minute(0), history.Before{Seq: 1, FirstAfter: 2, Rows: 2, Balance: 10000}},
		{"at the time of two events, after both", "alice", minute(2), history.Before{Seq: 4, FirstAfter: 5, Rows: 5, Balance: 7450}},
		{"after the newest event", "alice", minute(9), history.Before{Seq: 5, Rows: 5, Balance: 7455}},
		{"with a gap below the first after", "erin", minute(1), history.Before{Seq: 2, FirstAfter: 3, Rows: 2}},
		{"an account without rows", "nobody", minute(1), history.Before{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := s.BalanceAt(context.Background(), c.account, c.at)
			if err != nil || b != c.want {
				t.Errorf("BalanceAt = %+v, %v; want %+v", b, err, c.want)
			}
		})
	}
}

func testSummaries(t *testing.T, s history.Store) {
	ctx := context.Background()
	seed(t, s)
	// frank's event 2 is there twice (two event ids), as a replay under a new id would make it;
	// erin's event 2 is missing.
	insert(t, s,
		row(51, "frank", 1, contract.EventDeposit, 100, 100, minute(0)),
		row(52, "frank", 2, contract.EventDeposit, 50, 150, minute(1)),
		row(53, "frank", 2, contract.EventDeposit, 50, 150, minute(1)),
		row(41, "erin", 1, contract.EventDeposit, 100, 100, minute(0)),
		row(43, "erin", 3, contract.EventDeposit, 300, 700, minute(2)))
	all, err := s.Summaries(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []history.Summary{
		{Account: "alice", Currency: eur, LastBalance: 7455, Sum: 7455, Rows: 5, LastSeq: 5},
		{Account: "bob", Currency: eur, LastBalance: 1000, Sum: 1000, Rows: 1, LastSeq: 1},
		{Account: "erin", Currency: eur, LastBalance: 700, Sum: 400, Rows: 2, LastSeq: 3},
		{Account: "frank", Currency: eur, LastBalance: 150, Sum: 200, Rows: 3, LastSeq: 2},
	}
	if !slices.Equal(all, want) {
		t.Errorf("summaries\n%+v, want\n%+v", all, want)
	}
	one, err := s.Summaries(ctx, "bob")
	if err != nil || !slices.Equal(one, want[1:2]) {
		t.Errorf("bob's summary %+v, %v; want %+v", one, err, want[1:2])
	}
	none, err := s.Summaries(ctx, "nobody")
	if err != nil || len(none) != 0 {
		t.Errorf("summary of an account without rows: %+v, %v", none, err)
	}
	for _, c := range []struct {
		name    string
		account string
		seq     int64
		want    history.Prefix
	}{
		{"rows 1 to 3", "alice", 3, history.Prefix{Rows: 3, Sum: 6450, Balance: 6450, Found: true}},
		{"beyond the newest row", "alice", 7, history.Prefix{Rows: 5, Sum: 7455}},
		{"none", "alice", 0, history.Prefix{}},
		{"a doubled event counts twice", "frank", 2, history.Prefix{Rows: 3, Sum: 200, Balance: 150, Found: true}},
		{"a missing event", "erin", 2, history.Prefix{Rows: 1, Sum: 100}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := s.Upto(ctx, c.account, c.seq)
			if err != nil || p != c.want {
				t.Errorf("Upto(%s, %d) = %+v, %v; want %+v", c.account, c.seq, p, err, c.want)
			}
		})
	}
}

func forged(seq uint64, account, reason string) history.Forged {
	return history.Forged{StreamSeq: seq, EventID: fmt.Sprintf("00000000-0000-7000-9000-%012d", seq), Account: account,
		Subject: contract.OutboxSubject("account-2", account, contract.EventDeposit), ClaimedNode: "account-1",
		PublishingNode: "account-2", Owner: "account-1", Reason: reason, Payload: []byte(`{"forged":true}`)}
}

func testForged(t *testing.T, s history.Store) {
	ctx := context.Background()
	f1, f2, f3 := forged(1, "alice", history.ForgedNodeMismatch), forged(2, "alice", history.ForgedNotOwner), forged(3, "bob", history.ForgedUnregistered)
	f3.Owner, f3.PublishingNode = "", ""
	got, err := s.RecordForged(ctx, []history.Forged{f1, f2})
	if err != nil || len(got) != 2 {
		t.Fatalf("recorded %d of 2 new forged events, %v", len(got), err)
	}
	got, err = s.RecordForged(ctx, []history.Forged{f2, f3})
	if err != nil || len(got) != 1 || got[0].EventID != f3.EventID {
		t.Fatalf("recorded %+v, %v; want only the new %s", got, err, f3.EventID)
	}
	if n := insert(t, s, a1); n != 1 {
		t.Fatalf("a genuine row after forged events: inserted %d", n)
	}
	for account, want := range map[string]map[string]int64{
		"":       {"alice": 2, "bob": 1},
		"alice":  {"alice": 2},
		"nobody": {},
	} {
		counts, err := s.ForgedCounts(ctx, account)
		if err != nil || !maps.Equal(counts, want) {
			t.Errorf("forged counts of %q: %v, %v; want %v", account, counts, err, want)
		}
	}
	// Forged events are never rows.
	if sm, err := s.Summaries(ctx, ""); err != nil || len(sm) != 1 || sm[0].Rows != 1 {
		t.Errorf("summaries after forged events: %+v, %v", sm, err)
	}
}

func testAccounts(t *testing.T, s history.Store) {
	ctx := context.Background()
	carol := history.Account{ID: "carol", Node: "account-1", Currency: eur, Status: "open", OpenedAt: t0}
	dave := history.Account{ID: "dave", Node: "account-2", Currency: jpy, Status: "open", OpenedAt: t0}
	save := func(want int, accounts ...history.Account) {
		t.Helper()
		if n, err := s.SaveAccounts(ctx, accounts); err != nil || n != want {
			t.Fatalf("saved %d, %v; want %d", n, err, want)
		}
	}
	save(2, carol, dave)
	save(0, carol, dave)
	dave.Status, dave.ClosedAt = "closed", minute(5)
	save(1, carol, dave)
	carol.Node = "account-2" // moved
	save(1, carol, dave)
}

func testCountBatches(t *testing.T, s history.Store) {
	ctx := context.Background()
	seed(t, s) // a3 is alice's transfer_out, stream seq 3
	other := row(60, "carol", 1, contract.EventTransferOut, -2500, 500, minute(0).Add(24*time.Hour))
	other.Node = "account-2"
	insert(t, s, other)
	claim := func() (int64, []history.CountTotal) {
		t.Helper()
		b, totals, err := s.ClaimCountBatch(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		return b, totals
	}
	first, totals := claim()
	want := []history.CountTotal{{Day: "2026-03-01", Node: "account-1", Currency: "EUR", Transfers: 1, Volume: 1000}}
	if first == 0 || !slices.Equal(totals, want) {
		t.Fatalf("first batch %d: %+v, want %+v", first, totals, want)
	}
	// Not marked: the same batch again, as after a crash before the increments were acknowledged.
	if again, totals := claim(); again != first || !slices.Equal(totals, want) {
		t.Fatalf("unmarked batch claimed again as %d: %+v; want %d", again, totals, first)
	}
	if err := s.MarkCounted(ctx, first); err != nil {
		t.Fatal(err)
	}
	second, totals := claim()
	want = []history.CountTotal{{Day: "2026-03-02", Node: "account-2", Currency: "EUR", Transfers: 1, Volume: 2500}}
	if second == 0 || second == first || !slices.Equal(totals, want) {
		t.Fatalf("second batch %d: %+v, want %+v", second, totals, want)
	}
	if err := s.MarkCounted(ctx, second); err != nil {
		t.Fatal(err)
	}
	if last, totals := claim(); last != 0 || len(totals) != 0 {
		t.Fatalf("with everything counted: batch %d, %+v", last, totals)
	}
}
