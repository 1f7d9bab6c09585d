package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
	"tsbank/testkit"
)

// BenchmarkIngest measures the ingest rate on a durable Postgres: b.N events are put on the stream
// first, then the history service is started and timed until every one is in the database.
//
//	go test ./services/history/server -run '^$' -bench Ingest -benchtime 100000x
func BenchmarkIngest(b *testing.B) {
	skipShort(b)
	f := newFixtureOn(b, testkit.DurablePostgres(b, "history"))
	b.Log(testkit.DurablePostgresKind(b))
	base := time.Now().UTC()
	for i := range 100 {
		f.register(fmt.Sprintf("acc-%03d", i), "account-1")
	}
	for i := 0; i < b.N; i++ {
		e := event(fmt.Sprintf("acc-%03d", i%100), i, base)
		data, _ := json.Marshal(e)
		if _, err := f.js.PublishMsgAsync(&nats.Msg{Subject: contract.OutboxSubject(e.Node, e.Account, e.Type), Data: data}, jetstream.WithMsgID(e.ID)); err != nil {
			b.Fatal(err)
		}
	}
	<-f.js.PublishAsyncComplete()
	b.ResetTimer()
	start := time.Now()
	f.start()
	for f.count() < b.N {
		time.Sleep(10 * time.Millisecond) // polling the result; the service works meanwhile
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkQueryPage measures the latency of one page of 50 rows of one account among 1,000,000
// rows (1,000 accounts of 1,000 rows), on a durable Postgres, through NATS, at pages spread over the account's history,
// sorted by time and by amount. TSBANK_BENCH_ROWS sets the number of rows (a multiple of 1,000:
// one account per 1,000 rows); the test command runs it once with a few thousand, so that it
// cannot rot unnoticed.
//
//	go test ./services/history/server -run '^$' -bench QueryPage -benchtime 2000x
func BenchmarkQueryPage(b *testing.B) {
	rows := 1_000_000
	if v := os.Getenv("TSBANK_BENCH_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("TSBANK_BENCH_ROWS=%q: give at least 1000", v)
		}
		rows = n
	}
	accounts := rows / 1000
	account := fmt.Sprintf("acc-%04d", 7%accounts)
	skipShort(b)
	f := newFixtureOn(b, testkit.DurablePostgres(b, "history"))
	b.Log(testkit.DurablePostgresKind(b))
	ctx := context.Background()
	// Row i belongs to account i % accounts and is its (i / accounts + 1)-th event.
	_, err := f.pool.Exec(ctx, `INSERT INTO transactions (event_id, account, type, amount, amount_minor, currency,
			balance_after, balance_after_minor, at, description, node, stream_seq, account_seq)
		SELECT gen_random_uuid(), 'acc-' || lpad((i % $2)::text, 4, '0'),
			(ARRAY['deposit','withdrawal','transfer_out','transfer_in'])[1 + i % 4],
			(i % 10000) / 100.0, i % 10000, 'EUR', i / 100.0, i, timestamptz '2026-01-01' + i * interval '1 second',
			'row ' || i, 'account-1', i, i / $2 + 1
		FROM generate_series(0, $1 - 1) AS i`, rows, accounts)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `ANALYZE transactions`); err != nil {
		b.Fatal(err)
	}
	f.start()
	for _, sort := range []string{"time", "amount"} {
		b.Run("sort="+sort, func(b *testing.B) {
			// Walk the account once to collect a cursor for every page.
			cursors := []string{""}
			q := contract.HistoryQuery{Sort: sort, Limit: 50}
			for {
				var page contract.HistoryPage
				if err := f.c.Call(ctx, contract.HistorySubject(account, "query"), q, &page); err != nil {
					b.Fatal(err)
				}
				if page.Next == "" {
					break
				}
				q.Cursor = page.Next
				cursors = append(cursors, page.Next)
			}
			latencies := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				q.Cursor = cursors[i%len(cursors)]
				t0 := time.Now()
				var page contract.HistoryPage
				if err := f.c.Call(ctx, contract.HistorySubject(account, "query"), q, &page); err != nil || len(page.Rows) != 50 {
					b.Fatalf("page: %d rows, %v", len(page.Rows), err)
				}
				latencies = append(latencies, time.Since(t0))
			}
			b.StopTimer()
			testkit.ReportLatency(b, latencies)
		})
	}
}
