package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/client"
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
