package main_test

import (
	"context"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/decisionsig"
	"tsbank/testkit"
)

// coordinator plays the coordinator: a fresh signing key, as its seed and as the node's
// COORDINATOR_PUBLIC_KEYS line that trusts it.
func coordinator(t *testing.T) (seed, keysEnv string) {
	t.Helper()
	seed, public, err := decisionsig.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return seed, "COORDINATOR_PUBLIC_KEYS=" + public
}

// sign returns the signature of seed over s.
func sign(t *testing.T, seed string, s decisionsig.Statement) string {
	t.Helper()
	kp, err := decisionsig.ParseSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := decisionsig.Sign(kp, s)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// twoProcessesOneNode starts an active account-1 and a standby for it, over one database, both
// trusting the coordinator key in keysEnv.
func twoProcessesOneNode(t *testing.T, keysEnv string) (active, standby *testkit.Process, c *client.Client, db string) {
	ns := testkit.StartNATS(t)
	c = client.New(testkit.Connect(t, ns))
	db = testkit.Postgres(t, "account")
	bin := testkit.Build(t, ".")
	env := []string{"ACCOUNT_NODE=account-1", "DATABASE_URL=" + db, "NATS_URL=" + ns.ClientURL(), "LEASE_TTL=3s", "REQUEST_TIMEOUT=1s", keysEnv}
	active = testkit.NewProcess(t, bin, env...)
	active.Start(t)
	standby = testkit.NewProcess(t, bin, env...)
	standby.Launch(t) // it waits for the lease, so it is not ready
	return active, standby, c, db
}

func balanceIs(c *client.Client, want string) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		b, err := c.Balance(ctx, "alice")
		if err != nil {
			return err
		}
		if b.Balance != want {
			return fmt.Errorf("balance %s, want %s", b.Balance, want)
		}
		return nil
	}
}

