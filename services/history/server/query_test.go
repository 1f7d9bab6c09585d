package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/platform/idgen"
	"tsbank/services/history/history"
)

// model is the test's own copy of the history, to check the service's answers against.
type model struct {
	rows map[string]history.Row
	r    *rand.Rand
	base time.Time
	seq  uint64
}

var words = []string{"rent", "Salary", "coffee", "BOOKS", "refund", "gift", "100% juice", "a_b"}

// row makes a random row of account. Times repeat on purpose (whole minutes over a few hours), so
// that the tie-break by event id is exercised.
func (m *model) row(account string) history.Row {
	m.seq++
	types := []string{contract.EventDeposit, contract.EventWithdrawal, contract.EventTransferOut, contract.EventTransferIn}
	r := history.Row{
		EventID: idgen.UUIDv7(), Account: account, Type: types[m.r.IntN(4)], Amount: 1 + m.r.Int64N(50000),
		Currency: eur, At: m.base.Add(time.Duration(m.r.IntN(240)) * time.Minute), Node: "account-1",
		Description: words[m.r.IntN(len(words))] + " " + words[m.r.IntN(len(words))], StreamSeq: m.seq,
	}
	if r.Type == contract.EventWithdrawal || r.Type == contract.EventTransferOut {
		r.Amount = -r.Amount
	}
	if strings.HasPrefix(r.Type, "transfer") {
		r.Counterparty = []string{"bob", "carol", "dave"}[m.r.IntN(3)]
		r.TransferID = fmt.Sprintf("tr-%d", m.r.IntN(20))
	}
	m.rows[r.EventID] = r
	return r
}

