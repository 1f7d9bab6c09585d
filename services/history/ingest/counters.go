package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tsbank/contract"
	"tsbank/services/history/history"
)

// incrHeader asks a counter stream to add its value to the subject's total (nats.go has no name
// for it yet).
const incrHeader = "Nats-Incr"

// Counters keeps the bank's counters (contract.TransfersCounter, VolumeCounter) in step with the
// history: it takes the committed transfers it has not counted yet in numbered batches, adds each
// batch's totals to the counters with JetStream's distributed counters (one Nats-Incr publish per
// counter, whose id names the batch and the counter), and marks the batch counted once every
// increment is acknowledged (docs/adr/0032). A batch published again after a crash, within the
// stream's duplicate window, changes nothing.
type Counters struct {
	JS       jetstream.JetStream
	Store    history.Store
	Log      *slog.Logger
	Batch    int           // transfers per batch
	Interval time.Duration // how often it looks for transfers to count when there were none
}

// Run counts until ctx ends.
func (c *Counters) Run(ctx context.Context) {
	failing := false
	for ctx.Err() == nil {
		n, err := c.Once(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				c.Log.Warn("counting transfers", "err", err)
				failing = true
			}
		case err == nil && failing:
			c.Log.Info("counting transfers again")
			failing = false
		}
		if n > 0 && err == nil {
			continue // more may be waiting
		}
		select {
		case <-ctx.Done():
		case <-time.After(c.Interval):
		}
	}
}

// Once counts one batch and returns how many totals it added.
func (c *Counters) Once(ctx context.Context) (int, error) {
	batch, totals, err := c.Store.ClaimCountBatch(ctx, c.Batch)
	if err != nil || batch == 0 {
		return 0, err
	}
	incr := map[string]int64{}
	for _, t := range totals {
		for _, node := range []string{"", t.Node} {
			incr[contract.TransfersCounter(t.Day, node)] += t.Transfers
			incr[contract.VolumeCounter(t.Day, node, t.Currency)] += t.Volume
		}
	}
	for subject, n := range incr {
		m := nats.NewMsg(subject)
		m.Header.Set(incrHeader, strconv.FormatInt(n, 10))
		if _, err := c.JS.PublishMsg(ctx, m, jetstream.WithMsgID(fmt.Sprintf("count-%d-%s", batch, subject))); err != nil {
			return 0, fmt.Errorf("count batch %d on %s: %w", batch, subject, err)
		}
	}
	if err := c.Store.MarkCounted(ctx, batch); err != nil {
		return 0, err
	}
	return len(totals), nil
}
