package e2e

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/testkit"
)

// The transfer benchmarks measure the targets of issue 11 on a durable Postgres that holds every
// database of the bank (testkit.DurablePostgres: a throwaway cluster with fsync on, or
// TSBANK_TEST_POSTGRES_URL), each beside pgbench's tpcb-like script run on the same server, in
// the same run, with as many clients and scale = clients:
//
//	go test ./e2e -run '^$' -bench Transfer -benchtime 4000x
//
// Each reports transfers/s (committed), the p50, p99 and p99.9 latency of every request, aborts
// per transfer by reason, what a transfer costs (testkit.Costs) and pgbench's tps and the ratio.

// BenchmarkTransfer measures cross-node transfers at 1, 16 and 64 clients: each client pays back
// and forth between its own pair of accounts, one on each node, so the figure is the protocol's,
// not one hot row's.
func BenchmarkTransfer(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			bk := startBenchBank(b)
			for c := range clients {
				bk.openFunded(fmt.Sprintf("p%02d", c), "account-1")
				bk.openFunded(fmt.Sprintf("q%02d", c), "account-2")
			}
			runTransfers(b, bk, clients, func(c int, i int64) (string, string) {
				return alternate(fmt.Sprintf("p%02d", c), fmt.Sprintf("q%02d", c), i)
			})
		})
	}
}

// BenchmarkTransferSameNode measures transfers whose two legs are on one node, at 64 clients:
// each client pays between its own two accounts, half the clients on each node.
func BenchmarkTransferSameNode(b *testing.B) {
	const clients = 64
	b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
		bk := startBenchBank(b)
		for c := range clients {
			node := nodeNames[c%len(nodeNames)]
			bk.openFunded(fmt.Sprintf("p%02d", c), node)
			bk.openFunded(fmt.Sprintf("q%02d", c), node)
		}
		runTransfers(b, bk, clients, func(c int, i int64) (string, string) {
			return alternate(fmt.Sprintf("p%02d", c), fmt.Sprintf("q%02d", c), i)
		})
	})
}

// BenchmarkTransferHot measures 64 clients paying out of the same 2 accounts, one on each node,
// each client into its own account on the other node: every debit queues on one of two rows.
// Only insufficient_funds is an acceptable abort; the others are reported like any.
func BenchmarkTransferHot(b *testing.B) {
	const clients = 64
	b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
		bk := startBenchBank(b)
		hot := []string{"hot1", "hot2"}
		bk.openFunded(hot[0], "account-1")
		bk.openFunded(hot[1], "account-2")
		for c := range clients {
			bk.openFunded(fmt.Sprintf("q%02d", c), nodeNames[(c+1)%len(nodeNames)])
		}
		runTransfers(b, bk, clients, func(c int, _ int64) (string, string) {
			return hot[c%len(hot)], fmt.Sprintf("q%02d", c)
		})
	})
}

// startBenchBank starts two account nodes and the coordinator with every database on the
// durable server, and with the services' own timeouts instead of the tests' short ones, so that
// a slow vote is waited for as long as in a deployment before the transfer aborts.
func startBenchBank(b *testing.B) *bank {
	b.Helper()
	b.Logf("postgres: %s", testkit.DurablePostgresKind(b))
	bk := newBankOn(b, testkit.DurablePostgres)
	for k := range testEnv {
		delete(bk.env, k)
	}
	// The batching knob, to compare settings in one command: NODE_BATCHES=1 go test … -bench …
	if v := os.Getenv("NODE_BATCHES"); v != "" {
		bk.env["NODE_BATCHES"] = v
	}
	for _, name := range nodeNames {
		bk.startNode(name)
	}
	bk.startCoordinator()
	return bk
}

// openFunded opens an account on node with enough money that no benchmark runs it dry.
func (b *bank) openFunded(id, node string) {
	b.t.Helper()
	b.open(id, node, "EUR")
	b.deposit(id, "1000000.00")
}

