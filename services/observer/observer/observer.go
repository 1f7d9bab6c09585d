// Package observer builds the Observer's view of the whole bank (contract.Overview) from what
// the bank already publishes: the nodes' heartbeats and leases, every service's `nats micro
// stats`, the coordinator's pending transfers, the services' Prometheus metrics, the history
// consumer's position and the NATS servers' monitoring. The sources are a port, so the rules
// (rates from counters, a node that is down, the recent past) are tested without NATS.
package observer

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"tsbank/contract"
)

// EndpointStats is one endpoint of one service instance, as `nats micro stats` reports it.
type EndpointStats struct {
	Service, Instance, Endpoint string
	Requests, Errors            int
	ProcessingTime              time.Duration // in total
	LastError                   string
}

// Metrics are the figures the Observer reads from the services' /metrics.
type Metrics struct {
	// PhaseSum and PhaseCount are the coordinator's tsbank_transfer_phase_seconds, per phase.
	PhaseSum   map[string]float64
	PhaseCount map[string]float64
	// Outbox is each node's tsbank_outbox_unsent.
	Outbox map[string]float64
}

// NATSServer is one NATS server's monitoring (/varz): its counters since it started.
type NATSServer struct {
	Name, URL, Version string
	Up                 bool
	Connections        int
	InMsgs, OutMsgs    int64
	MemBytes           int64
	CPU                float64
}

// Sources is what the Observer reads. Each call may fail on its own: the overview then says
// which source it misses, and shows the rest.
type Sources interface {
	// LiveNodes are the nodes whose heartbeat is fresh, each with its lease's holder and epoch.
	LiveNodes(ctx context.Context) ([]contract.Node, error)
	KnownNodes(ctx context.Context) ([]string, error)
	// Accounts counts the accounts of each node.
	Accounts(ctx context.Context) (map[string]int, error)
	Stats(ctx context.Context) ([]EndpointStats, error)
	Pending(ctx context.Context) (contract.PendingList, error)
	// HistoryLag is the history consumer's events not yet delivered, and delivered not yet acknowledged.
	HistoryLag(ctx context.Context) (lag uint64, pending int, err error)
	Metrics(ctx context.Context) (Metrics, error)
	NATS(ctx context.Context) ([]NATSServer, error)
}

// Observer collects overviews and keeps the recent ones' figures.
type Observer struct {
	Sources Sources
	Now     func() time.Time
	// Keep is how many samples the overview carries (the charts' width).
	Keep int

	mu      sync.Mutex
	last    *contract.Overview
	prev    snapshot // the counters at the last collection, for rates
	samples []contract.OverviewSample
}

// snapshot holds the counters of one collection.
type snapshot struct {
	at         time.Time
	requests   map[string]int // service/endpoint -> requests
	errors     map[string]int
	phaseSum   map[string]float64
	phaseCount map[string]float64
	natsIn     map[string]int64
	natsOut    map[string]int64
}

// Latest is the last overview collected, or false before the first.
func (o *Observer) Latest() (contract.Overview, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last == nil {
		return contract.Overview{}, false
	}
	return *o.last, true
}

