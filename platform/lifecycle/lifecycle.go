// Package lifecycle starts and stops a TSBank service the same way for every service: its
// Postgres pool, its NATS connection, its background loops, its micro service with instrumented,
// concurrent handlers, and its operations HTTP server, then on stop: stop taking requests, finish
// those in flight, stop the loops, drain NATS, close the pool, all within a bound.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"tsbank/platform/natsconn"
	"tsbank/platform/ops"
	"tsbank/platform/service"
)

// Service is a starting or running service.
type Service struct {
	Log  *slog.Logger
	Pool *pgxpool.Pool
	NC   *nats.Conn
	// Metrics is the service's own registry, served on /metrics: the Go runtime's and the
	// process's metrics, the request metrics of every endpoint, and whatever the service adds.
	Metrics *prometheus.Registry

	name    string
	serving atomic.Bool // set by Serve: /readyz says 503 until then (a standby waits for its lease)
	bg      context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	svc     *service.Server
	instr   *service.Instr
	ops     *ops.Server
}

// Open connects to the service's database (if it has one: the Observer has none) and to NATS as
// tsbank-<name>, and starts the operations server: /healthz answers from now on, /readyz once
// Serve has run. On error, what was opened is closed.
func Open(ctx context.Context, name string, cfg Config, log *slog.Logger) (_ *Service, err error) {
	s := &Service{Log: log, Metrics: ops.NewRegistry(), name: name}
	s.bg, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.Stop(5 * time.Second)
		}
	}()
	if cfg.DatabaseURL != "" {
		if err := s.openPool(ctx, cfg, log); err != nil {
			return nil, err
		}
	}
	if s.NC, err = natsconn.Connect(ctx, cfg.NATSURL, "tsbank-"+name, cfg.NATSUser, cfg.NATSPassword, log); err != nil {
		return nil, err
	}
	s.ops = ops.NewServer(cfg.HTTPAddr, s.Metrics, s.ready)
	if err := s.ops.Start(); err != nil {
		return nil, fmt.Errorf("http %s: %w", cfg.HTTPAddr, err)
	}
	return s, nil
}

// openPool opens the service's database, and waits for it to answer.
func (s *Service) openPool(ctx context.Context, cfg Config, log *slog.Logger) error {
	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	poolCfg.MaxConns = int32(cfg.DBMaxConns)
	// Every statement is planned with its values. pgx prepares each statement once per
	// connection, and Postgres switches a prepared statement to a generic plan after five runs: a
	// plan made while a table was nearly empty (a fresh node's holds, a fresh log) kept scanning
	// the whole table as it grew, and transfers slowed from 1,650/s to 580/s within 30,000. A
	// custom plan costs tens of microseconds; batches made that cost per batch, not per leg.
	if _, set := poolCfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !set {
		poolCfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	}
	if s.Pool, err = pgxpool.NewWithConfig(ctx, poolCfg); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := waitForPostgres(ctx, s.Pool, log); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// waitForPostgres pings the database until it answers. While the server is away or starting up
// it keeps trying (a service started during a Postgres restart waits for it, instead of exiting
// and being restarted in a loop), until ctx ends; refused credentials or a missing database are
// returned at once: waiting would not cure them.
func waitForPostgres(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	for wait := 250 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := pool.Ping(ctx)
		var pg *pgconn.PgError
		if err == nil || ctx.Err() != nil || errors.As(err, &pg) && pg.Code != pgerrcode.CannotConnectNow {
			return err
		}
		log.Warn("Postgres does not answer yet; trying again", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// Go runs loop in the background until the service stops; Stop waits for it to return.
func (s *Service) Go(loop func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		loop(s.bg)
	}()
}

// Background is the context of the background loops: it ends when the service stops.
func (s *Service) Background() context.Context { return s.bg }

// Serve registers the micro service described by mc and lets add register its endpoints (each
// handler wrapped for metrics and run concurrently, at most maxInFlight at once); from then on the
// service is ready. The caller stops the service if it fails.
func (s *Service) Serve(mc service.Config, maxInFlight int,
	add func(svc *service.Server, wrap func(string, micro.Handler) micro.Handler) error) error {
	var err error
	if s.svc, err = service.Start(s.NC, mc); err != nil {
		return fmt.Errorf("micro service: %w", err)
	}
	instr := service.Instrument(s.Metrics, s.name)
	instr.Log, instr.Observe = s.Log, s.svc.Observe
	s.instr = instr.Async(s.NC, maxInFlight)
	if err := add(s.svc, s.instr.Handler); err != nil {
		return fmt.Errorf("endpoints: %w", err)
	}
	// Once the server has the subscriptions, a request sent after Serve returns finds a responder.
	if err := s.NC.Flush(); err != nil {
		return fmt.Errorf("nats flush: %w", err)
	}
	s.serving.Store(true)
	s.Log.Info("serving", "service", s.name, "http", s.ops.Addr())
	return nil
}

// HTTPAddr is the address the operations server listens on.
func (s *Service) HTTPAddr() string { return s.ops.Addr() }

func (s *Service) ready() error {
	if !s.serving.Load() {
		return errors.New("not serving yet (a standby waits for its lease)")
	}
	if !s.NC.IsConnected() {
		return errors.New("not connected to NATS")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if s.Pool == nil {
		return nil
	}
	if err := s.Pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// Stop stops taking requests, lets those in flight finish, stops the background loops, drains
// NATS and closes the pool, all within timeout. It may be called more than once.
func (s *Service) Stop(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if s.svc != nil {
		_ = s.svc.Stop()
	}
	if s.instr != nil {
		if err := s.instr.Shutdown(ctx); err != nil {
			s.Log.Warn("requests in flight at shutdown", "err", err)
		}
	}
	s.cancel()
	s.wg.Wait()
	if s.NC != nil && !s.NC.IsClosed() {
		natsconn.Drain(ctx, s.NC)
	}
	if s.ops != nil {
		_ = s.ops.Shutdown(ctx)
	}
	if s.Pool != nil {
		s.Pool.Close()
	}
	s.Log.Info("stopped", "service", s.name)
}

// Run waits for ctx to end, then stops the service.
func (s *Service) Run(ctx context.Context) {
	<-ctx.Done()
	s.Stop(10 * time.Second)
}
