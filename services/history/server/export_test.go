package server_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/services/history/history"
	"tsbank/services/history/render"
)

// TestPageTotalsSayTheyAreThePagesOnly pins issue 12's misleading totals: a page's "totals: count
// 2, … net 3.00" read as the account's. The json says "of":"page" (a statement's, "period"), and
// the table's line names the rows it sums and says it is this page only.
func TestPageTotalsSayTheyAreThePagesOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var events []contract.Event
	for i := range 5 {
		events = append(events, event("alice", i, base))
	}
	f.publish(events...)
	f.start()
	f.waitFor(5)

	raw := f.request(contract.HistorySubject("alice", "query"), `{"limit":2}`)
	var page struct {
		Totals map[string]any `json:"totals"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		t.Fatal(err)
	}
	if page.Totals["of"] != contract.TotalsOfPage || page.Totals["count"] != 2.0 {
		t.Errorf("json totals = %v, want of %q and count 2", page.Totals, contract.TotalsOfPage)
	}
	table := string(f.request(contract.HistorySubject("alice", "query"), `{"limit":2,"format":"table"}`))
	if !strings.Contains(table, "totals of these 2 rows only (this page, not the account's or the whole filter's): in 0.09, out 0.00, net 0.09\n") {
		t.Errorf("the table's totals do not say they are the page's:\n%s", table)
	}
	raw = f.request(contract.HistorySubject("alice", "statement"), `{"from":"2026-01-01","to":"2026-02-01"}`)
	if err := json.Unmarshal(raw, &page); err != nil {
		t.Fatal(err)
	}
	if page.Totals["of"] != contract.TotalsOfPeriod || page.Totals["count"] != 5.0 {
		t.Errorf("statement totals = %v, want of %q and count 5", page.Totals, contract.TotalsOfPeriod)
	}
}

// request sends body to subject and returns the reply's body, failing on an error reply.
func (f *fixture) request(subject, body string) []byte {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg, err := f.nc.RequestWithContext(ctx, subject, []byte(body))
	if err != nil {
		f.t.Fatalf("%s %s: %v", subject, body, err)
	}
	if e := client.ReplyError(msg); e != nil {
		f.t.Fatalf("%s %s: %v", subject, body, e)
	}
	return msg.Data
}

// TestAWholeHistoryExportsAsCSVPageByPage pins issue 12's export that stopped at one page: a CSV
// page held at most 1,000 rows and no cursor, so a longer history could not be exported. Each
// page that is not the last now carries its cursor in the Tsbank-Next-Cursor header (its body
// stays plain CSV), and following it exports every row once.
func TestAWholeHistoryExportsAsCSVPageByPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start()
	m := &model{rows: map[string]history.Row{}, r: rand.New(rand.NewPCG(12, 3)), base: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
	m.insert(t, f, 2345, "alice")
	m.insert(t, f, 10, "bob")

	seen := map[string]int{}
	pages, cursor := 0, ""
	for ; ; pages++ {
		q := contract.HistoryQuery{Format: contract.FormatCSV, Limit: contract.MaxPageSize, Cursor: cursor}
		body, _ := json.Marshal(q)
		msg, err := f.nc.Request(contract.HistorySubject("alice", "query"), body, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if e := client.ReplyError(msg); e != nil {
			t.Fatalf("page %d: %v", pages, e)
		}
		rows, err := render.ParseCSV(msg.Data)
		if err != nil {
			t.Fatalf("page %d is not plain CSV: %v", pages, err)
		}
		for _, r := range rows {
			seen[r.EventID]++
		}
		if cursor = msg.Header.Get(contract.NextCursorHeader); cursor == "" {
			break
		}
		if len(rows) != contract.MaxPageSize {
			t.Fatalf("page %d has %d rows and a next cursor", pages, len(rows))
		}
	}
	if pages != 2 || len(seen) != 2345 {
		t.Fatalf("%d pages after the first, %d distinct rows; want 2 and 2345", pages, len(seen))
	}
	for id, n := range seen {
		if r, ok := m.rows[id]; !ok || r.Account != "alice" || n != 1 {
			t.Fatalf("row %s exported %d times (in the model: %v)", id, n, ok)
		}
	}

	// The json and table formats carry the same header as their own "next".
	msg, err := f.nc.Request(contract.HistorySubject("alice", "query"), []byte(`{"limit":5}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var page contract.HistoryPage
	if err := json.Unmarshal(msg.Data, &page); err != nil || page.Next == "" || msg.Header.Get(contract.NextCursorHeader) != page.Next {
		t.Fatalf("json page: next %q, header %q, %v", page.Next, msg.Header.Get(contract.NextCursorHeader), err)
	}
}
