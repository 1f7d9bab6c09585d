// Package batch groups the work of many concurrent callers into batches without a timer, the way
// Postgres groups commits: the coordinator's log writes (one transaction for many transfers) and
// its messages to the account nodes (one message and one node transaction for many legs) use it.
package batch

import (
	"context"
	"sync"
)

// Group hands the items of many concurrent callers to Write in batches (group commit in the
// application: on a durable database each transaction waits for its own WAL flush, so a
// transaction shared by n transfers costs each of them 1/n of a flush).
//
// There is no timer. A caller that finds fewer than writers batches in flight starts one at once
// with whatever is queued, itself included: when nothing else is waiting, the window closes at
// once and a lone caller pays no delay. Callers that arrive while every writer is busy queue up,
// and the first writer to finish takes them all (up to max) as its next batch: the window is the
// time one batch takes to commit, and it widens by itself as load grows.
type Group[T, R any] struct {
	Max     int // items per batch
	Writers int // batches in flight at once
	// Write writes items as one batch and returns one result per item, in order.
	Write func(items []T) []R

	mu      sync.Mutex
	queue   []*Call[T, R]
	running int
	closed  bool
	drained chan struct{} // closed when running reaches 0 with nothing queued, if Close waits
}

// Call is one submitted item.
type Call[T, R any] struct {
	item T
	res  R
	done chan struct{}
}

// Done is closed once the item is written.
func (c *Call[T, R]) Done() <-chan struct{} { return c.done }

// Result is the item's result; read it after Done is closed.
func (c *Call[T, R]) Result() R { return c.res }

// Submit queues item and returns its call, whose done closes once item is written, and whether the
// group is closed (its caller should then wait, since nobody will wait for the write any more).
func (g *Group[T, R]) Submit(item T) (*Call[T, R], bool) {
	c := &Call[T, R]{item: item, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	var batch []*Call[T, R]
	if g.running < g.Writers {
		batch = g.take()
		g.running++
	}
	closed := g.closed
	g.mu.Unlock()
	if batch != nil {
		go g.run(batch)
	}
	return c, closed
}

// take removes up to max calls from the queue; g.mu is held.
func (g *Group[T, R]) take() []*Call[T, R] {
	n := min(len(g.queue), g.Max)
	if n == 0 {
		return nil
	}
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	return batch
}

// run writes batch, then whatever queued meanwhile, until the queue is empty.
func (g *Group[T, R]) run(batch []*Call[T, R]) {
	for batch != nil {
		items := make([]T, len(batch))
		for i, c := range batch {
			items[i] = c.item
		}
		for i, r := range g.Write(items) {
			batch[i].res = r
			close(batch[i].done)
		}
		g.mu.Lock()
		if batch = g.take(); batch == nil {
			g.running--
			if g.running == 0 && g.drained != nil {
				close(g.drained)
				g.drained = nil
			}
		}
		g.mu.Unlock()
	}
}

// Close waits, until ctx ends, for every queued item to be written. Items submitted afterwards
// are still written, and their callers told to wait for them.
func (g *Group[T, R]) Close(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	if g.running == 0 {
		g.mu.Unlock()
		return nil
	}
	if g.drained == nil {
		g.drained = make(chan struct{})
	}
	drained := g.drained
	g.mu.Unlock()
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
