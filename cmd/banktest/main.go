// Command banktest is a Jepsen-style bank test of TSBank. It starts the whole system as separate
// processes (Postgres, three nats-servers as a cluster, two account nodes, one with a standby, the
// coordinator and the history service), runs concurrent clients that transfer random amounts among
// a few accounts and read balances, and meanwhile injects faults on a seeded schedule: SIGKILL and
// restart of a node, the coordinator, the history service or a nats-server; an immediate stop of
// Postgres; SIGSTOP past the prepare timeout; a network partition between one service and NATS;
// replayed client requests. Then it heals everything, waits for the system to settle, checks the
// bank's invariants and prints a report. It exits 1 if an invariant does not hold.
//
//	go run ./cmd/banktest -duration 20m -seed 7 -report docs/banktest-report.md
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"tsbank/contract"
	"tsbank/contract/client"
)

type options struct {
	Duration time.Duration
	Clients  int
	Accounts int
	Seed     uint64
	Faults   []string
	Interval time.Duration
}

func main() {
	var o options
	var faults, reportPath string
	var seed int64
	flag.DurationVar(&o.Duration, "duration", time.Minute, "how long the clients run")
	flag.IntVar(&o.Clients, "clients", 16, "concurrent clients")
	flag.IntVar(&o.Accounts, "accounts", 8, "accounts, spread over the two nodes")
	flag.Int64Var(&seed, "seed", time.Now().UnixNano()%1_000_000, "seed of the workload and the fault schedule")
	flag.StringVar(&faults, "faults", "all", "fault kinds, comma-separated, or all: "+strings.Join(faultKinds, ","))
	flag.DurationVar(&o.Interval, "interval", 3*time.Second, "pause between two faults")
	flag.StringVar(&reportPath, "report", "", "also write the report to this file")
	flag.Parse()
	o.Seed = uint64(seed)
	o.Faults = faultKinds
	if faults != "all" {
		o.Faults = strings.Split(faults, ",")
	}
	var out io.Writer = os.Stdout
	if reportPath != "" {
		f, err := os.Create(reportPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "banktest:", err)
			os.Exit(2)
		}
		defer f.Close()
		out = io.MultiWriter(os.Stdout, f)
	}
	ok, err := run(context.Background(), o, out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "banktest:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// run runs one test and writes its report; ok is false if an invariant does not hold.
func run(ctx context.Context, o options, out io.Writer) (ok bool, err error) {
	for _, k := range o.Faults {
		if !contains(faultKinds, k) {
			return false, fmt.Errorf("unknown fault %q: use %s", k, strings.Join(faultKinds, ","))
		}
	}
	dir, err := os.MkdirTemp("", "tsbank-banktest-")
	if err != nil {
		return false, err
	}
	// The processes' logs stay for a run that failed.
	defer func() {
		if ok && err == nil {
			os.RemoveAll(dir)
		} else {
			fmt.Fprintf(out, "logs of the processes: %s\n", dir)
		}
	}()
	began := time.Now()
	s, err := startSystem(ctx, dir)
	if s != nil {
		defer s.stop()
	}
	if err != nil {
		return false, err
	}
	nc, err := nats.Connect(strings.Join(s.natsURLs, ","), s.operator(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return false, err
	}
	defer nc.Close()
	w := &workload{c: client.New(nc), reads: map[string]int{}}
	deposits, err := w.setup(ctx, o.Accounts)
	if err != nil {
		return false, err
	}

	w.start = time.Now()
	n := &nemesis{s: s, w: w, r: rand.New(rand.NewPCG(o.Seed, 99)), kinds: o.Faults, start: w.start, down: map[string]bool{}}
	runCtx, stop := context.WithTimeout(ctx, o.Duration)
	defer stop()
	nctx, stopNemesis := context.WithCancel(ctx)
	go n.supervise(nctx)
	nemesisDone := make(chan struct{})
	go func() { defer close(nemesisDone); n.run(runCtx, o.Interval) }()
	clientsDone := make(chan struct{}, o.Clients)
	for i := range o.Clients {
		go func() { w.client(runCtx, i, o.Seed); clientsDone <- struct{}{} }()
	}
	for range o.Clients {
		<-clientsDone
	}
	<-nemesisDone
	if err := n.healAll(); err != nil {
		stopNemesis()
		return false, fmt.Errorf("heal: %w", err)
	}
	c := &checker{s: s, w: w, pools: map[string]*pgxpool.Pool{}, deposits: deposits}
	defer c.close()
	settleErr := c.settled(ctx, 2*time.Minute)
	stopNemesis()
	inv, err := c.check(ctx, n.mismatches)
	if err != nil {
		return false, err
	}
	if settleErr != nil {
		inv = append([]invariant{{Name: "the system settled after the faults healed", Detail: settleErr.Error()}}, inv...)
	}
	inv = append(inv, natsLossRestarts(n))
	return report(out, o, w, n, inv, time.Since(began)), nil
}

// setup opens the accounts, alternating between the nodes, and deposits 1,000.00 into each.
func (w *workload) setup(ctx context.Context, accounts int) (int64, error) {
	var total int64
	for i := range accounts {
		id := fmt.Sprintf("acc-%d", i)
		node := []string{"account-1", "account-2"}[i%2]
		if err := retry(ctx, func(ctx context.Context) error {
			_, err := w.c.Open(ctx, id, contract.OpenRequest{ID: "open", Currency: "EUR", Node: node})
			return err
		}); err != nil {
			return 0, fmt.Errorf("open %s: %w", id, err)
		}
		if err := retry(ctx, func(ctx context.Context) error {
			_, err := w.c.Deposit(ctx, id, contract.MoneyRequest{ID: "seed", Amount: "1000.00"})
			return err
		}); err != nil {
			return 0, fmt.Errorf("deposit into %s: %w", id, err)
		}
		total += 100000
		w.accounts = append(w.accounts, id)
	}
	return total, nil
}

func retry(ctx context.Context, f func(context.Context) error) error {
	var err error
	for range 50 {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = f(rctx)
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// natsLossRestarts checks that no service process exited on its own after a NATS server was
// killed: the lease rides over the loss, and a node that does lose it waits as a standby in its
// process. Restarts after the other faults are listed in the faults table.
func natsLossRestarts(n *nemesis) invariant {
	var after []string
	kills, all := 0, 0
	for i, names := range n.restartsAfter() {
		all += len(names)
		if n.faults[i].Kind == "kill-nats" {
			kills++
			after = append(after, names...)
		}
	}
	return invariant{Name: "no service restarted on its own after the loss of a NATS server", OK: len(after) == 0,
		Detail: fmt.Sprintf("%d restarts after %d kill-nats faults%s; %d restarts after any fault",
			len(after), kills, strings.TrimSuffix(" ("+strings.Join(after, ", ")+")", " ()"), all)}
}

// report prints the run: operations by outcome, faults with their times, each invariant.
func report(out io.Writer, o options, w *workload, n *nemesis, inv []invariant, took time.Duration) bool {
	fmt.Fprintf(out, "# TSBank bank test\n\nseed %d, %s of load, %d clients, %d accounts, faults: %s (one every %s); whole run %s\n\n",
		o.Seed, o.Duration, o.Clients, o.Accounts, strings.Join(o.Faults, ","), o.Interval, took.Round(time.Second))
	counts := map[string]int{}
	for _, op := range w.ops {
		key := op.Outcome
		if op.Outcome == outOK {
			key += " " + string(op.Status)
			if op.Reason != "" {
				key += " (" + string(op.Reason) + ")"
			}
		} else if op.Reason != "" {
			key += " (" + string(op.Reason) + ")"
		}
		if op.Original != nil {
			key = "refund: " + key
		}
		counts[key]++
	}
	fmt.Fprintf(out, "## Operations\n\n| transfers | count |\n|---|---|\n")
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "| %s | %d |\n", k, counts[k])
	}
	fmt.Fprintf(out, "| **all** | %d |\n\nbalance reads: %d ok, %d unknown, %d failed\n\n", len(w.ops), w.reads[outOK], w.reads[outUnknown], w.reads[outFail])
	fmt.Fprintf(out, "## Faults\n\n| at | fault | target | lasted | restarted on their own after it | note |\n|---|---|---|---|---|---|\n")
	restarts := n.restartsAfter()
	for i, f := range n.faults {
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s |\n", f.At.Round(100*time.Millisecond), f.Kind, f.Target,
			f.For.Round(100*time.Millisecond), strings.Join(restarts[i], ", "), f.Note)
	}
	fmt.Fprintf(out, "\n## Invariants\n\n| invariant | result | found |\n|---|---|---|\n")
	ok := true
	for _, i := range inv {
		result := "PASS"
		if !i.OK {
			result, ok = "FAIL", false
		}
		fmt.Fprintf(out, "| %s | %s | %s |\n", i.Name, result, i.Detail)
	}
	passed, failed := 0, 0
	for _, i := range inv {
		if i.OK {
			passed++
		} else {
			failed++
		}
	}
	fmt.Fprintf(out, "\nseed %d\ninvariants: %d passed, %d failed\n", o.Seed, passed, failed)
	return ok
}
