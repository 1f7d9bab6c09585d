package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/money"
)

const benchUsage = `usage: tsbankctl bench [flags]

Drives a running TSBank through its public subjects and reports throughput, latency, outcomes
and a money check: the bench's accounts hold as much money after the run as before (transfers
move money, never create it), or, with -mode deposit, exactly the acknowledged deposits more.
It exits 1 when the check fails.

It connects to NATS_URL as NATS_USER / NATS_PASSWORD. Opening the accounts and the initial
deposits are a teller's requests, so with the compose deployment run it as the operator: the
load then runs as the operator too. Load from the customers' side would need a customer per
account (tsbankctl customer add), each with their own connection.

Flags:
`

// benchCurrency is the currency of every bench account; -deposit and -amount are read in it.
const benchCurrency = "EUR"

// benchRequestTimeout is longer than the coordinator's REQUEST_TIMEOUT (10s by default), so that a
// slow transfer comes back with the coordinator's own "preparing" answer rather than a lost reply.
const benchRequestTimeout = 15 * time.Second

// benchOptions are the flags of tsbankctl bench.
type benchOptions struct {
	clients  int
	duration time.Duration
	accounts int
	hot      bool
	deposit  string
	amount   string
	prefix   string
	mode     string
}

func parseBenchFlags(args []string, errOut io.Writer) (benchOptions, error) {
	var o benchOptions
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() {
		fmt.Fprint(errOut, benchUsage)
		fs.PrintDefaults()
	}
	fs.IntVar(&o.clients, "clients", 16, "concurrent clients, each sending one request at a time")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long the clients send requests")
	fs.IntVar(&o.accounts, "accounts", 0, "accounts to spread the load over, placed on the live nodes in turn (default 2 × clients: each client pays back and forth between its own pair)")
	fs.BoolVar(&o.hot, "hot", false, "every client pays between (or deposits into) the same 2 accounts, one per node; -accounts is ignored")
	fs.StringVar(&o.deposit, "deposit", "1000.00", "initial balance deposited into each account ("+benchCurrency+")")
	fs.StringVar(&o.amount, "amount", "1.00", "amount of each transfer or deposit")
	fs.StringVar(&o.prefix, "prefix", fmt.Sprintf("bench-%d", time.Now().Unix()), "account id prefix, so that runs do not share accounts; a run with an earlier prefix reuses its accounts without depositing again")
	fs.StringVar(&o.mode, "mode", "transfer", "transfer (between the bench's accounts) or deposit (a teller's deposits into them)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("bench takes no arguments, only flags: %q", fs.Args())
	}
	return o, o.check()
}

func (o *benchOptions) check() error {
	cur, _ := money.LookupCurrency(benchCurrency)
	switch {
	case o.clients < 1:
		return fmt.Errorf("-clients %d: give at least 1", o.clients)
	case o.duration <= 0:
		return fmt.Errorf("-duration %s: give a positive duration such as 10s", o.duration)
	case o.mode != "transfer" && o.mode != "deposit":
		return fmt.Errorf("-mode %q: give transfer or deposit", o.mode)
	}
	if _, err := money.ParseNonNegative(o.deposit, cur); err != nil {
		return fmt.Errorf("-deposit: %w", err)
	}
	if _, err := money.Parse(o.amount, cur); err != nil {
		return fmt.Errorf("-amount: %w", err)
	}
	if o.hot {
		o.accounts = 2
	} else if o.accounts == 0 {
		o.accounts = 2 * o.clients
	}
	if o.accounts < 2 || (o.mode == "transfer" && o.accounts%2 == 1) {
		return fmt.Errorf("-accounts %d: give at least 2, and an even number for transfers, which run between pairs", o.accounts)
	}
	return nil
}

// bench runs `tsbankctl bench`: the report goes to out, the progress lines to errOut.
func bench(args []string, out, errOut io.Writer) error {
	o, err := parseBenchFlags(args, errOut)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	nc, err := connect("tsbankctl-bench")
	if err != nil {
		return err
	}
	defer nc.Close()
	b := newBencher(o, client.New(nc))
	// Ctrl-C ends the load early; the report and the money check still follow.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return b.run(ctx, out, errOut)
}

// bencher is one run of the bench.
type bencher struct {
	o        benchOptions
	c        *client.Client
	cur      money.Currency
	amount   int64    // minor units of -amount
	initial  int64    // minor units of -deposit
	accounts []string // ids; account i is on nodes[i % len(nodes)]
	runID    string   // in every request id of the load, so that runs on the same accounts do not replay each other
	// done and failed are read by the progress line while the clients run.
	done, failed atomic.Int64
}

