package server_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/testkit"
)

// BenchmarkDeposit measures deposits sent through NATS to one account node, each client on its
// own account, at 1 and 64 concurrent clients, on a durable Postgres (testkit.DurablePostgres),
// beside pgbench's simple-update script (one account row updated, read and a history row
// inserted: a deposit done as one local transaction) on the same server with as many clients
// and scale = clients. It reports deposits/s, the p50, p99 and p99.9 latency seen by the
// clients, failures per deposit, what a deposit costs (testkit.Costs) and pgbench's tps and the
// ratio:
//
//	go test ./services/account/server -run '^$' -bench Deposit -benchtime 5000x
func BenchmarkDeposit(b *testing.B) {
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			b.Logf("postgres: %s", testkit.DurablePostgresKind(b))
			bk := startNodesOn(b, testkit.DurablePostgres, "account-1")
			for c := range clients {
				bk.open(b, fmt.Sprintf("bench%02d", c), "account-1")
			}
			costs := testkit.StartCosts(b, testkit.DurablePostgresAdminURL(b), bk.ns, []string{bk.dbs["account-1"]})
			latencies := make([][]time.Duration, clients)
			var next, failed atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for c := range clients {
				wg.Go(func() {
					id := fmt.Sprintf("bench%02d", c)
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						t0 := time.Now()
						_, err := bk.c.Deposit(ctx, id, contract.MoneyRequest{ID: fmt.Sprintf("d-%d", i), Amount: "1.00"})
						latencies[c] = append(latencies[c], time.Since(t0))
						cancel()
						// Counted, not fatal, so that an overloaded node shows as a share of
						// failures instead of a benchmark that stops.
						if err != nil && failed.Add(1) == 1 {
							b.Logf("first failed deposit: %v", err)
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			rate := float64(int64(b.N)-failed.Load()) / elapsed.Seconds()
			b.ReportMetric(rate, "deposits/s")
			testkit.ReportLatency(b, slices.Concat(latencies...))
			b.ReportMetric(float64(failed.Load())/float64(b.N), "failed/op")
			testkit.OutboxSent(b, bk.dbs["account-1"])
			costs.Report(b, b.N, func() {
				for _, n := range bk.nodes {
					n.Stop(5 * time.Second)
				}
			})

			testkit.ComparePgBench(b, "simple-update", clients, elapsed, rate)
		})
	}
}