// alternate pays from p to q on odd i and back on even i, so that balances stay put.
func alternate(p, q string, i int64) (string, string) {
	if i%2 == 0 {
		return q, p
	}
	return p, q
}

// runTransfers runs b.N transfers from clients goroutines, client c's i-th transfer paying
// pay(c, i), then reports the figures and costs, stops the bank and runs pgbench. A transfer
// that aborts or fails is counted by reason and the run goes on, so that a benchmark under
// overload shows how often that happens instead of stopping at the first.
func runTransfers(b *testing.B, bk *bank, clients int, pay func(c int, i int64) (from, to string)) {
	b.Helper()
	var dbs []string
	for _, db := range []string{"account-1", "account-2", "coordinator"} {
		dbs = append(dbs, bk.dbs[db])
	}
	costs := testkit.StartCosts(b, testkit.DurablePostgresAdminURL(b), bk.ns, dbs)
	latencies := make([][]time.Duration, clients)
	ends := make([]outcomes, clients)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		ends[c] = newOutcomes()
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				from, to := pay(c, i)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				t0 := time.Now()
				tr, err := bk.c.Transfer(ctx, from, contract.TransferRequest{ID: fmt.Sprintf("b%d", i), To: to, Amount: "1.00"})
				latencies[c] = append(latencies[c], time.Since(t0))
				cancel()
				ends[c].add(tr, err)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	all := mergeOutcomes(ends)
	rate := float64(all.n[string(contract.TransferCommitted)]) / elapsed.Seconds()
	b.ReportMetric(rate, "transfers/s")
	testkit.ReportLatency(b, slices.Concat(latencies...))
	all.report(b)
	for _, name := range nodeNames {
		testkit.OutboxSent(b, bk.dbs[name])
	}
	costs.Report(b, b.N, bk.stop)

	testkit.ComparePgBench(b, "tpcb-like", clients, elapsed, rate)
}

// stop stops every service of the bank; their cleanups then find them stopped.
func (b *bank) stop() {
	for _, n := range b.nodes {
		n.Stop(5 * time.Second)
	}
	if b.coord != nil {
		b.coord.Stop(5 * time.Second)
	}
}

// outcomes counts transfers by how they ended: committed, or the reason of an abort or error,
// with the first message seen for each reason.
type outcomes struct {
	n       map[string]int
	message map[string]string
}

func newOutcomes() outcomes { return outcomes{n: map[string]int{}, message: map[string]string{}} }

func (o outcomes) add(tr contract.Transfer, err error) {
	key, msg := string(contract.TransferCommitted), ""
	switch {
	case err != nil:
		key, msg = "error_"+string(cmp.Or(contract.CodeOf(err), "no_reply")), err.Error()
	case tr.Status == contract.TransferAborted:
		key, msg = string(tr.Reason), tr.Message
	case tr.Status != contract.TransferCommitted:
		key = "status_" + string(tr.Status)
	}
	o.n[key]++
	if _, ok := o.message[key]; !ok {
		o.message[key] = msg
	}
}

func mergeOutcomes(each []outcomes) outcomes {
	all := newOutcomes()
	for _, o := range each {
		for k, n := range o.n {
			all.n[k] += n
		}
		for k, m := range o.message {
			if _, ok := all.message[k]; !ok {
				all.message[k] = m
			}
		}
	}
	return all
}

// report reports, for every way a transfer ended other than committed, the share of transfers
// that ended so, and logs the count and a message, which for timeout says which node did not vote.
func (o outcomes) report(b *testing.B) {
	total := 0
	for _, n := range o.n {
		total += n
	}
	for _, k := range slices.Sorted(maps.Keys(o.n)) {
		if k == string(contract.TransferCommitted) {
			continue
		}
		b.ReportMetric(float64(o.n[k])/float64(total), "abort_"+k+"/op")
		b.Logf("%d of %d transfers ended %s: %s", o.n[k], total, k, o.message[k])
	}
}
