package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/decisionsig"
	"tsbank/testkit"
)

// BenchmarkFlood is issue 12's flood: one connection publishes b.N deposits into one account
// without waiting for any (each with the deadline a client with a 1 s timeout sends), while a
// teller on another connection makes deposits into another account one after another, each with a
// 1 s timeout. It reports the teller's latency and timeouts during the flood, what became of the
// flood (applied, refused as overloaded, dropped unanswered past its deadline), how many flood
// deposits were applied after their deadline (which must be none: it fails otherwise), the most
// requests the node had running or waiting, and the node's peak memory (VmHWM of its own
// process) before and after the flood, on a durable Postgres:
//
//	go test ./services/account/server -run '^$' -bench Flood -benchtime 200000x
func BenchmarkFlood(b *testing.B) {
	const timeout = time.Second
	b.Logf("postgres: %s", testkit.DurablePostgresKind(b))
	// The node runs as its own process, so that its memory is measured alone: the flood's
	// messages also pass through the nats-server and the flooder's buffers, in this process.
	ns := testkit.StartNATS(b)
	db := testkit.DurablePostgres(b, "account")
	_, coordinatorKey, err := decisionsig.Generate()
	if err != nil {
		b.Fatal(err)
	}
	proc := testkit.NewProcess(b, testkit.Build(b, "tsbank/services/account/cmd/account"), "ACCOUNT_NODE=account-1",
		"DATABASE_URL="+db, "NATS_URL="+ns.ClientURL(), "COORDINATOR_PUBLIC_KEYS="+coordinatorKey)
	proc.Start(b)
	flooder, other := testkit.Connect(b, ns), client.New(testkit.Connect(b, ns))
	for _, id := range []string{"flooded", "teller"} {
		if _, err := other.Open(context.Background(), id, contract.OpenRequest{ID: "o-" + id, Currency: "EUR", Node: "account-1"}); err != nil {
			b.Fatal(err)
		}
	}
	rssBefore := peakRSS(b, proc)
	n := max(b.N, 1000)

	var mu sync.Mutex
	outcomes := map[string]int{}
	inbox := nats.NewInbox()
	sub, err := flooder.Subscribe(inbox+".*", func(m *nats.Msg) {
		outcome := "applied"
		if e := client.ReplyError(m); e != nil {
			outcome = string(e.Code)
		}
		mu.Lock()
		outcomes[outcome]++
		mu.Unlock()
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		b.Fatal(err)
	}
	deadlines := make(map[string]time.Time, n)
	waiting := inFlightWatch(b, proc.HTTPAddr)

	b.ResetTimer()
	start := time.Now()
	var latencies []time.Duration
	var timeouts atomic.Int64
	tellerDone := make(chan struct{})
	stopTeller := make(chan struct{})
	go func() {
		defer close(tellerDone)
		for i := 0; ; i++ {
			select {
			case <-stopTeller:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			t0 := time.Now()
			_, err := other.Deposit(ctx, "teller", contract.MoneyRequest{ID: fmt.Sprintf("t-%d", i), Amount: "1.00"})
			cancel()
			latencies = append(latencies, time.Since(t0))
			if err != nil {
				timeouts.Add(1)
				if timeouts.Load() == 1 {
					b.Logf("the teller's first failure: %v", err)
				}
			}
		}
	}()
	subject := contract.AccountSubject("flooded", contract.OpDeposit)
	for i := range n {
		id := fmt.Sprintf("f-%d", i)
		deadline := time.Now().Add(timeout)
		deadlines[id] = deadline
		data, _ := json.Marshal(contract.MoneyRequest{ID: id, Amount: "1.00"})
		m := &nats.Msg{Subject: subject, Reply: fmt.Sprintf("%s.%d", inbox, i), Data: data,
			Header: nats.Header{contract.DeadlineHeader: []string{contract.FormatDeadline(deadline)}}}
		if err := flooder.PublishMsg(m); err != nil {
			b.Fatal(err)
		}
	}
	if err := flooder.Flush(); err != nil {
		b.Fatal(err)
	}
	published := time.Since(start)
	// Every flood deposit is past its deadline a second after the last was sent; then whatever
	// the node still had of it is dropped, and the teller has run through all of it.
	time.Sleep(time.Until(start.Add(published + 2*timeout)))
	close(stopTeller)
	<-tellerDone
	b.StopTimer()
	intake := waiting()

	pool, err := pgxpool.New(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	rows, err := pool.Query(context.Background(), `SELECT request_id, created_at FROM requests WHERE account_id = 'flooded' AND request_id LIKE 'f-%'`)
	if err != nil {
		b.Fatal(err)
	}
	applied, late := 0, 0
	var latest time.Duration // the most a flood deposit's transaction began after its deadline
	for rows.Next() {
		var id string
		var at time.Time
		if err := rows.Scan(&id, &at); err != nil {
			b.Fatal(err)
		}
		applied++
		if d := at.Sub(deadlines[id]); d > latest {
			latest = d
		}
		// The deadline is checked just before the batch's transaction begins (Postgres's now()
		// is its start), so one begun within a few milliseconds after it is not late.
		if at.After(deadlines[id].Add(lateAfter)) {
			late++
		}
	}
	if err := rows.Err(); err != nil && !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
	mu.Lock()
	answered := 0
	for _, k := range outcomes {
		answered += k
	}
	b.ReportMetric(float64(n), "flood")
	b.ReportMetric(published.Seconds(), "flood_sent_s")
	b.ReportMetric(float64(applied), "flood_applied")
	b.ReportMetric(float64(outcomes[contract.CodeOverloaded]), "flood_overloaded")
	b.ReportMetric(float64(n-answered), "flood_unanswered")
	b.ReportMetric(float64(late), "flood_applied_late")
	b.ReportMetric(float64(latest.Microseconds())/1000, "flood_latest_begin_past_deadline_ms")
	mu.Unlock()
	testkit.ReportLatency(b, latencies)
	b.ReportMetric(float64(slices.Max(latencies).Microseconds())/1000, "teller_max_ms")
	b.ReportMetric(float64(len(latencies)), "teller_deposits")
	b.ReportMetric(float64(timeouts.Load()), "teller_failed")
	b.ReportMetric(float64(rssBefore)/(1<<10), "node_peak_rss_before_MB")
	b.ReportMetric(float64(peakRSS(b, proc))/(1<<10), "node_peak_rss_MB")
	b.ReportMetric(intake, "peak_node_in_flight")
	if late > 0 {
		b.Errorf("%d flood deposits were applied more than %v after their deadline (the latest %v)", late, lateAfter, latest)
	}
}

// lateAfter is how long after a deadline a batch may begin without its deposit counting as applied
// late: the time between the check of the deadline and the transaction's start.
const lateAfter = 50 * time.Millisecond

// inFlightWatch samples the node's requests received and not yet finished (running or waiting in
// its intake, from its /metrics) every 20 ms until the returned function is called, which returns
// the largest sample.
func inFlightWatch(b *testing.B, addr string) func() float64 {
	var mu sync.Mutex
	var peak float64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if v, err := testkit.MetricSum(addr, "tsbank_requests_in_flight"); err == nil {
				mu.Lock()
				peak = max(peak, v)
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() float64 { close(stop); <-done; mu.Lock(); defer mu.Unlock(); return peak }
}

// peakRSS is the most memory the process has held (VmHWM, in KiB): the kernel keeps the peak.
func peakRSS(b *testing.B, p *testkit.Process) int64 {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kib
		}
	}
	b.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}
