package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/contract/money"
	"tsbank/services/history/history"
	"tsbank/services/history/pgstore"
	"tsbank/services/history/render"
	historyserver "tsbank/services/history/server"
	"tsbank/testkit"
)

// TestHistoryExportWritesTheWholeHistoryAsOneCSV: 2,500 rows are three pages of CSV; the export
// follows their cursors and writes one file with one header row and every row once, and with a
// filter only the rows it selects.
func TestHistoryExportWritesTheWholeHistoryAsOneCSV(t *testing.T) {
	ns := testkit.StartNATS(t)
	t.Setenv("NATS_URL", ns.ClientURL())
	t.Setenv("NATS_USER", "")
	db := testkit.Postgres(t, "history")
	vars := map[string]string{"DATABASE_URL": db, "NATS_URL": ns.ClientURL(), "HTTP_ADDR": "127.0.0.1:0"}
	cfg, err := historyserver.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := historyserver.Start(context.Background(), cfg, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(5 * time.Second) })
	pool, err := pgxpool.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	eur, _ := money.LookupCurrency("EUR")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var rows []history.Row
	deposits := 0
	for i := range 2500 {
		r := history.Row{EventID: fmt.Sprintf("00000000-0000-7000-8000-%012d", i), Account: "alice", Type: "deposit",
			Amount: 100, Currency: eur, BalanceAfter: int64(100 * (i + 1)), At: base.Add(time.Duration(i) * time.Second),
			Description: "=HYPERLINK(\"x\")", Node: "account-1", StreamSeq: uint64(i + 1), AccountSeq: int64(i + 1)}
		if i%3 == 0 {
			r.Type, r.Amount = "withdrawal", -100
		} else {
			deposits++
		}
		rows = append(rows, r)
	}
	if _, err := pgstore.New(pool).Insert(context.Background(), rows); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		args  []string
		want  int
		types string
	}{
		{"every row", []string{"history-export", "alice"}, 2500, ""},
		{"the filter's rows", []string{"history-export", "alice", `{"type":["deposit"],"order":"asc"}`}, deposits, "deposit"},
	} {
		t.Run(tc.name+" once each", func(t *testing.T) {
			var out bytes.Buffer
			if err := run(tc.args, &out); err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(out.Bytes(), []byte("event_id,account,type")); n != 1 {
				t.Fatalf("%d header rows, want 1", n)
			}
			got, err := render.ParseCSV(out.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for _, r := range got {
				if seen[r.EventID] || (tc.types != "" && r.Type != tc.types) || r.Description != `=HYPERLINK("x")` {
					t.Fatalf("row %+v repeated, not selected, or changed", r)
				}
				seen[r.EventID] = true
			}
			if len(seen) != tc.want {
				t.Fatalf("%d rows exported, want %d", len(seen), tc.want)
			}
		})
	}
}
