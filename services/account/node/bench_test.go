package node_test

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
// own account, at 1 and 32 concurrent clients. It reports requests/s and the p50 and p99
// latency seen by the clients:
//
//	go test ./services/account/node -run '^$' -bench Deposit -benchtime 5000x
func BenchmarkDeposit(b *testing.B) {
	for _, clients := range []int{1, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			bk := startBank(b, "account-1")
			for c := range clients {
				bk.open(b, fmt.Sprintf("bench%02d", c), "account-1")
			}
			latencies := make([][]time.Duration, clients)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprintf("bench%02d", c)
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						t0 := time.Now()
						_, err := bk.c.Deposit(context.Background(), id, contract.MoneyRequest{ID: fmt.Sprintf("d-%d", i), Amount: "1.00"})
						if err != nil {
							b.Error(err)
							return
						}
						latencies[c] = append(latencies[c], time.Since(t0))
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			all := slices.Concat(latencies...)
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
			testkit.ReportLatency(b, all)
		})
	}
}