func newBencher(o benchOptions, c *client.Client) *bencher {
	cur, _ := money.LookupCurrency(benchCurrency)
	// Both amounts were checked with the flags.
	amount, _ := money.Parse(o.amount, cur)
	initial, _ := money.ParseNonNegative(o.deposit, cur)
	b := &bencher{o: o, c: c, cur: cur, amount: amount, initial: initial, runID: strconv.FormatInt(time.Now().UnixNano(), 36)}
	for i := range o.accounts {
		b.accounts = append(b.accounts, fmt.Sprintf("%s-%04d", o.prefix, i))
	}
	return b
}

func (b *bencher) run(ctx context.Context, out, errOut io.Writer) error {
	setup, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodes, err := b.openAccounts(setup)
	if err != nil {
		return err
	}
	before, _, err := b.sumBalances(setup)
	if err != nil {
		return err
	}
	fmt.Fprintf(errOut, "%d accounts with prefix %s on %v; %d clients, %s mode, %s\n",
		len(b.accounts), b.o.prefix, nodes, b.o.clients, b.o.mode, b.o.duration)

	res := b.load(ctx, errOut)

	// Money in flight (a transfer decided but not applied on both legs, a deposit whose reply was
	// lost) must land before the balances are read again, or the check would compare half a run.
	settle, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	check := moneyCheck{cur: b.cur, accounts: len(b.accounts), before: before, want: before}
	if b.o.mode == "deposit" {
		acknowledged, unresolved := b.resolveDeposits(settle, res.unknown)
		res.resolved = acknowledged
		check.want += int64(res.outcomes["deposited"]+acknowledged) * b.amount
		if unresolved > 0 {
			check.problem = fmt.Sprintf("%d deposits with no answer even when sent again", unresolved)
		}
	}
	after, err := b.settledSum(settle)
	if err != nil {
		check.problem = cmp.Or(check.problem, err.Error())
	}
	check.after = after
	res.report(out, b.o.mode)
	check.report(out)
	if !check.ok() {
		return errors.New("the money check failed")
	}
	return nil
}

// openAccounts opens the bench's accounts on the live nodes in turn, so that with two nodes half
// of them are on each and a pair (2k, 2k+1) spans both, and deposits the initial balance into
// each. The request ids are fixed, so that a second run with the same prefix changes nothing.
func (b *bencher) openAccounts(ctx context.Context) ([]string, error) {
	nodes, err := b.liveNodes(ctx)
	if err != nil {
		return nil, err
	}
	err = b.each(func(i int) error {
		id := b.accounts[i]
		if _, err := b.c.Open(ctx, id, contract.OpenRequest{ID: "bench-open", Currency: benchCurrency, Node: nodes[i%len(nodes)]}); err != nil {
			return fmt.Errorf("open %s: %w", id, err)
		}
		if b.initial == 0 {
			return nil
		}
		if _, err := b.c.Deposit(ctx, id, contract.MoneyRequest{ID: "bench-deposit", Amount: b.o.deposit, Description: "bench"}); err != nil {
			return fmt.Errorf("deposit into %s: %w", id, err)
		}
		return nil
	})
	return nodes, err
}

