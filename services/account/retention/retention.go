// Package retention deletes an account node's idempotency records once they are older than the
// retention period. It deletes a batch per transaction, so that pruning a large backlog never
// holds many row locks or one long transaction.
package retention

import (
	"context"
	"log/slog"
	"time"
)

// Store deletes old idempotency records; pgstore.Store is one.
type Store interface {
	PruneRequests(ctx context.Context, age time.Duration, limit int) (int64, error)
}

// Pruner deletes records older than Retention every Interval.
type Pruner struct {
	Store     Store
	Retention time.Duration
	Interval  time.Duration
	Batch     int
	Log       *slog.Logger
	Pruned    func(n int64) // called with each batch's count, for a metric
}

// Run prunes at once and then every Interval, until ctx ends. A failed round is logged and tried
// again at the next tick: the records it left are only kept a little longer.
func (p *Pruner) Run(ctx context.Context) {
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		if n, err := p.Once(ctx); err != nil && ctx.Err() == nil {
			p.Log.Warn("pruning idempotency records failed", "err", err, "deleted", n)
		} else if n > 0 {
			p.Log.Info("pruned idempotency records", "deleted", n, "retention", p.Retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once deletes every record older than Retention, a batch at a time, and says how many.
func (p *Pruner) Once(ctx context.Context) (int64, error) {
	var total int64
	for {
		n, err := p.Store.PruneRequests(ctx, p.Retention, p.Batch)
		total += n
		if n > 0 && p.Pruned != nil {
			p.Pruned(n)
		}
		if err != nil || n < int64(p.Batch) {
			return total, err
		}
	}
}
