package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"tsbank/contract/client"
	"tsbank/platform/lifecycle"
	"tsbank/platform/natsconn"
	"tsbank/platform/service"
	"tsbank/services/history/history"
	"tsbank/services/history/ingest"
	"tsbank/services/history/natsapi"
	"tsbank/services/history/nodes"
	"tsbank/services/history/pgstore"
)

// Server is a running history instance.
type Server struct {
	*lifecycle.Service
}

// ingestMetrics implements ingest.Metrics.
type ingestMetrics struct {
	inserted, duplicates, rejected, forged prometheus.Counter
	lag                                    prometheus.Gauge
}

func (m ingestMetrics) Ingested(inserted, duplicates int) {
	m.inserted.Add(float64(inserted))
	m.duplicates.Add(float64(duplicates))
}
func (m ingestMetrics) Rejected()          { m.rejected.Inc() }
func (m ingestMetrics) Forged(n int)       { m.forged.Add(float64(n)) }
func (m ingestMetrics) Lag(pending uint64) { m.lag.Set(float64(pending)) }

// Start connects, starts ingesting and starts serving.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	s, err := lifecycle.Open(ctx, "history", cfg.Config, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Stop(5 * time.Second)
		}
	}()
	var js jetstream.JetStream
	var consumer jetstream.Consumer
	// The stream and the consumer are provisioned by the operator (tsbankctl migrate); the history
	// only binds them, and waits, saying what to run, while one is missing.
	if err := natsconn.SetUp(ctx, log, func(ctx context.Context) (err error) {
		if js, err = jetstream.New(s.NC); err != nil {
			return err
		}
		consumer, err = ingest.Consumer(ctx, js)
		return err
	}); err != nil {
		return nil, err
	}
	m := promauto.With(s.Metrics)
	counter := func(name, help string) prometheus.Counter {
		return m.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return m.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	store := pgstore.New(s.Pool)
	in := &ingest.Ingester{JS: js, Owners: &ingest.Owners{JS: js}, Store: store, Log: log, Batch: cfg.IngestBatch, Metrics: ingestMetrics{
		inserted:   counter("tsbank_history_events_inserted_total", "Events written to the history."),
		duplicates: counter("tsbank_history_events_duplicate_total", "Events delivered again and skipped (already in the history)."),
		rejected:   counter("tsbank_history_events_rejected_total", "Events that could not be read and were terminated."),
		forged:     counter("tsbank_history_events_forged_total", "Events refused as forged (published by a node that did not write them or does not own their account), recorded in forged_events and terminated."),
		lag:        gauge("tsbank_history_consumer_lag", "Events on the stream not yet delivered to the history consumer."),
	}}
	differences := gauge("tsbank_reconciliation_differences", "Accounts whose history and node disagreed at the last whole-bank reconciliation.")
	s.Go(func(ctx context.Context) { in.Run(ctx, consumer) })
	nodeClient := client.New(s.NC)
	accounts := &ingest.Accounts{Nodes: nodeClient, Store: store, Log: log, Interval: cfg.AccountsSync, Timeout: cfg.RequestTimeout}
	s.Go(accounts.Run)
	counters := &ingest.Counters{JS: js, Store: store, Log: log, Batch: 1000, Interval: time.Second}
	s.Go(counters.Run)
	hist := &history.Service{
		Store: store, Nodes: &nodes.NATS{Client: nodeClient}, Cursors: history.Cursors{Secret: cfg.CursorSecret},
		Clock: history.SystemClock{},
		// Half the request's timeout, so that a reconciliation that waited for the ingest still
		// has time to read the other accounts and reply.
		CatchUp:     cfg.RequestTimeout / 2,
		Differences: func(n int) { differences.Set(float64(n)) },
	}
	api := &natsapi.API{History: hist, Log: log, Timeout: cfg.RequestTimeout}
	if err := s.Serve(service.Config{
		Name: "history", Version: Version,
		Description: "TSBank transaction history: queries, statements, reconciliation",
	}, cfg.MaxInFlight, api.AddEndpoints); err != nil {
		return nil, err
	}
	return &Server{s}, nil
}

// Run starts the history service and serves until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	s.Run(ctx)
	return nil
}