func (m *model) insert(t *testing.T, f *fixture, n int, account string) {
	t.Helper()
	var batch []history.Row
	for range n {
		batch = append(batch, m.row(account))
	}
	if _, err := f.store.Insert(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func matches(q contract.HistoryQuery, r history.Row, account string) bool {
	minor := func(s string) int64 { // EUR: two decimals
		var whole, frac int64
		parts := strings.SplitN(s+".", ".", 3)
		fmt.Sscan(parts[0], &whole)
		if parts[1] != "" {
			fmt.Sscan((parts[1] + "00")[:2], &frac)
		}
		return whole*100 + frac
	}
	day := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	switch {
	case r.Account != account:
	case len(q.Types) > 0 && !slices.Contains(q.Types, r.Type):
	case q.From != "" && r.At.Before(day(q.From)):
	case q.To != "" && !r.At.Before(day(q.To)):
	case q.MinAmount != "" && abs(r.Amount) < minor(q.MinAmount):
	case q.MaxAmount != "" && abs(r.Amount) > minor(q.MaxAmount):
	case q.Counterparty != "" && r.Counterparty != q.Counterparty:
	case q.TransferID != "" && r.TransferID != q.TransferID:
	case q.Text != "" && !strings.Contains(strings.ToLower(r.Description), strings.ToLower(q.Text)):
	default:
		return true
	}
	return false
}

// before says whether a sorts strictly before b under q.
func before(q contract.HistoryQuery, a, b history.Row) bool {
	ka, kb := a.At.UnixNano(), b.At.UnixNano()
	if q.Sort == history.SortAmount {
		ka, kb = abs(a.Amount), abs(b.Amount)
	}
	less := ka < kb || (ka == kb && a.EventID < b.EventID)
	if q.Order == history.OrderAsc {
		return less
	}
	return !less && (ka != kb || a.EventID != b.EventID)
}

func randomQuery(r *rand.Rand, base time.Time) contract.HistoryQuery {
	var q contract.HistoryQuery
	if r.IntN(3) == 0 {
		q.Types = []string{[]string{contract.EventDeposit, contract.EventWithdrawal, contract.EventTransferOut, contract.EventTransferIn}[r.IntN(4)]}
		if r.IntN(2) == 0 {
			q.Types = append(q.Types, contract.EventTransferIn)
		}
	}
	if r.IntN(3) == 0 {
		q.From = base.Add(time.Duration(r.IntN(120)) * time.Minute).Format(time.RFC3339)
	}
	if r.IntN(3) == 0 {
		q.To = base.Add(time.Duration(121+r.IntN(120)) * time.Minute).Format(time.RFC3339)
	}
	if r.IntN(4) == 0 {
		q.MinAmount = fmt.Sprintf("%d.%02d", r.IntN(200), r.IntN(100))
		if q.MinAmount == "0.00" {
			q.MinAmount = "0.01"
		}
	}
	if r.IntN(4) == 0 {
		q.MaxAmount = fmt.Sprintf("%d.5", 200+r.IntN(300))
	}
	if r.IntN(5) == 0 {
		q.Counterparty = []string{"bob", "carol", "dave"}[r.IntN(3)]
	}
	if r.IntN(6) == 0 {
		q.TransferID = fmt.Sprintf("tr-%d", r.IntN(20))
	}
	if r.IntN(4) == 0 {
		q.Text = []string{"rent", "salary", "Books", "%", "_", "juice"}[r.IntN(6)]
	}
	q.Sort = []string{"", history.SortTime, history.SortAmount}[r.IntN(3)]
	q.Order = []string{"", history.OrderDesc, history.OrderAsc}[r.IntN(3)]
	q.Limit = 1 + r.IntN(40)
	return q
}

// TestPagesMatchAModel checks filters, sorting and keyset pagination against the model on
// generated data: walking every page returns each matching row exactly once, in order, however
// many rows are inserted between pages.
func TestPagesMatchAModel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start()
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	m := &model{rows: map[string]history.Row{}, r: rand.New(rand.NewPCG(42, 1)), base: base}
	m.insert(t, f, 400, "alice")
	m.insert(t, f, 100, "bob")
	for i := range 60 {
		q := randomQuery(m.r, base)
		q.Sort = map[string]string{"": "", history.SortTime: history.SortTime, history.SortAmount: history.SortAmount}[q.Sort]
		norm := q
		if norm.Order == "" {
			norm.Order = history.OrderDesc
		}
		var want []history.Row // matching rows present before the walk
		for _, r := range m.rows {
			if matches(q, r, "alice") {
				want = append(want, r)
			}
		}
		seen := map[string]int{}
		var got []contract.HistoryRow
		for pages := 0; ; pages++ {
			var page contract.HistoryPage
			if err := f.c.Call(context.Background(), contract.HistorySubject("alice", "query"), q, &page); err != nil {
				t.Fatalf("query %d %+v page %d: %v", i, q, pages, err)
			}
			got = append(got, page.Rows...)
			if len(page.Rows) > q.Limit {
				t.Fatalf("query %d: %d rows on a page of %d", i, len(page.Rows), q.Limit)
			}
			if page.Next == "" {
				break
			}
			q.Cursor = page.Next
			m.insert(t, f, m.r.IntN(4), "alice") // rows arrive while the client pages
		}
		for k, g := range got {
			seen[g.EventID]++
			r, ok := m.rows[g.EventID]
			if !ok || !matches(q, r, "alice") {
				t.Fatalf("query %d %+v: row %s does not match", i, q, g.EventID)
			}
			if k > 0 && !before(norm, m.rows[got[k-1].EventID], r) {
				t.Fatalf("query %d %+v: rows %d and %d out of order", i, q, k-1, k)
			}
		}
		for id, n := range seen {
			if n > 1 {
				t.Fatalf("query %d: row %s returned %d times", i, id, n)
			}
		}
		for _, w := range want {
			if seen[w.EventID] != 1 {
				t.Fatalf("query %d %+v: row %s (%s %d at %s) missing", i, q, w.EventID, w.Type, w.Amount, w.At)
			}
		}
	}
}

func TestQueryRefusesBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start()
	m := &model{rows: map[string]history.Row{}, r: rand.New(rand.NewPCG(1, 1)), base: time.Now()}
	m.insert(t, f, 5, "alice")
	var first contract.HistoryPage
	if err := f.c.Call(context.Background(), contract.HistorySubject("alice", "query"), contract.HistoryQuery{Limit: 2}, &first); err != nil || first.Next == "" {
		t.Fatalf("first page: %+v, %v", first, err)
	}
	forged := []byte(first.Next)
	forged[3] ^= 1
	for _, tc := range []struct {
		name, body string
		code       contract.Code
	}{
		{"unknown type", `{"type":["fee"]}`, contract.CodeBadRequest},
		{"bad date", `{"from":"yesterday"}`, contract.CodeBadRequest},
		{"reversed range", `{"from":"2026-02-01","to":"2026-01-01"}`, contract.CodeBadRequest},
		{"empty range", `{"from":"2026-02-01","to":"2026-02-01"}`, contract.CodeBadRequest},
		{"amount not a decimal", `{"min_amount":"ten"}`, contract.CodeInvalidAmount},
		{"amount as a number", `{"min_amount":10}`, contract.CodeBadRequest},
		{"min above max", `{"min_amount":"10","max_amount":"5"}`, contract.CodeBadRequest},
		{"unknown sort", `{"sort":"balance"}`, contract.CodeBadRequest},
		{"unknown order", `{"order":"up"}`, contract.CodeBadRequest},
		{"unknown format", `{"format":"xml"}`, contract.CodeBadRequest},
		{"page over the maximum", `{"limit":1001}`, contract.CodeBadRequest},
		{"negative page", `{"limit":-1}`, contract.CodeBadRequest},
		{"forged cursor", `{"limit":2,"cursor":"` + string(forged) + `"}`, contract.CodeInvalidCursor},
		{"made-up cursor", `{"cursor":"abc.def"}`, contract.CodeInvalidCursor},
		{"cursor of another query", `{"limit":2,"type":["deposit"],"cursor":"` + first.Next + `"}`, contract.CodeInvalidCursor},
		{"cursor of another sort", `{"limit":2,"sort":"amount","cursor":"` + first.Next + `"}`, contract.CodeInvalidCursor},
		{"unknown field", `{"typ":["deposit"]}`, contract.CodeBadRequest},
		// These were accepted silently (issue 12): a zero limit read as the default, an amount
		// finer than the account's currency, and the last of two equal keys.
		{"zero page", `{"limit":0}`, contract.CodeBadRequest},
		{"min_amount with more decimals than EUR has", `{"min_amount":"1.001"}`, contract.CodeInvalidAmount},
		{"max_amount with more decimals than EUR has", `{"max_amount":"1.001"}`, contract.CodeInvalidAmount},
		{"a key twice", `{"limit":2,"limit":3}`, contract.CodeBadRequest},
		{"a key twice in another case", `{"format":"csv","Format":"table"}`, contract.CodeBadRequest},
	} {
		t.Run(tc.name+" is "+string(tc.code), func(t *testing.T) {
			msg, err := f.nc.Request(contract.HistorySubject("alice", "query"), []byte(tc.body), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if e := client.ReplyError(msg); e == nil || e.Code != tc.code || e.Message == "" {
				t.Fatalf("reply %s %v, want %s", msg.Data, e, tc.code)
			}
		})
	}
	// A cursor does not survive a restart with another secret.
	f.srv.Stop(5 * time.Second)
	f.start("CURSOR_SECRET", "another")
	msg, err := f.nc.Request(contract.HistorySubject("alice", "query"), []byte(`{"limit":2,"cursor":"`+first.Next+`"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if e := client.ReplyError(msg); e == nil || e.Code != contract.CodeInvalidCursor {
		t.Fatalf("stale cursor: %s %v", msg.Data, e)
	}
}
