package legs

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/contract/natstrace"
	"tsbank/platform/batch"
)

// A nodeBatches sends the steps for the accounts of one node as contract.LegBatch messages
// through a batch.Group: a step goes out at once when fewer than inFlight batches to the node are
// unanswered, and otherwise waits with the others that arrive meanwhile, which leave together,
// up to contract.MaxLegBatch. A quiet bank sends batches of one with no added wait; a busy one
// sends fewer, larger batches, each one node transaction and one signature (docs/adr/0024).
type nodeBatches struct {
	l     *Legs
	node  string
	group *batch.Group[pending, stepResult]
}

// pending is one step and its caller's deadline (the zero time if it has none).
type pending struct {
	step     contract.LegStep
	deadline time.Time
}

type stepResult struct {
	r   contract.LegResult
	err error // the whole batch failed: no answer, or refused
}

// defaultBatchTimeout bounds a batch whose callers set no deadline.
const defaultBatchTimeout = 5 * time.Second

func newNodeBatches(l *Legs, node string, inFlight int) *nodeBatches {
	b := &nodeBatches{l: l, node: node}
	b.group = &batch.Group[pending, stepResult]{Max: contract.MaxLegBatch, Writers: inFlight, Write: b.call}
	return b
}

// do sends st in the node's next batch and waits for its result, or for ctx to end.
func (b *nodeBatches) do(ctx context.Context, st contract.LegStep) (contract.LegResult, error) {
	p := pending{step: st}
	p.deadline, _ = ctx.Deadline()
	c, _ := b.group.Submit(p)
	select {
	case <-c.Done():
		res := c.Result()
		return res.r, res.err
	case <-ctx.Done():
		return contract.LegResult{}, ctx.Err()
	}
}

// call sends steps as one message, with as long a timeout as its most patient caller, and
// returns each step's result.
func (b *nodeBatches) call(steps []pending) []stepResult {
	req := contract.LegBatch{Steps: make([]contract.LegStep, len(steps))}
	var deadline time.Time
	for i, p := range steps {
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
	// The batch is a span of its own, in no transfer's trace: its steps belong to many. It links
	// to each step's span, and each step carries its own context to the node.
	// With tracing off the steps carry no context, and nothing here allocates.
	var links []trace.Link
	for _, p := range steps {
		if len(p.step.Trace) > 0 {
			links = append(links, trace.LinkFromContext(natstrace.ExtractMap(ctx, p.step.Trace)))
		}
	}
	ctx, span := natstrace.Start(ctx, "legs batch", trace.WithNewRoot(), trace.WithLinks(links...))
	if span.IsRecording() {
		ids := make([]string, len(steps))
		for i, p := range steps {
			ids[i] = p.step.TransferID
		}
		span.SetAttributes(natstrace.TransferIDs.StringSlice(ids), attribute.String("tsbank.node", b.node),
			attribute.Int("tsbank.steps", len(steps)))
	}
	var err error
	defer func() { natstrace.End(span, err) }()
	var reply contract.LegBatchReply
	var sig string
	sig, err = decisionsig.Sign(b.l.key, decisionsig.Batch(req.Steps))
	if err == nil {
		req.Sig = sig
		err = b.l.c.Call(ctx, contract.NodeLegsSubject(b.node), req, &reply)
	}
	if err == nil && len(reply.Results) != len(steps) {
		err = fmt.Errorf("node %s answered %d results to a batch of %d steps", b.node, len(reply.Results), len(steps))
	}
	out := make([]stepResult, len(steps))
	for i := range out {
		if err != nil {
			out[i].err = err
		} else {
			out[i].r = reply.Results[i]
		}
	}
	return out
}
