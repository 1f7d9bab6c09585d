package main_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// keysEnv is the COORDINATOR_PUBLIC_KEYS line of a node that no test here sends a leg to.
func keysEnv(t *testing.T) string {
	t.Helper()
	_, env := coordinator(t)
	return env
}

// skipShort skips, in the fast tier (-short), a test that builds and runs the node's binary:
// the build alone takes longer than the whole tier should.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary: the fast tier (-short) skips it")
	}
}

func TestMigrateAppliesTheSchema(t *testing.T) {
	skipShort(t)
	t.Parallel()
	bin := testkit.Build(t, ".")
	ctx := context.Background()
	// A fresh, empty database: the test kit's are migrated already.
	admin, err := pgxpool.New(ctx, testkit.PostgresAdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("migrate_test_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)") })
	u, err := url.Parse(testkit.PostgresAdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	for range 2 { // the second run finds nothing to do
		cmd := exec.Command(bin, "migrate")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+u.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("migrate: %v\n%s", err, out)
		}
	}
	db, err := pgxpool.New(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename IN ('accounts', 'requests', 'outbox')`).Scan(&tables); err != nil || tables != 3 {
		t.Fatalf("tables after migrate = %d, %v; want 3", tables, err)
	}
	cmd := exec.Command(bin, "migrate")
	cmd.Env = append(os.Environ(), "DATABASE_URL=")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("migrate without DATABASE_URL succeeded:\n%s", out)
	}
}

func TestServeRefusesABadConfiguration(t *testing.T) {
	skipShort(t)
	t.Parallel()
	cmd := exec.Command(testkit.Build(t, "."))
	cmd.Env = append(os.Environ(), "ACCOUNT_NODE=bad.name", "DATABASE_URL=", "REQUEST_TIMEOUT=soon", "COORDINATOR_PUBLIC_KEYS=")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("serve with a bad configuration: %v", err)
	}
	for _, name := range []string{"ACCOUNT_NODE", "DATABASE_URL", "REQUEST_TIMEOUT", "COORDINATOR_PUBLIC_KEYS"} {
		if !strings.Contains(string(out), name) {
			t.Errorf("log does not name %s:\n%s", name, out)
		}
	}
}

// TestSIGKILLLosesNoAcknowledgedDeposit kills the node with SIGKILL while clients deposit, restarts
// it, retries every deposit whose reply was lost, and checks that each deposit was applied exactly
// once and that the stream carries exactly one event for each.
func TestSIGKILLLosesNoAcknowledgedDeposit(t *testing.T) {
	t.Parallel()
	ns := testkit.StartNATS(t)
	nc := testkit.Connect(t, ns)
	c := client.New(nc)
	p := testkit.NewProcess(t, testkit.Build(t, "."), "ACCOUNT_NODE=account-1", "DATABASE_URL="+testkit.Postgres(t, "account"),
		"NATS_URL="+ns.ClientURL(), "OUTBOX_POLL=50ms", "REQUEST_TIMEOUT=2s", keysEnv(t))
	p.Start(t)
	ctx := context.Background()
	if _, err := c.Open(ctx, "alice", contract.OpenRequest{ID: "o-1", Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}

	const clients, perClient = 8, 60
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	killed := make(chan struct{})
	var killOnce sync.Once
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				id := fmt.Sprintf("d-%d-%d", w, i)
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := c.Deposit(rctx, "alice", contract.MoneyRequest{ID: id, Amount: "1.00"})
				cancel()
				mu.Lock()
				if err == nil {
					acked[id] = true
				}
				n := len(acked)
				mu.Unlock()
				if n >= clients*perClient/3 {
					killOnce.Do(func() { close(killed) })
				}
				select {
				case <-killed:
					if err != nil {
						return // the node is gone: stop this client
					}
				default:
				}
			}
		}()
	}
	select {
	case <-killed:
	case <-time.After(30 * time.Second):
		t.Fatal("deposits did not get going")
	}
	p.Kill(t)
	wg.Wait()
	mu.Lock()
	ackedBefore := len(acked)
	mu.Unlock()
	p.Start(t)

	// Every acknowledged deposit survived: the balance is at least their sum.
	bal, err := c.Balance(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var units int
	fmt.Sscanf(bal.Balance, "%d", &units)
	if units < ackedBefore {
		t.Fatalf("balance %s after restart, but %d deposits of 1.00 were acknowledged", bal.Balance, ackedBefore)
	}
	// Retrying every deposit with its id applies each exactly once.
	for w := range clients {
		for i := range perClient {
			id := fmt.Sprintf("d-%d-%d", w, i)
			if _, err := c.Deposit(ctx, "alice", contract.MoneyRequest{ID: id, Amount: "1.00"}); err != nil {
				t.Fatalf("retry %s: %v", id, err)
			}
		}
	}
	want := fmt.Sprintf("%d.00", clients*perClient)
	if bal, err := c.Balance(ctx, "alice"); err != nil || bal.Balance != want {
		t.Fatalf("balance = %+v, %v; want %s", bal, err, want)
	}
	// The outbox delivers every event, once.
	js, _ := jetstream.New(nc)
	testkit.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		ids, err := streamIDs(js)
		if err != nil {
			return err
		}
		if len(ids) != clients*perClient {
			return fmt.Errorf("stream has %d distinct events, want %d", len(ids), clients*perClient)
		}
		for id, k := range ids {
			if k != 1 {
				return fmt.Errorf("event %s is on the stream %d times", id, k)
			}
		}
		return nil
	})
	t.Logf("%d deposits acknowledged before SIGKILL", ackedBefore)
}

func streamIDs(js jetstream.JetStream) (map[string]int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, contract.EventsStream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, err
	}
	ids := map[string]int{}
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			return nil, err
		}
		ids[m.Header.Get(nats.MsgIdHdr)]++
	}
	return ids, nil
}

// TestSIGTERMStopsCleanly checks the shutdown path: the node stops taking requests, drains and
// exits 0 well within its bound.
func TestSIGTERMStopsCleanly(t *testing.T) {
	t.Parallel()
	ns := testkit.StartNATS(t)
	c := client.New(testkit.Connect(t, ns))
	p := testkit.NewProcess(t, testkit.Build(t, "."), "ACCOUNT_NODE=account-1", "DATABASE_URL="+testkit.Postgres(t, "account"),
		"NATS_URL="+ns.ClientURL(), keysEnv(t))
	p.Start(t)
	ctx := context.Background()
	if nodes, err := c.Nodes(ctx); err != nil || len(nodes.Nodes) != 1 {
		t.Fatalf("nodes = %+v, %v", nodes, err)
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15 s of SIGTERM")
	}
	_, err := c.Balance(ctx, "anyone")
	if contract.CodeOf(err) != contract.CodeNodeUnavailable {
		t.Fatalf("request after stop = %v, want node_unavailable", err)
	}
}
