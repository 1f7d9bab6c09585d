package observer_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/services/observer/observer"
)

// fakeSources is an in-memory observer.Sources: each test sets what the bank shows.
type fakeSources struct {
	live     []contract.Node
	known    []string
	accounts map[string]int
	stats    []observer.EndpointStats
	pending  contract.PendingList
	lag      uint64
	metrics  observer.Metrics
	nats     []observer.NATSServer
	failNATS bool
}

func (f *fakeSources) LiveNodes(context.Context) ([]contract.Node, error) { return f.live, nil }
func (f *fakeSources) KnownNodes(context.Context) ([]string, error)       { return f.known, nil }
func (f *fakeSources) Accounts(context.Context) (map[string]int, error)   { return f.accounts, nil }
func (f *fakeSources) Stats(context.Context) ([]observer.EndpointStats, error) {
	return f.stats, nil
}
func (f *fakeSources) Pending(context.Context) (contract.PendingList, error) { return f.pending, nil }
func (f *fakeSources) HistoryLag(context.Context) (uint64, int, error)       { return f.lag, 0, nil }
func (f *fakeSources) Metrics(context.Context) (observer.Metrics, error)     { return f.metrics, nil }
func (f *fakeSources) NATS(context.Context) ([]observer.NATSServer, error) {
	if f.failNATS {
		return nil, errors.New("monitoring refused")
	}
	return f.nats, nil
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func TestANodeThatStoppedIsShownDownWithTheOthersUp(t *testing.T) {
	src := &fakeSources{known: []string{"account-1", "account-2"}, accounts: map[string]int{"account-1": 3, "account-2": 2},
		live: []contract.Node{{Name: "account-1", Holder: "account-1/p1", Epoch: 42}, {Name: "account-2", Epoch: 7}}}
	c := &clock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	o := &observer.Observer{Sources: src, Now: c.Now, Keep: 10}
	ov := o.Collect(context.Background(), time.Second)
	if len(ov.Nodes) != 2 || !ov.Nodes[0].Live || !ov.Nodes[1].Live || ov.Nodes[0].Epoch != 42 || ov.Nodes[0].Accounts != 3 {
		t.Fatalf("both nodes up: %+v", ov.Nodes)
	}
	src.live = src.live[:1] // account-2's heartbeat expired
	c.now = c.now.Add(2 * time.Second)
	ov = o.Collect(context.Background(), time.Second)
	if ov.Nodes[1].Name != "account-2" || ov.Nodes[1].Live {
		t.Fatalf("account-2 after its heartbeat expired: %+v", ov.Nodes[1])
	}
	if !ov.Nodes[0].Live {
		t.Fatalf("account-1 is shown down: %+v", ov.Nodes[0])
	}
}

func TestRatesAndPhaseMeansAreOverTheLastInterval(t *testing.T) {
	src := &fakeSources{
		stats: []observer.EndpointStats{
			{Service: "coordinator", Instance: "a", Endpoint: "transfer", Requests: 100, Errors: 4, ProcessingTime: 200 * time.Millisecond},
			{Service: "coordinator", Instance: "b", Endpoint: "transfer", Requests: 50},
		},
		metrics: observer.Metrics{PhaseSum: map[string]float64{"prepare": 1.0}, PhaseCount: map[string]float64{"prepare": 100}},
	}
	c := &clock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	o := &observer.Observer{Sources: src, Now: c.Now, Keep: 3}
	first := o.Collect(context.Background(), time.Second)
	if first.Endpoints[0].Requests != 150 || first.Endpoints[0].Rate != 0 {
		t.Fatalf("the first look: %+v (no rate before a second look)", first.Endpoints)
	}
	src.stats[0].Requests, src.stats[0].Errors, src.stats[1].Requests = 120, 6, 70
	src.metrics = observer.Metrics{PhaseSum: map[string]float64{"prepare": 1.5}, PhaseCount: map[string]float64{"prepare": 150}}
	c.now = c.now.Add(2 * time.Second)
	ov := o.Collect(context.Background(), time.Second)
	e := ov.Endpoints[0]
	if e.Requests != 190 || e.Rate != 20 || e.ErrorRate != 1 {
		t.Fatalf("rates over 2 s of 40 more requests and 2 more errors: %+v", e)
	}
	if got := ov.Phases["prepare"]; got < 9.99 || got > 10.01 {
		t.Fatalf("prepare mean over the interval = %v ms, want 10 (0.5 s over 50 transfers)", got)
	}
	for range 5 {
		c.now = c.now.Add(2 * time.Second)
		ov = o.Collect(context.Background(), time.Second)
	}
	if len(ov.Samples) != 3 {
		t.Fatalf("%d samples kept, want 3", len(ov.Samples))
	}
}

func TestASourceThatFailsIsNamedAndTheRestIsShown(t *testing.T) {
	src := &fakeSources{failNATS: true, known: []string{"account-1"}, live: []contract.Node{{Name: "account-1"}}}
	o := &observer.Observer{Sources: src, Now: time.Now, Keep: 3}
	ov := o.Collect(context.Background(), time.Second)
	if len(ov.Problems) != 1 || len(ov.Nodes) != 1 || !ov.Nodes[0].Live {
		t.Fatalf("problems %v, nodes %+v", ov.Problems, ov.Nodes)
	}
}
