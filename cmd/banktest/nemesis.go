package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"syscall"
	"time"

	"tsbank/contract"
)

// The kinds of fault the nemesis injects.
var faultKinds = []string{"kill-node", "kill-coordinator", "kill-history", "kill-nats", "stop-postgres", "pause", "partition", "duplicate", "move"}

// fault is one injected fault, for the report.
type fault struct {
	Kind, Target string
	At, For      time.Duration
	Note         string
}

// nemesis injects faults one at a time on a seeded schedule, and restarts any service process
// that exits on its own (as a container's restart policy would), except one it holds down.
type nemesis struct {
	s      *system
	w      *workload
	r      *rand.Rand
	kinds  []string
	start  time.Time
	mu     sync.Mutex
	down   map[string]bool
	faults []fault
	// processes that exited on their own and were started again, as a restart policy would
	restarts []restart
	// replays of earlier requests, and the ones whose answer changed
	replayed   int
	mismatches []string
}

func (n *nemesis) hold(name string, down bool) {
	n.mu.Lock()
	n.down[name] = down
	n.mu.Unlock()
}

// restart is a service process that exited without being killed, and was started again.
type restart struct {
	At   time.Duration // since the load began
	Name string
}

// supervise restarts service processes that have exited and are not held down, and counts them:
// a service is meant to ride over the faults it did not suffer itself (a NATS server's loss, a
// partition, a pause) without exiting.
func (n *nemesis) supervise(ctx context.Context) {
	for ctx.Err() == nil {
		for _, name := range serviceNames {
			p := n.s.procs[name]
			n.mu.Lock()
			held := n.down[name]
			n.mu.Unlock()
			if !held && !p.alive() {
				n.mu.Lock()
				n.restarts = append(n.restarts, restart{At: time.Since(n.start), Name: name})
				n.mu.Unlock()
				_ = p.start()
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// restartsAfter is, for each fault, the processes that restarted on their own after it began
// and before the next one began.
func (n *nemesis) restartsAfter() [][]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	by := make([][]string, len(n.faults))
	for _, r := range n.restarts {
		for i := len(n.faults) - 1; i >= 0; i-- {
			if n.faults[i].At <= r.At {
				by[i] = append(by[i], r.Name)
				break
			}
		}
	}
	return by
}

func (n *nemesis) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(n.r.Int64N(int64(hi-lo)+1))
}

// serving is the account-1 process that holds the node's lease now.
func (n *nemesis) serving() string {
	for _, name := range []string{"account-1", "account-1b"} {
		p := n.s.procs[name]
		resp, err := http.Get("http://" + p.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return name
			}
		}
	}
	return "account-1"
}

// run injects faults until ctx ends, going through every chosen kind in a seeded random order
// before repeating one, so that even a short run has each kind.
func (n *nemesis) run(ctx context.Context, interval time.Duration) {
	var order []string
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		if len(order) == 0 {
			order = append([]string(nil), n.kinds...)
			n.r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		f := fault{Kind: order[0], At: time.Since(n.start)}
		order = order[1:]
		// A fault that has begun is always healed, even if the run's time ends meanwhile.
		f.Target, f.Note = n.inject(context.WithoutCancel(ctx), f.Kind)
		f.For = time.Since(n.start) - f.At
		n.mu.Lock()
		n.faults = append(n.faults, f)
		n.mu.Unlock()
	}
}

// inject applies one fault, waits, and heals it.
func (n *nemesis) inject(ctx context.Context, kind string) (target, note string) {
	restartAfter := func(name string, d time.Duration) {
		n.hold(name, true)
		n.s.procs[name].kill()
		time.Sleep(d)
		_ = n.s.procs[name].start() // before it is released, so that supervise does not count it
		n.hold(name, false)
	}
	switch kind {
	case "kill-node":
		target = []string{n.serving(), "account-2"}[n.r.IntN(2)]
		restartAfter(target, n.between(time.Second, 3*time.Second))
	case "kill-coordinator", "kill-history":
		target = kind[len("kill-"):]
		restartAfter(target, n.between(500*time.Millisecond, 2*time.Second))
	case "kill-nats":
		i := n.r.IntN(len(n.s.nats))
		target = n.s.nats[i].name
		n.s.nats[i].kill()
		time.Sleep(n.between(time.Second, 3*time.Second))
		_ = n.s.nats[i].start()
		if err := n.s.nats[i].ready(30 * time.Second); err != nil {
			note = err.Error()
		}
	case "stop-postgres":
		target = "postgres"
		if err := n.s.crashPostgres(ctx, n.between(500*time.Millisecond, 2*time.Second)); err != nil {
			note = err.Error()
		}
	case "pause":
		// Past the prepare timeout (1 s); past the lease (3 s) a node's standby takes over.
		target = []string{n.serving(), "account-2", "coordinator"}[n.r.IntN(3)]
		p := n.s.procs[target]
		p.signal(syscall.SIGSTOP)
		time.Sleep(n.between(1500*time.Millisecond, 4*time.Second))
		p.signal(syscall.SIGCONT)
	case "partition":
		target = serviceNames[n.r.IntN(len(serviceNames))]
		for _, p := range n.s.proxies[target] {
			p.partition()
		}
		time.Sleep(n.between(time.Second, 4*time.Second))
		for _, p := range n.s.proxies[target] {
			p.heal()
		}
	case "move":
		target, note = n.move(ctx)
	case "duplicate":
		target = "clients"
		checked, mismatches := n.w.replay(ctx, 20, n.r)
		n.mu.Lock()
		n.replayed += checked
		n.mismatches = append(n.mismatches, mismatches...)
		n.mu.Unlock()
		note = fmt.Sprintf("%d earlier requests sent again", checked)
	}
	return target, note
}

// move moves one of the workload's accounts to the other node while the transfers run, and
// waits for the move to finish (docs/adr/0036).
func (n *nemesis) move(ctx context.Context) (target, note string) {
	account := n.w.accounts[n.r.IntN(len(n.w.accounts))]
	n.mu.Lock()
	id := fmt.Sprintf("move-%d", len(n.faults)+1)
	n.mu.Unlock()
	began := time.Now()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	w, err := n.w.c.Whereis(wctx, account)
	cancel()
	if err != nil {
		return account, "whereis: " + err.Error()
	}
	to := map[string]string{"account-1": "account-2", "account-2": "account-1"}[w.Node]
	target = account + " " + w.Node + "->" + to
	var m contract.Move
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = n.w.c.Call(cctx, contract.SubjectMoves, contract.MoveRequest{ID: id, Account: account, To: to}, &m)
		cancel()
		if err == nil && (m.State == contract.MoveDone || m.State == contract.MoveAborted) {
			break
		}
		time.Sleep(500 * time.Millisecond) // a node or the coordinator is down: the move resumes
	}
	switch {
	case err != nil:
		return target, "move: " + err.Error()
	case m.State == contract.MoveAborted:
		return target, fmt.Sprintf("given up (%s) after %s", m.Reason, time.Since(began).Round(time.Millisecond))
	case m.State != contract.MoveDone:
		return target, fmt.Sprintf("still %s after %s", m.State, time.Since(began).Round(time.Millisecond))
	}
	return target, fmt.Sprintf("done in %s, %d rows copied", time.Since(began).Round(time.Millisecond), m.Copied)
}

// healAll ends every fault: Postgres up, processes resumed and running, proxies open.
func (n *nemesis) healAll() error {
	if err := n.s.ensurePostgres(context.Background()); err != nil {
		return err
	}
	for _, ps := range n.s.proxies {
		for _, p := range ps {
			p.heal()
		}
	}
	for _, nt := range n.s.nats {
		if !nt.alive() {
			_ = nt.start()
		}
		if err := nt.ready(30 * time.Second); err != nil {
			return err
		}
	}
	for _, name := range serviceNames {
		p := n.s.procs[name]
		p.signal(syscall.SIGCONT)
		n.hold(name, false)
	}
	for _, name := range []string{"account-2", "coordinator", "history"} {
		if err := n.s.procs[name].ready(60 * time.Second); err != nil {
			return err
		}
	}
	return nil
}