// TestAStandbyTakesOverAKilledNode kills the active process of a node with SIGKILL while a standby
// waits: the standby serves the node's accounts, with every committed balance and every prepared
// hold, after the lease's time to live. The time to take over is logged.
func TestAStandbyTakesOverAKilledNode(t *testing.T) {
	t.Parallel()
	seed, keysEnv := coordinator(t)
	active, standby, c, db := twoProcessesOneNode(t, keysEnv)
	ctx := context.Background()
	if _, err := c.Open(ctx, "alice", contract.OpenRequest{ID: "o-1", Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deposit(ctx, "alice", contract.MoneyRequest{ID: "d-1", Amount: "100.00"}); err != nil {
		t.Fatal(err)
	}
	var vote contract.Vote
	prepare := contract.PrepareRequest{TransferID: "x1", Leg: contract.LegDebit, Amount: "30.00", Counterparty: "bob"}
	prepare.Sig = sign(t, seed, decisionsig.Prepare("alice", prepare))
	if err := c.Call(ctx, contract.NodeAccountSubject("account-1", "alice", contract.OpPrepare), prepare, &vote); err != nil || !vote.Yes {
		t.Fatalf("prepare: %+v, %v", vote, err)
	}

	active.Kill(t)
	killed := time.Now()
	testkit.CheckFor(t, 30*time.Second, 50*time.Millisecond, balanceIs(c, "100.00"))
	t.Logf("the standby served account-1 %.1f s after the active process's SIGKILL (lease TTL 3 s)", time.Since(killed).Seconds())
	standby.WaitReady(t, 5*time.Second)

	b, err := c.Balance(ctx, "alice")
	if err != nil || b.OnHold != "30.00" || b.Available != "70.00" {
		t.Fatalf("after take-over: %+v, %v; want the hold of 30.00 kept", b, err)
	}
	var st contract.LegState
	commit := contract.LegRequest{TransferID: "x1", Leg: contract.LegDebit}
	commit.Sig = sign(t, seed, decisionsig.Leg(contract.OpCommit, "alice", commit))
	if err := c.Call(ctx, contract.NodeAccountSubject("account-1", "alice", contract.OpCommit), commit, &st); err != nil || st.State != "committed" {
		t.Fatalf("commit the held leg on the new holder: %+v, %v", st, err)
	}
	testkit.CheckFor(t, 5*time.Second, 50*time.Millisecond, balanceIs(c, "70.00"))
	pool, err := pgxpool.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var epoch int64
	if err := pool.QueryRow(ctx, `SELECT epoch FROM fence`).Scan(&epoch); err != nil || epoch <= 1 {
		t.Fatalf("fence epoch %d, %v: the standby should have moved it", epoch, err)
	}
}

// TestAPausedHolderStepsDown stops the active process with SIGSTOP past its lease: the standby
// takes over, and when the old process resumes it finds its lease gone and stops serving rather
// than serve next to the new holder. It does not exit (it did before issue 12: every lease lost
// was a process restart): it waits as the standby, and takes over again when the new holder is
// killed. Deposits made through the change-overs are each applied once.
func TestAPausedHolderStepsDown(t *testing.T) {
	t.Parallel()
	_, keysEnv := coordinator(t)
	active, standby, c, _ := twoProcessesOneNode(t, keysEnv)
	ctx := context.Background()
	for _, id := range []string{"alice", "carol"} {
		if _, err := c.Open(ctx, id, contract.OpenRequest{ID: "o-" + id, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
	}
	// Until it acknowledges, a client retries a deposit with the same id: a request the queue group
	// hands to the paused process times out, and one the resumed process handles before it sees its
	// lease gone is refused by the fence.
	deposit := func(id, amount string) {
		t.Helper()
		testkit.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
			rctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			_, err := c.Deposit(rctx, "alice", contract.MoneyRequest{ID: id, Amount: amount})
			return err
		})
	}
	// Pause it while it is busy, so that it is likely to stop in the middle of a transaction that
	// holds the fence's share lock: the standby must take over all the same, within the lease's
	// time to live and a little more.
	busy, stop := context.WithCancel(ctx)
	go func() {
		for i := 0; busy.Err() == nil; i++ {
			rctx, cancel := context.WithTimeout(busy, 200*time.Millisecond)
			_, _ = c.Deposit(rctx, "carol", contract.MoneyRequest{ID: fmt.Sprintf("busy-%d", i), Amount: "1.00"})
			cancel()
		}
	}()
	time.Sleep(200 * time.Millisecond)
	active.Signal(t, syscall.SIGSTOP)
	stop()
	paused := time.Now()
	standby.WaitReady(t, 10*time.Second)
	t.Logf("the standby was ready %.1f s after the active process's SIGSTOP (lease TTL 3 s)", time.Since(paused).Seconds())
	deposit("d-1", "10.00")
	active.Signal(t, syscall.SIGCONT)
	for i := range 20 {
		deposit(fmt.Sprintf("r-%d", i), "1.00")
	}
	exited := make(chan error, 1)
	go func() { exited <- active.Cmd.Wait() }()
	testkit.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		select {
		case err := <-exited:
			t.Fatalf("the paused holder exited after losing its lease (%v); want it to wait as a standby", err)
		default:
		}
		if readyz(active) == http.StatusOK {
			return fmt.Errorf("the paused holder still says it serves, after resuming without its lease")
		}
		return nil
	})
	standby.Kill(t)
	killed := time.Now()
	active.WaitReady(t, 10*time.Second)
	t.Logf("the old holder, a standby now, served again %.1f s after the new holder's SIGKILL", time.Since(killed).Seconds())
	deposit("d-2", "5.00")
	testkit.CheckFor(t, 5*time.Second, 50*time.Millisecond, balanceIs(c, "35.00"))
}

// readyz is the status of the process's /readyz, or 0 if it does not answer.
func readyz(p *testkit.Process) int {
	resp, err := http.Get("http://" + p.HTTPAddr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
