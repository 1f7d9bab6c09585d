package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"tsbank/contract/client"
	"tsbank/testkit"
)

// TestTheBankSurvivesTheLossOfANATSServer runs every service on a three-server NATS cluster, with
// the events stream and the KV buckets replicated three times, and shuts one server down while
// transfers flow: the services reconnect to the others, transfers go on committing, and afterwards
// the ledger, the history and the nodes agree.
func TestTheBankSurvivesTheLossOfANATSServer(t *testing.T) {
	t.Parallel()
	cluster := testkit.StartNATSCluster(t)
	b := newBank(t)
	b.env["NATS_URL"], b.env["JS_REPLICAS"] = cluster.URLs(), "3"
	nc, err := nats.Connect(cluster.URLs(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	b.nc, b.c = nc, client.New(nc)
	for _, name := range nodeNames {
		b.startNode(name)
	}
	b.startCoordinator()
	b.startHistory()
	accounts := b.fourAccounts()
	before, _, _, _ := b.ledger()

	committed := func() int {
		var n int
		_ = b.pool("coordinator").QueryRow(ctx(t), `SELECT count(*) FROM transfers WHERE outcome = 'committed'`).Scan(&n)
		return n
	}
	stop := make(chan struct{})
	wg := b.transferLoad(accounts, 4, stop)
	testkit.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if n := committed(); n < 50 {
			return fmt.Errorf("%d committed", n)
		}
		return nil
	})
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