// liveNodes returns the names of the account nodes serving, in order, waiting a while for one: a
// deployment may have just started.
func (b *bencher) liveNodes(ctx context.Context) ([]string, error) {
	for {
		l, err := b.c.Nodes(ctx)
		if err == nil && len(l.Nodes) > 0 {
			var names []string
			for _, n := range l.Nodes {
				names = append(names, n.Name)
			}
			slices.Sort(names)
			return names, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no account node is serving: %v", cmp.Or(err, ctx.Err()))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// each calls f for every account index on -clients goroutines and returns the errors.
func (b *bencher) each(f func(i int) error) error {
	var next atomic.Int64
	errs := make([]error, b.o.clients)
	var wg sync.WaitGroup
	for w := range b.o.clients {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(b.accounts); i = int(next.Add(1)) - 1 {
				if errs[w] = f(i); errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sumBalances adds up the balances and the holds of the bench's accounts.
func (b *bencher) sumBalances(ctx context.Context) (balance, onHold int64, err error) {
	var sum, held atomic.Int64
	err = b.each(func(i int) error {
		bal, err := b.c.Balance(ctx, b.accounts[i])
		if err != nil {
			return fmt.Errorf("balance of %s: %w", b.accounts[i], err)
		}
		n, err := money.ParseBalance(bal.Balance, b.cur)
		if err != nil {
			return fmt.Errorf("balance of %s: %w", b.accounts[i], err)
		}
		h, err := money.ParseNonNegative(bal.OnHold, b.cur)
		if err != nil {
			return fmt.Errorf("hold on %s: %w", b.accounts[i], err)
		}
		sum.Add(n)
		held.Add(h)
		return nil
	})
	return sum.Load(), held.Load(), err
}

// settledSum waits until no transfer of the bench's accounts is in flight or in doubt at the
// coordinator and none holds money, and returns the sum of the balances then.
func (b *bencher) settledSum(ctx context.Context) (int64, error) {
	ours := map[string]bool{}
	for _, id := range b.accounts {
		ours[id] = true
	}
	for {
		pending, err := b.pending(ctx, ours)
		if err == nil && pending == 0 {
			sum, held, err := b.sumBalances(ctx)
			if err == nil && held == 0 {
				return sum, nil
			}
			if err == nil {
				err = fmt.Errorf("%s on hold", money.Format(held, b.cur))
			}
		} else if err == nil {
			err = fmt.Errorf("%d transfers of the bench in flight or in doubt", pending)
		}
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sum, _, _ := b.sumBalances(last)
			return sum, fmt.Errorf("not settled: %w", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// pending counts the transfers in flight or in doubt that touch one of ours.
func (b *bencher) pending(ctx context.Context, ours map[string]bool) (int, error) {
	l, err := b.c.PendingTransfers(ctx)
	if err != nil {
		return 0, fmt.Errorf("pending transfers: %w", err)
	}
	n := 0
	for _, t := range slices.Concat(l.InFlight, l.InDoubt) {
		if ours[t.From] || ours[t.To] {
			n++
		}
	}
	return n, nil
}

// outcome is what became of one request: "committed", "aborted: <reason>", "deposited",
// "error: <code>", "timeout" (no answer within benchRequestTimeout) or "undecided: preparing"
// (the coordinator's answer that it has not decided in time).
type outcome struct {
	name   string
	failed bool
}

// sentDeposit is a deposit whose outcome the bench does not know yet.
type sentDeposit struct{ account, id string }

// results are the clients' outcomes, latencies and unknown deposits, merged.
type results struct {
	elapsed   time.Duration
	outcomes  map[string]int
	latencies []time.Duration
	unknown   []sentDeposit
	resolved  int // unknown deposits acknowledged when sent again
}

func (r *results) add(o results) {
	for k, v := range o.outcomes {
		r.outcomes[k] += v
	}
	r.latencies = append(r.latencies, o.latencies...)
	r.unknown = append(r.unknown, o.unknown...)
}

// load runs the clients until the duration is up or ctx ends, printing a progress line every
// second. A request in flight at the end is waited for, not cut short, so it is not counted as a
// timeout it was not.
func (b *bencher) load(ctx context.Context, errOut io.Writer) results {
	ctx, cancel := context.WithTimeout(ctx, b.o.duration)
	defer cancel()
	start := time.Now()
	per := make([]results, b.o.clients)
	var wg sync.WaitGroup
	for c := range b.o.clients {
		wg.Go(func() { per[c] = b.client(ctx, c) })
	}
	stopProgress := b.progress(start, errOut)
	wg.Wait()
	stopProgress()
	all := results{elapsed: time.Since(start), outcomes: map[string]int{}}
	for _, r := range per {
		all.add(r)
	}
	return all
}

// client sends one request after another until ctx ends.
func (b *bencher) client(ctx context.Context, c int) results {
	r := results{outcomes: map[string]int{}}
	for i := 0; ctx.Err() == nil; i++ {
		t0 := time.Now()
		var o outcome
		if b.o.mode == "deposit" {
			var sent sentDeposit
			o, sent = b.depositOnce(c, i)
			if o.failed {
				r.unknown = append(r.unknown, sent)
			}
		} else {
			o = b.transferOnce(c, i)
		}
		r.latencies = append(r.latencies, time.Since(t0))
		r.outcomes[o.name]++
		b.done.Add(1)
		if o.failed {
			b.failed.Add(1)
		}
	}
	return r
}

// pair is the pair of accounts client c's i-th transfer moves money between: client c takes pairs
// c, c + clients, c + 2 × clients… (its own with the default -accounts), each twice, paying there
// and back, so balances stay level and the money moved adds up to nothing per round.
func (b *bencher) pair(c, i int) (from, to string) {
	k := (c + i/2*b.o.clients) % (len(b.accounts) / 2)
	p, q := b.accounts[2*k], b.accounts[2*k+1]
	if i%2 == 1 {
		return q, p
	}
	return p, q
}

func (b *bencher) requestID(c, i int) string { return fmt.Sprintf("%s-%d-%d", b.runID, c, i) }

func (b *bencher) transferOnce(c, i int) outcome {
	from, to := b.pair(c, i)
	ctx, cancel := context.WithTimeout(context.Background(), benchRequestTimeout)
	defer cancel()
	tr, err := b.c.Transfer(ctx, from, contract.TransferRequest{ID: b.requestID(c, i), To: to, Amount: b.o.amount, Description: "bench"})
	switch {
	case err != nil:
		return errorOutcome(err)
	case tr.Status == contract.TransferCommitted:
		return outcome{name: "committed"}
	case tr.Status == contract.TransferAborted:
		return outcome{name: "aborted: " + string(tr.Reason)}
	}
	return outcome{name: "undecided: " + string(tr.Status), failed: true}
}

// depositOnce deposits into the accounts in turn, client c starting at its own.
func (b *bencher) depositOnce(c, i int) (outcome, sentDeposit) {
	d := sentDeposit{account: b.accounts[(c+i*b.o.clients)%len(b.accounts)], id: b.requestID(c, i)}
	ctx, cancel := context.WithTimeout(context.Background(), benchRequestTimeout)
	defer cancel()
	if _, err := b.c.Deposit(ctx, d.account, contract.MoneyRequest{ID: d.id, Amount: b.o.amount, Description: "bench"}); err != nil {
		return errorOutcome(err), d
	}
	return outcome{name: "deposited"}, d
}

func errorOutcome(err error) outcome {
	if code := contract.CodeOf(err); code != "" {
		return outcome{name: "error: " + string(code), failed: true}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		return outcome{name: "timeout", failed: true}
	}
	// No code: the request did not reach the bank or its reply was lost (a closed connection).
	return outcome{name: "error: connection", failed: true}
}

// resolveDeposits sends again, with the same request ids, the deposits that failed: a node
// answers a retry with the first receipt, or applies it now, so each one answered is in the
// balance exactly once. A definite refusal (such as account_closed) means it never applied.
func (b *bencher) resolveDeposits(ctx context.Context, sent []sentDeposit) (acknowledged, unresolved int) {
	for _, d := range sent {
		switch b.retryDeposit(ctx, d) {
		case nil:
			acknowledged++
		case errUnresolved:
			unresolved++
		}
	}
	return acknowledged, unresolved
}

var errUnresolved = errors.New("no answer")

func (b *bencher) retryDeposit(ctx context.Context, d sentDeposit) error {
	for {
		_, err := b.c.Deposit(ctx, d.account, contract.MoneyRequest{ID: d.id, Amount: b.o.amount, Description: "bench"})
		switch contract.CodeOf(err) {
		case "", contract.CodeTimeout, contract.CodeInternal, contract.CodeNodeUnavailable:
			// No answer yet, or one that says to send it again.
		default:
			return err
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errUnresolved
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// progress prints elapsed time, requests so far, the last second's rate and the failures every
// second, until the returned function is called.
func (b *bencher) progress(start time.Time, errOut io.Writer) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last := int64(0)
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				done := b.done.Load()
				fmt.Fprintf(errOut, "%5.0fs  %ss %8d  rate %6d/s  errors %d\n",
					now.Sub(start).Seconds(), b.o.mode, done, done-last, b.failed.Load())
				last = done
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}

func (r *results) report(out io.Writer, mode string) {
	n := len(r.latencies)
	fmt.Fprintf(out, "%-12s %d %ss in %.2fs: %.1f/s\n", "throughput", n, mode, r.elapsed.Seconds(), float64(n)/r.elapsed.Seconds())
	slices.Sort(r.latencies)
	fmt.Fprintf(out, "%-12s p50 %s  p99 %s  p99.9 %s  max %s\n", "latency",
		ms(quantile(r.latencies, 0.50)), ms(quantile(r.latencies, 0.99)), ms(quantile(r.latencies, 0.999)), ms(quantile(r.latencies, 1)))
	fmt.Fprintln(out, "outcomes")
	for _, name := range slices.Sorted(maps.Keys(r.outcomes)) {
		fmt.Fprintf(out, "  %-30s %8d\n", name, r.outcomes[name])
	}
	if len(r.unknown) > 0 {
		fmt.Fprintf(out, "  %-30s %8d of %d\n", "failed, acknowledged on retry", r.resolved, len(r.unknown))
	}
}

// quantile is the q-quantile of sorted (nearest rank), 0 for none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1000) }

// moneyCheck compares the sum of the bench's balances after the run with what it must be.
type moneyCheck struct {
	cur                 money.Currency
	accounts            int
	before, after, want int64
	problem             string // why the sums cannot be trusted, if they cannot
}

func (m moneyCheck) ok() bool { return m.problem == "" && m.after == m.want }

func (m moneyCheck) report(out io.Writer) {
	verdict := "ok"
	if !m.ok() {
		verdict = "FAILED"
	}
	fmt.Fprintf(out, "%-12s %s: %d accounts held %s %s before, %s after, %s expected\n", "money check", verdict,
		m.accounts, money.Format(m.before, m.cur), m.cur.Code, money.Format(m.after, m.cur), money.Format(m.want, m.cur))
	if m.problem != "" {
		fmt.Fprintf(out, "%-12s %s\n", "", m.problem)
	}
}
