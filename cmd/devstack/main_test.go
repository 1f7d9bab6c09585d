package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/testkit"
)

// TestREADMEExamplesWorkOnTheDevstack starts the local stack on free ports and sends every
// `nats req` line of the README's tested block, as `nats req` would send it; each must get a
// reply that is not an error, and the block's reconciliation must find no difference (it once
// reported carol, closed at 0.00, as one). `nats kv get` lines are checked through JetStream.
func TestREADMEExamplesWorkOnTheDevstack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack: the fast tier (-short) skips it")
	}
	lines := readmeExamples(t)
	if len(lines) < 5 {
		t.Fatalf("found %d example lines in the README; the marker or block moved", len(lines))
	}
	s := startTestStack(t, false)
	nc, err := nats.Connect(s.natsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "nats req "):
			subject := fields[2]
			body := line[strings.Index(line, "'")+1 : strings.LastIndex(line, "'")]
			var msg *nats.Msg
			// history_behind asks to ask again in a moment: the history ingests as it goes.
			testkit.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
				var err error
				if msg, err = nc.Request(subject, []byte(body), 5*time.Second); err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				if e := client.ReplyError(msg); e != nil && e.Code == contract.CodeHistoryBehind {
					return e
				} else if e != nil {
					t.Fatalf("%s: %v", line, e)
				}
				return nil
			})
			if subject == contract.SubjectReconcile {
				var r contract.Reconciliation
				if err := json.Unmarshal(msg.Data, &r); err != nil || len(r.Differences) != 0 {
					t.Fatalf("%s: %s, %v; want no difference", line, msg.Data, err)
				}
			}
		case strings.HasPrefix(line, "nats kv get "):
			kv, err := js.KeyValue(context.Background(), fields[3])
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			if _, err := kv.Get(context.Background(), fields[4]); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
		}
	}
}

// TestTheClusterDevstackSurvivesTheLossOfANATSServer starts the local stack with -cluster: the
// events stream and the buckets have three replicas, the README's first requests work, and a
// transfer still commits after one of the three servers has stopped.
func TestTheClusterDevstackSurvivesTheLossOfANATSServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack: the fast tier (-short) skips it")
	}
	s := startTestStack(t, true)
	nc, err := nats.Connect(s.natsURL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	streams := js.ListStreams(ctx)
	var names []string
	var eventsLeader string
	for info := range streams.Info() {
		names = append(names, info.Config.Name)
		if info.Config.Name == "TSBANK_EVENTS" && info.Cluster != nil {
			eventsLeader = info.Cluster.Leader
		}
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Errorf("stream %s: %d replicas configured, cluster %+v; want 3, the leader and 2 others", info.Config.Name, info.Config.Replicas, info.Cluster)
		}
	}
	if err := streams.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names, "TSBANK_EVENTS") || !slices.Contains(names, "KV_tsbank_accounts") {
		t.Fatalf("streams %v: want the events stream and the buckets", names)
	}

	c := client.New(nc)
	call := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = c.Open(rctx, "alice", contract.OpenRequest{ID: "o-1", Currency: "EUR", Node: "account-1"})
	call("open alice", err)
	_, err = c.Open(rctx, "bob", contract.OpenRequest{ID: "o-1", Currency: "EUR", Node: "account-2"})
	call("open bob", err)
	_, err = c.Deposit(rctx, "alice", contract.MoneyRequest{ID: "d-1", Amount: "100.00", Description: "salary"})
	call("deposit", err)
	tr, err := c.Transfer(rctx, "alice", contract.TransferRequest{ID: "t-1", To: "bob", Amount: "25.00", Description: "dinner"})
	call("transfer", err)
	if tr.Status != contract.TransferCommitted {
		t.Fatalf("transfer t-1: %+v", tr)
	}

	// Stop the events stream's leader, so that the stream must elect another before the nodes'
	// outboxes can publish again.
	i := slices.IndexFunc(s.servers, func(ns *server.Server) bool { return ns.Name() == eventsLeader })
	if i < 0 {
		t.Fatalf("no server is named %q, the events stream's leader", eventsLeader)
	}
	lost := s.servers[i]
	lost.Shutdown()
	lost.WaitForShutdown()
	// Until the services have reconnected and the groups on the lost server have new leaders, a
	// transfer may time out or abort. Each try is a new transfer, since an aborted id stays
	// aborted, of 1.00, which alice's 75.00 covers for every try.
	try := 0
	testkit.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		try++
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		tr, err := c.Transfer(rctx, "alice", contract.TransferRequest{ID: fmt.Sprintf("t-after-%d", try), To: "bob", Amount: "1.00"})
		if err != nil {
			return err
		}
		if tr.Status != contract.TransferCommitted {
			return fmt.Errorf("transfer %s %s: %s", tr.ID, tr.Status, tr.Reason)
		}
		return nil
	})
	t.Logf("streams %v; a transfer committed at try %d after %s, the events stream's leader, stopped", names, try, lost.Name())
}

// startTestStack starts the devstack on free ports, with one NATS server or a cluster of three,
// and stops it when the test ends.
func startTestStack(t *testing.T, cluster bool) *stack {
	t.Helper()
	s, err := startStack(context.Background(), options{natsPort: -1, monitorPort: -1, nodes: []string{"account-1", "account-2"}, cluster: cluster, observerAddr: "127.0.0.1:0"},
		slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if s != nil {
		t.Cleanup(s.stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readmeExamples returns the command lines of the fenced block after <!-- devstack-examples -->.
func readmeExamples(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	state := 0 // 0: before the marker, 1: before the fence, 2: in the block
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case state == 0 && line == "<!-- devstack-examples -->":
			state = 1
		case state == 1 && strings.HasPrefix(line, "```"):
			state = 2
		case state == 2 && strings.HasPrefix(line, "```"):
			return lines
		case state == 2 && line != "":
			lines = append(lines, line)
		}
	}
	return lines
}
