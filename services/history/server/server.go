package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/platform/metrics"
	"tsbank/platform/natsconn"
	"tsbank/platform/ops"
	"tsbank/platform/service"
	"tsbank/services/history/ingest"
	"tsbank/services/history/natsapi"
	"tsbank/services/history/pgstore"
)

// Server is a running history instance.
type Server struct {
	log    *slog.Logger
	pool   *pgxpool.Pool
	nc     *nats.Conn
	svc    micro.Service
	instr  *service.Instr
	ops    *ops.Server
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ingestMetrics implements ingest.Metrics.
type ingestMetrics struct {
	inserted, duplicates, rejected *metrics.Counter
	lag                            *metrics.Gauge
}

func (m ingestMetrics) Ingested(inserted, duplicates int) {
	m.inserted.Add(float64(inserted))
	m.duplicates.Add(float64(duplicates))
}
func (m ingestMetrics) Rejected()          { m.rejected.Inc() }
func (m ingestMetrics) Lag(pending uint64) { m.lag.Set(float64(pending)) }

// Start connects, starts ingesting and starts serving.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	s := &Server{log: log}
	defer func() {
		if err != nil {
			s.Stop(5 * time.Second)
		}
	}()
	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	poolCfg.MaxConns = int32(cfg.DBMaxConns)
	if s.pool, err = pgxpool.NewWithConfig(ctx, poolCfg); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := s.pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if s.nc, err = natsconn.Connect(cfg.NATSURL, "tsbank-history", cfg.NATSUser, cfg.NATSPassword, log); err != nil {
		return nil, err
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, contract.EventsStreamConfig(cfg.Replicas)); err != nil {
		return nil, fmt.Errorf("stream %s: %w", contract.EventsStream, err)
	}
	consumer, err := ingest.Consumer(ctx, js)
	if err != nil {
		return nil, err
	}
	m := metrics.NewRegistry()
	store := pgstore.New(s.pool)
	in := &ingest.Ingester{JS: js, Store: store, Log: log, Batch: cfg.IngestBatch, Metrics: ingestMetrics{
		inserted:   m.Counter("tsbank_history_events_inserted_total", "Events written to the history.").With(),
		duplicates: m.Counter("tsbank_history_events_duplicate_total", "Events delivered again and skipped (already in the history).").With(),
		rejected:   m.Counter("tsbank_history_events_rejected_total", "Events that could not be read and were terminated.").With(),
		lag:        m.Gauge("tsbank_history_consumer_lag", "Events on the stream not yet delivered to the history consumer.").With(),
	}}
	differences := m.Gauge("tsbank_reconciliation_differences", "Accounts whose history and node disagreed at the last whole-bank reconciliation.").With()
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() { defer s.wg.Done(); in.Run(bg, consumer) }()

	if s.svc, err = micro.AddService(s.nc, micro.Config{
		Name: "history", Version: Version,
		Description: "TSBank transaction history: queries, statements, reconciliation",
	}); err != nil {
		return nil, fmt.Errorf("micro service: %w", err)
	}
	s.instr = service.Instrument(m, "history").Async(s.nc, cfg.MaxInFlight)
	api := &natsapi.API{
		Store: store, Client: client.New(s.nc), Cursors: natsapi.Cursors{Secret: cfg.CursorSecret}, Log: log,
		Timeout: cfg.RequestTimeout, Differences: func(n int) { differences.Set(float64(n)) },
	}
	if err := api.AddEndpoints(s.svc, s.instr.Handler); err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	s.ops = ops.NewServer(cfg.HTTPAddr, m, s.ready)
	if err := s.ops.Start(); err != nil {
		return nil, fmt.Errorf("http %s: %w", cfg.HTTPAddr, err)
	}
	log.Info("history started", "http", s.ops.Addr())
	return s, nil
}

// HTTPAddr is the address of the operations server.
func (s *Server) HTTPAddr() string { return s.ops.Addr() }

func (s *Server) ready() error {
	if !s.nc.IsConnected() {
		return errors.New("not connected to NATS")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return s.pool.Ping(ctx)
}

// Stop stops serving and ingesting (a batch in progress is left unacknowledged and redelivered
// to the next consumer), drains NATS and closes the pool, within timeout.
func (s *Server) Stop(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if s.svc != nil {
		_ = s.svc.Stop()
	}
	if s.instr != nil {
		if err := s.instr.Shutdown(ctx); err != nil {
			s.log.Warn("requests in flight at shutdown", "err", err)
		}
	}
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	if s.nc != nil {
		natsconn.Drain(ctx, s.nc)
	}
	if s.ops != nil {
		_ = s.ops.Shutdown(ctx)
	}
	if s.pool != nil {
		s.pool.Close()
	}
	s.log.Info("history stopped")
}

// Run starts the history service and serves until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	s.Stop(10 * time.Second)
	return nil
}
