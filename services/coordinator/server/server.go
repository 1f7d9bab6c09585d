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
	"github.com/nats-io/nats.go/micro"

	"tsbank/platform/idgen"
	"tsbank/platform/metrics"
	"tsbank/platform/natsconn"
	"tsbank/platform/ops"
	"tsbank/platform/service"
	"tsbank/services/coordinator/legs"
	"tsbank/services/coordinator/natsapi"
	"tsbank/services/coordinator/pgstore"
	"tsbank/services/coordinator/transfer"
)

// Server is a running coordinator instance.
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

// Start connects, recovers what an earlier instance left unfinished, and starts serving.
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
	if s.nc, err = natsconn.Connect(cfg.NATSURL, "tsbank-coordinator", cfg.NATSUser, cfg.NATSPassword, log); err != nil {
		return nil, err
	}
	m := metrics.NewRegistry()
	coord := &transfer.Coordinator{
		Store: pgstore.New(s.pool, 2*cfg.SendTimeout), Legs: legs.New(s.nc), Log: log, Metrics: newTransferMetrics(m),
		NewID: idgen.UUIDv7, PrepareTimeout: cfg.PrepareTimeout, SendTimeout: cfg.SendTimeout, MaxBackoff: cfg.MaxBackoff,
	}
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.recoverLoop(bg, coord, cfg.RecoverInterval) }()

	if s.svc, err = micro.AddService(s.nc, micro.Config{
		Name: "coordinator", Version: Version,
		Description: "TSBank transfer coordinator: two-phase commit between account nodes",
	}); err != nil {
		return nil, fmt.Errorf("micro service: %w", err)
	}
	s.instr = service.Instrument(m, "coordinator").Async(s.nc, cfg.MaxInFlight)
	api := &natsapi.API{Coordinator: coord, Log: log, Timeout: cfg.RequestTimeout}
	if err := api.AddEndpoints(s.svc, s.instr.Handler); err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	s.ops = ops.NewServer(cfg.HTTPAddr, m, s.ready)
	if err := s.ops.Start(); err != nil {
		return nil, fmt.Errorf("http %s: %w", cfg.HTTPAddr, err)
	}
	log.Info("coordinator started", "http", s.ops.Addr())
	return s, nil
}

// recoverLoop runs recovery at once (a restart re-drives what the last instance left) and then
// every interval.
func (s *Server) recoverLoop(ctx context.Context, coord *transfer.Coordinator, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		aborted, resent, err := coord.Recover(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("recovery", "err", err)
		}
		if aborted+resent > 0 {
			s.log.Info("recovery", "aborted_undecided", aborted, "resent_decisions", resent)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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

// Stop stops taking requests, finishes those in flight, stops recovery, drains NATS and closes
// the pool, within timeout.
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
	s.log.Info("coordinator stopped")
}

// Run starts the coordinator and serves until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	<-ctx.Done()
	s.Stop(10 * time.Second)
	return nil
}
