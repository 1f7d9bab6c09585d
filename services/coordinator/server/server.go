package server

import (
	"context"
	"log/slog"
	"time"

	"tsbank/platform/idgen"
	"tsbank/platform/lifecycle"
	"tsbank/platform/service"
	"tsbank/services/coordinator/legs"
	"tsbank/services/coordinator/move"
	"tsbank/services/coordinator/natsapi"
	"tsbank/services/coordinator/nodemove"
	"tsbank/services/coordinator/pgstore"
	"tsbank/services/coordinator/transfer"
)

// Server is a running coordinator instance.
type Server struct {
	*lifecycle.Service
}

// Start connects, recovers what an earlier instance left unfinished, and starts serving.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (_ *Server, err error) {
	s, err := lifecycle.Open(ctx, "coordinator", cfg.Config, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Stop(5 * time.Second)
		}
	}()
	store := pgstore.New(s.Pool, 2*cfg.SendTimeout, log)
	coord := &transfer.Coordinator{
		Store: store, Legs: legs.New(s.NC, cfg.SigningKey, cfg.NodeBatches), Log: log, Metrics: newTransferMetrics(s.Metrics),
		NewID: idgen.UUIDv7, Now: time.Now, PrepareTimeout: cfg.PrepareTimeout, SendTimeout: cfg.SendTimeout, MaxBackoff: cfg.MaxBackoff,
		QuoteTTL: cfg.QuoteTTL,
	}
	s.Go(func(ctx context.Context) { recoverLoop(ctx, coord, cfg.RecoverInterval, log) })
	nodes, err := nodemove.NewNodes(s.NC, cfg.SigningKey)
	if err != nil {
		return nil, err
	}
	placements, err := nodemove.NewPlacements(s.NC)
	if err != nil {
		return nil, err
	}
	mover := &move.Mover{Store: store.Moves(), Nodes: nodes, Placements: placements, Log: log, Now: time.Now,
		Drain: cfg.MoveDrain, Poll: 20 * time.Millisecond, StepTimeout: cfg.SendTimeout}
	s.Go(func(ctx context.Context) { resumeMoves(ctx, mover, cfg.RecoverInterval, log) })
	s.Go(func(ctx context.Context) {
		// The loops stop once the requests in flight have ended, and the pool closes after them:
		// this is the last moment to write the acknowledgements still queued.
		<-ctx.Done()
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := store.Close(fctx); err != nil {
			log.Warn("stop", "err", err)
		}
	})
	api := &natsapi.API{Coordinator: coord, Mover: mover, Signer: cfg.SigningKey, Log: log, Timeout: cfg.RequestTimeout}
	if err := s.Serve(service.Config{
		Name: "coordinator", Version: Version,
		Description: "TSBank transfer coordinator: two-phase commit between account nodes",
	}, cfg.MaxInFlight, api.AddEndpoints); err != nil {
		return nil, err
	}
	return &Server{s}, nil
}

// recoverLoop runs recovery at once (a restart re-drives what the last instance left) and then
// every interval.
func recoverLoop(ctx context.Context, coord *transfer.Coordinator, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		aborted, resent, err := coord.Recover(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("recovery", "err", err)
		}
		if aborted+resent > 0 {
			log.Info("recovery", "aborted_undecided", aborted, "resent_decisions", resent)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Run starts the coordinator and serves until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := Start(ctx, cfg, log)
	if err != nil {
		return err
	}
	s.Run(ctx)
	return nil
}

// resumeMoves finishes, every interval, the moves no coordinator has advanced for a while: one
// whose coordinator crashed, or whose node was down.
func resumeMoves(ctx context.Context, mover *move.Mover, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := mover.Recover(ctx, mover.Drain+2*mover.StepTimeout); err != nil && ctx.Err() == nil {
			log.Warn("resume moves", "err", err)
		} else if n > 0 {
			log.Info("resumed moves", "finished", n)
		}
	}
}
