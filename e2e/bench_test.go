package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/testkit"
)

// BenchmarkTransfer measures cross-node transfers (each client pays between its own pair of
// accounts, one on each node, so the figure is the protocol's, not one hot row's) at 1, 16 and
// 64 concurrent clients, and runs pgbench's built-in tpcb-like script with as many clients on the
// same PostgreSQL for comparison. It reports transfers/s, p50 and p99 latency, pgbench's tps and
// the ratio of the two:
//
//	go test ./e2e -run '^$' -bench Transfer -benchtime 4000x
func BenchmarkTransfer(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			bk := startBank(b)
			for c := range clients {
				bk.open(fmt.Sprintf("p%02d", c), "account-1", "EUR")
				bk.open(fmt.Sprintf("q%02d", c), "account-2", "EUR")
				bk.deposit(fmt.Sprintf("p%02d", c), "1000000.00")
				bk.deposit(fmt.Sprintf("q%02d", c), "1000000.00")
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
					p, q := fmt.Sprintf("p%02d", c), fmt.Sprintf("q%02d", c)
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						from, to := p, q
						if i%2 == 0 {
							from, to = q, p
						}
						t0 := time.Now()
						tr, err := bk.c.Transfer(context.Background(), from, contract.TransferRequest{ID: fmt.Sprintf("b%d", i), To: to, Amount: "1.00"})
						if err != nil || tr.Status != contract.TransferCommitted {
							b.Errorf("transfer %d: %+v, %v", i, tr, err)
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
			rate := float64(len(all)) / elapsed.Seconds()
			b.ReportMetric(rate, "transfers/s")
			testkit.ReportLatency(b, all)
			if tps := pgbench(b, clients); tps > 0 {
				b.ReportMetric(tps, "pgbench_tps")
				b.ReportMetric(rate/tps, "ratio")
			}
		})
	}
}

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench runs pgbench's tpcb-like script for 5 s with clients connections against a fresh
// database on the benchmark's PostgreSQL and returns its tps, or 0 if pgbench is not installed.
func pgbench(b *testing.B, clients int) float64 {
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
		if len(found) == 0 {
			b.Log("pgbench not found: no comparison")
			return 0
		}
		bin = found[len(found)-1]
	}
	url := testkit.Postgres(b, "account") // any fresh database will do: pgbench makes its tables
	if out, err := exec.Command(bin, "-i", "-q", "-s", "1", url).CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-n", "-b", "tpcb-like", "-c", strconv.Itoa(clients), "-j", "2", "-T", "5", url).CombinedOutput()
	if err != nil {
		b.Fatalf("pgbench: %v\n%s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no tps in pgbench output:\n%s", out)
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	return tps
}
