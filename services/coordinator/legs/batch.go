package legs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
)

// A batcher sends the steps for the accounts of one node as contract.LegBatch messages, the way
// Postgres groups commits: a step goes out at once when fewer than inFlight batches to the node
// are unanswered, and otherwise waits with the others that arrive meanwhile, which leave
// together, up to contract.MaxLegBatch, as soon as a batch is answered. A quiet bank sends batches
// of one with no added wait; a busy one sends fewer, larger batches, each one node transaction
// and one signature (docs/adr/0024).
type batcher struct {
	l        *Legs
	node     string
	inFlight int

	mu      sync.Mutex
	queue   []*pending
	sending int // batches sent and not yet answered, or about to be sent
}

// pending is one step waiting for its result.
type pending struct {
	step     contract.LegStep
	deadline time.Time // the caller's; the zero time if it has none
	done     chan stepResult
}

type stepResult struct {
	r   contract.LegResult
	err error // the whole batch failed: no answer, or refused
}

// defaultBatchTimeout bounds a batch whose callers set no deadline.
const defaultBatchTimeout = 5 * time.Second

// do sends st in the node's next batch and waits for its result, or for ctx to end.
func (b *batcher) do(ctx context.Context, st contract.LegStep) (contract.LegResult, error) {
	p := &pending{step: st, done: make(chan stepResult, 1)}
	p.deadline, _ = ctx.Deadline()
	b.mu.Lock()
	b.queue = append(b.queue, p)
	if b.sending < b.inFlight {
		b.sending++
		go b.send()
	}
	b.mu.Unlock()
	select {
	case res := <-p.done:
		return res.r, res.err
	case <-ctx.Done():
		return contract.LegResult{}, ctx.Err()
	}
}

// send sends what is queued, then again while steps keep arriving, and stops when the queue is
// empty.
func (b *batcher) send() {
	for {
		b.mu.Lock()
		n := min(len(b.queue), contract.MaxLegBatch)
		if n == 0 {
			b.sending--
			b.mu.Unlock()
			return
		}
		batch := b.queue[:n:n]
		b.queue = b.queue[n:]
		b.mu.Unlock()
		b.call(batch)
	}
}

// call sends batch as one message, with as long a timeout as its most patient caller, and hands
// each step its result.
func (b *batcher) call(batch []*pending) {
	req := contract.LegBatch{Steps: make([]contract.LegStep, len(batch))}
	var deadline time.Time
	for i, p := range batch {
		req.Steps[i] = p.step
		if p.deadline.After(deadline) {
			deadline = p.deadline
		}
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(defaultBatchTimeout)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var reply contract.LegBatchReply
	sig, err := decisionsig.Sign(b.l.key, decisionsig.Batch(req.Steps))
	if err == nil {
		req.Sig = sig
		err = b.l.c.Call(ctx, contract.NodeLegsSubject(b.node), req, &reply)
	}
	if err == nil && len(reply.Results) != len(batch) {
		err = fmt.Errorf("node %s answered %d results to a batch of %d steps", b.node, len(reply.Results), len(batch))
	}
	for i, p := range batch {
		if err != nil {
			p.done <- stepResult{err: err}
			continue
		}
		p.done <- stepResult{r: reply.Results[i]}
	}
}
