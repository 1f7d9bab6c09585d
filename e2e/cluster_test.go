package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/testkit"
)

// clusterBank is a bank on a three-server NATS cluster, its streams and buckets replicated three
// times; the services are started by the caller.
func clusterBank(t *testing.T) (*testkit.NATSCluster, *bank) {
	t.Helper()
	cluster := testkit.StartNATSCluster(t)
	b := newBank(t)
	b.env["NATS_URL"], b.env["JS_REPLICAS"] = cluster.URLs(), "3"
	nc, err := nats.Connect(cluster.URLs(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	b.nc, b.c = nc, client.New(nc)
	return cluster, b
}

// committed counts the transfers committed in the coordinator's log.
func (b *bank) committed() int {
	var n int
	_ = b.pool("coordinator").QueryRow(ctx(b.t), `SELECT count(*) FROM transfers WHERE outcome = 'committed'`).Scan(&n)
	return n
}

// committedAtLeast waits until n transfers have committed.
func (b *bank) committedAtLeast(n int) {
	b.t.Helper()
	testkit.CheckFor(b.t, 20*time.Second, 50*time.Millisecond, func() error {
		if got := b.committed(); got < n {
			return fmt.Errorf("%d committed", got)
		}
		return nil
	})
}

// TestTheBankSurvivesTheLossOfANATSServer runs every service on a three-server NATS cluster, with
// the events stream and the KV buckets replicated three times, and shuts one server down while
// transfers flow: the services reconnect to the others, transfers go on committing, and afterwards
// the ledger, the history and the nodes agree.
func TestTheBankSurvivesTheLossOfANATSServer(t *testing.T) {
	t.Parallel()
	cluster, b := clusterBank(t)
	for _, name := range nodeNames {
		b.startNode(name)
	}
	b.startCoordinator()
	b.startHistory()
	accounts := b.fourAccounts()
	before, _, _, _ := b.ledger()

	committed := b.committed
	stop := make(chan struct{})
	wg := b.transferLoad(accounts, 4, stop)
	b.committedAtLeast(50)
	lost := cluster.Servers[1]
	lost.Shutdown()
	lost.WaitForShutdown()
	atLoss := committed()
	testkit.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if n := committed(); n < atLoss+100 {
			return fmt.Errorf("%d committed since the loss of %s", n-atLoss, lost.Name())
		}
		return nil
	})
	close(stop)
	wg.Wait()
	b.settled()
	if after, _, _, _ := b.ledger(); after != before {
		t.Fatalf("total balance went from %d to %d", before, after)
	}
	t.Logf("%d transfers committed, %d of them after %s went down; %d events in the history",
		committed(), committed()-atLoss, lost.Name(), b.historyMatchesOutboxes())
	b.reconciled()
}

// TestAccountNodesRideOverTheLossOfTheLeaseBucketsLeader shuts down the NATS server that leads
// the leases bucket's stream (no leadership handed over) while transfers flow. Each node runs as
// its process does (server.Run), which must not return: a node that loses its lease steps down in
// its process rather than exit (in the compose cluster every node process exited: "lease
// account-1 lost: nats: no response from stream"); transfers go on committing past the longest
// election, and the money adds up. In process the survivors see the routes close and elect a
// leader at once, so this test passes on the old code too: the outage it guards against is
// platform/lease's tests' (an outage within the time to live) and the compose test's (SIGKILL).
func TestAccountNodesRideOverTheLossOfTheLeaseBucketsLeader(t *testing.T) {
	t.Parallel()
	cluster, b := clusterBank(t)
	var exits []<-chan error
	for _, name := range nodeNames {
		exits = append(exits, b.runNode(name))
	}
	b.startCoordinator()
	testkit.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		l, err := b.c.Nodes(ctx(t))
		if err != nil || len(l.Nodes) != len(nodeNames) {
			return fmt.Errorf("live nodes %+v, %v", l, err)
		}
		return nil
	})
	accounts := b.fourAccounts()
	before, _, _, _ := b.ledger()
	exited := func() {
		t.Helper()
		for _, e := range exits {
			select {
			case err := <-e:
				t.Fatal(err)
			default:
			}
		}
	}
	committed := b.committed

	stop := make(chan struct{})
	wg := b.transferLoad(accounts, 4, stop)
	b.committedAtLeast(50)
	var leader *server.Server
	for _, s := range cluster.Servers {
		if s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, "KV_"+contract.LeasesBucket) {
			leader = s
		}
	}
	if leader == nil {
		t.Fatal("no server leads the leases bucket")
	}
	leader.Shutdown()
	leader.WaitForShutdown()
	down := time.Now()
	// Past the longest election, and past any lease lost meanwhile and taken again, transfers
	// commit: the nodes are serving again, without having exited.
	const election = 12 * time.Second
	testkit.CheckFor(t, election+10*time.Second, 50*time.Millisecond, func() error {
		exited()
		if since := time.Since(down); since < election {
			return fmt.Errorf("only %v since the loss of %s", since, leader.Name())
		}
		return nil
	})
	mark := committed()
	testkit.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		exited()
		if n := committed(); n < mark+100 {
			return fmt.Errorf("%d committed in the last %v", n-mark, time.Since(down)-election)
		}
		return nil
	})
	t.Logf("%d transfers committed in all, %d of them more than %v after %s, the leases' leader, went down",
		committed(), committed()-mark, election, leader.Name())
	close(stop)
	wg.Wait()
	b.settled()
	exited()
	if after, _, _, _ := b.ledger(); after != before {
		t.Fatalf("total balance went from %d to %d", before, after)
	}
}
