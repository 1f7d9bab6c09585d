package server_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/platform/provision"
	"tsbank/testkit"
)

// records is a slog handler that keeps the messages logged at warn and above.
type records struct {
	mu   sync.Mutex
	msgs []string
}

func (r *records) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var fix string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "fix" {
			fix = a.Value.String()
		}
		return true
	})
	r.msgs = append(r.msgs, rec.Message+" | "+fix)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

func (r *records) count(prefix string) (n int, last string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if strings.HasPrefix(m, prefix) {
			n, last = n+1, m
		}
	}
	return n, last
}

// TestARemovedConsumerIsWaitedForOnceAndIngestResumesWhenProvisioned pins the operator's view of
// a deleted consumer (issue 10): the history says once what to run, not every second, and goes on
// ingesting as soon as the consumer is provisioned again.
func TestARemovedConsumerIsWaitedForOnceAndIngestResumesWhenProvisioned(t *testing.T) {
	f := newFixture(t)
	logged := &records{}
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
	n, msg := logged.count("the history's consumer is gone")
	if n != 1 || !strings.Contains(msg, "tsbankctl provision") {
		t.Fatalf("logged %d times (%q), want once with the command to run; all: %v", n, msg, logged.msgs)
	}
	if got := f.count(); got != 1 {
		t.Fatalf("%d rows while the consumer is gone", got)
	}

	testkit.Provision(t, f.ns.ClientURL(), provision.Defaults) // as the operator would
	f.waitFor(2)
	if n, _ := logged.count("the history's consumer is gone"); n != 1 {
		t.Fatalf("logged %d times after it came back", n)
	}
}
