package server_test

import (
	"context"
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
