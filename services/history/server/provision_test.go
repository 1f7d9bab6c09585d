package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/platform/provision"
	"tsbank/testkit"
)

// TestARemovedConsumerIsWaitedForOnceAndIngestResumesWhenProvisioned pins the operator's view of
// a deleted consumer (issue 10): the history says once what to run, not every second, and goes on
// ingesting as soon as the consumer is provisioned again.
func TestARemovedConsumerIsWaitedForOnceAndIngestResumesWhenProvisioned(t *testing.T) {
	f := newFixture(t)
	logged := &testkit.Warnings{}
	f.log = slog.New(logged)
	f.start()
	base := time.Now().UTC()
	f.publish(event("alice", 0, base))
	f.waitFor(1)

	if err := f.js.DeleteConsumer(context.Background(), contract.EventsStream, contract.HistoryConsumer); err != nil {
		t.Fatal(err)
	}
	f.publish(event("alice", 1, base))
	time.Sleep(3 * time.Second) // several fetch rounds
	n, msg := logged.Count("the history's consumer is gone")
	if n != 1 || !strings.Contains(msg, "tsbankctl provision") {
		t.Fatalf("logged %d times (%q), want once with the command to run; all: %v", n, msg, logged.All())
	}
	if got := f.count(); got != 1 {
		t.Fatalf("%d rows while the consumer is gone", got)
	}

	testkit.Provision(t, f.ns.ClientURL(), provision.Defaults) // as the operator would
	f.waitFor(2)
	if n, _ := logged.Count("the history's consumer is gone"); n != 1 {
		t.Fatalf("logged %d times after it came back", n)
	}
}

// provisionRetention provisions f's server again with an events retention, as an operator running
// `EVENTS_RETENTION=… tsbankctl provision` would, and checks that the stream took it.
func (f *fixture) provisionRetention(retention time.Duration) {
	f.t.Helper()
	o := provision.Defaults
	o.EventsRetention = retention
	testkit.Provision(f.t, f.ns.ClientURL(), o)
	s, err := f.js.Stream(context.Background(), contract.EventsStream)
	if err != nil {
		f.t.Fatal(err)
	}
	if got := s.CachedInfo().Config.MaxAge; got != retention {
		f.t.Fatalf("the events stream keeps events %v, want %v", got, retention)
	}
}

// streamEvents is how many events the stream holds now.
func (f *fixture) streamEvents() uint64 {
	f.t.Helper()
	s, err := f.js.Stream(context.Background(), contract.EventsStream)
	if err != nil {
		f.t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return info.State.Msgs
}

// TestTheHistoryCatchesUpAfterAStopShorterThanTheEventsRetention: with the stream's retention set
// (issue 12: it kept every event for ever), a history stopped for less than the retention finds
// every event published meanwhile still on the stream and ingests each once.
func TestTheHistoryCatchesUpAfterAStopShorterThanTheEventsRetention(t *testing.T) {
	t.Parallel()
	const retention = time.Minute
	f := newFixture(t)
	f.provisionRetention(retention)
	base := time.Now().UTC()
	var events []contract.Event
	for i := range 20 {
		events = append(events, event("alice", i, base))
	}
	f.start()
	f.publish(events[:10]...)
	f.waitFor(10)

	f.srv.Stop(5 * time.Second)
	stopped := time.Now()
	f.publish(events[10:]...)
	f.start()
	f.waitFor(20)
	if d := time.Since(stopped); d >= retention {
		t.Fatalf("the stop and the catching up took %v, not less than the retention %v: the test showed nothing", d, retention)
	}
	var sum int64
	if err := f.pool.QueryRow(context.Background(), `SELECT sum(amount_minor) FROM transactions`).Scan(&sum); err != nil || sum != 20*21/2 {
		t.Fatalf("sum = %d, %v; want every event once", sum, err)
	}
}

// TestEventsPastTheRetentionLeaveTheStreamNotTheHistory: the stream is a buffer, the history the
// long-term store. Events the history has ingested stay in it when the stream drops them; events
// that expire while the history is stopped are lost to it (reconciliation then reports them
// missing), which is why the retention must outlast any stop of the history.
func TestEventsPastTheRetentionLeaveTheStreamNotTheHistory(t *testing.T) {
	t.Parallel()
	const retention = time.Second
	f := newFixture(t)
	f.provisionRetention(retention)
	base := time.Now().UTC()
	f.start()
	f.publish(event("alice", 0, base), event("alice", 1, base), event("alice", 2, base))
	f.waitFor(3)
	testkit.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if n := f.streamEvents(); n != 0 {
			return fmt.Errorf("the stream still holds %d events", n)
		}
		return nil
	})
	if got := f.count(); got != 3 {
		t.Fatalf("%d rows after the stream dropped the events, want the 3 ingested", got)
	}

	f.srv.Stop(5 * time.Second)
	f.publish(event("alice", 3, base), event("alice", 4, base))
	testkit.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		if n := f.streamEvents(); n != 0 {
			return fmt.Errorf("the stream still holds %d events", n)
		}
		return nil
	})
	f.start()
	c, err := f.js.Consumer(context.Background(), contract.EventsStream, contract.HistoryConsumer)
	if err != nil {
		t.Fatal(err)
	}
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		info, err := c.Info(context.Background())
		if err != nil {
			return err
		}
		if info.NumPending != 0 || info.NumAckPending != 0 {
			return fmt.Errorf("consumer: %d pending, %d unacknowledged", info.NumPending, info.NumAckPending)
		}
		return nil
	})
	if got := f.count(); got != 3 {
		t.Fatalf("%d rows, want 3: the events that expired during the stop are not on the stream to ingest", got)
	}
}