// Run collects every interval until ctx ends.
func (o *Observer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		o.Collect(ctx, interval)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Collect reads every source once, each within timeout, and makes the overview.
func (o *Observer) Collect(ctx context.Context, timeout time.Duration) contract.Overview {
	now := o.Now().UTC()
	ov := contract.Overview{At: now, Phases: map[string]float64{}}
	cur := snapshot{at: now, requests: map[string]int{}, errors: map[string]int{}, natsIn: map[string]int64{}, natsOut: map[string]int64{}}
	problem := func(what string, err error) { ov.Problems = append(ov.Problems, fmt.Sprintf("%s: %v", what, err)) }
	read := func(what string, f func(context.Context) error) {
		c, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := f(c); err != nil {
			problem(what, err)
		}
	}

	o.mu.Lock()
	prev := o.prev
	o.mu.Unlock()
	elapsed := now.Sub(prev.at).Seconds()
	rate := func(now, before float64) float64 {
		if prev.at.IsZero() || elapsed <= 0 || now < before {
			return 0 // the first look, or a counter that restarted
		}
		return (now - before) / elapsed
	}

	var live []contract.Node
	var known []string
	var accounts map[string]int
	var m Metrics
	read("live nodes", func(c context.Context) (err error) { live, err = o.Sources.LiveNodes(c); return })
	read("known nodes", func(c context.Context) (err error) { known, err = o.Sources.KnownNodes(c); return })
	read("accounts", func(c context.Context) (err error) { accounts, err = o.Sources.Accounts(c); return })
	read("metrics", func(c context.Context) (err error) { m, err = o.Sources.Metrics(c); return })
	ov.Nodes = nodes(known, live, accounts, m.Outbox)

	read("stats", func(c context.Context) error {
		stats, err := o.Sources.Stats(c)
		ov.Endpoints = endpoints(stats, cur, prev, rate)
		return err
	})
	read("pending transfers", func(c context.Context) error {
		p, err := o.Sources.Pending(c)
		ov.Transfers = contract.TransfersOverview{InFlight: len(p.InFlight), InDoubt: len(p.InDoubt), Payments: len(p.Payments)}
		return err
	})
	read("history lag", func(c context.Context) (err error) {
		ov.History.Lag, ov.History.Pending, err = o.Sources.HistoryLag(c)
		return
	})
	cur.phaseSum, cur.phaseCount = m.PhaseSum, m.PhaseCount
	for phase, sum := range m.PhaseSum {
		if n := m.PhaseCount[phase] - prev.phaseCount[phase]; n > 0 && !prev.at.IsZero() && sum >= prev.phaseSum[phase] {
			ov.Phases[phase] = (sum - prev.phaseSum[phase]) / n * 1000
		}
	}
	read("nats", func(c context.Context) error {
		servers, err := o.Sources.NATS(c)
		for _, s := range servers {
			cur.natsIn[s.URL], cur.natsOut[s.URL] = s.InMsgs, s.OutMsgs
			ov.NATS = append(ov.NATS, contract.NATSOverview{Name: s.Name, URL: s.URL, Up: s.Up, Version: s.Version,
				Connections: s.Connections, MemBytes: s.MemBytes, CPU: s.CPU,
				InMsgsRate:  rate(float64(s.InMsgs), float64(prev.natsIn[s.URL])),
				OutMsgsRate: rate(float64(s.OutMsgs), float64(prev.natsOut[s.URL]))})
		}
		return err
	})

	sample := contract.OverviewSample{At: now, InFlight: ov.Transfers.InFlight, InDoubt: ov.Transfers.InDoubt,
		Phases: ov.Phases, Outbox: m.Outbox, Lag: ov.History.Lag}
	for _, e := range ov.Endpoints {
		sample.Rate += e.Rate
		sample.ErrorRate += e.ErrorRate
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.prev = cur
	o.samples = append(o.samples, sample)
	if keep := max(o.Keep, 1); len(o.samples) > keep {
		o.samples = slices.Delete(o.samples, 0, len(o.samples)-keep)
	}
	ov.Samples = slices.Clone(o.samples)
	o.last = &ov
	return ov
}

// nodes lists every node that ever ran (and any live one not yet recorded as known), down ones
// included: a node that is down is what an operator must see first.
func nodes(known []string, live []contract.Node, accounts map[string]int, outbox map[string]float64) []contract.NodeOverview {
	byName := map[string]*contract.NodeOverview{}
	for _, n := range known {
		byName[n] = &contract.NodeOverview{Name: n}
	}
	for _, n := range live {
		no := byName[n.Name]
		if no == nil {
			no = &contract.NodeOverview{Name: n.Name}
			byName[n.Name] = no
		}
		no.Live, no.Version, no.StartedAt, no.Holder, no.Epoch = true, n.Version, n.StartedAt, n.Holder, n.Epoch
	}
	out := make([]contract.NodeOverview, 0, len(byName))
	for _, no := range byName {
		no.Accounts = accounts[no.Name]
		if v, ok := outbox[no.Name]; ok {
			no.Outbox = &v
		}
		out = append(out, *no)
	}
	slices.SortFunc(out, func(a, b contract.NodeOverview) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// endpoints sums each endpoint over the instances of its service, records the counters in cur,
// and computes rates against prev.
func endpoints(stats []EndpointStats, cur, prev snapshot, rate func(now, before float64) float64) []contract.EndpointOverview {
	type acc struct {
		e    contract.EndpointOverview
		took time.Duration
	}
	by := map[string]*acc{}
	for _, s := range stats {
		key := s.Service + "/" + s.Endpoint
		a := by[key]
		if a == nil {
			a = &acc{e: contract.EndpointOverview{Service: s.Service, Endpoint: s.Endpoint}}
			by[key] = a
		}
		a.e.Requests += s.Requests
		a.e.Errors += s.Errors
		a.took += s.ProcessingTime
		if s.LastError != "" {
			a.e.LastError = s.LastError
		}
	}
	out := make([]contract.EndpointOverview, 0, len(by))
	for key, a := range by {
		cur.requests[key], cur.errors[key] = a.e.Requests, a.e.Errors
		a.e.Rate = rate(float64(a.e.Requests), float64(prev.requests[key]))
		a.e.ErrorRate = rate(float64(a.e.Errors), float64(prev.errors[key]))
		if a.e.Requests > 0 {
			a.e.AverageMs = float64(a.took.Microseconds()) / 1000 / float64(a.e.Requests)
		}
		out = append(out, a.e)
	}
	slices.SortFunc(out, func(a, b contract.EndpointOverview) int {
		switch {
		case a.Service+"/"+a.Endpoint < b.Service+"/"+b.Endpoint:
			return -1
		case a.Service+"/"+a.Endpoint > b.Service+"/"+b.Endpoint:
			return 1
		}
		return 0
	})
	return out
}
