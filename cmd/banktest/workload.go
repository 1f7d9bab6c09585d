package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/money"
)

// Outcomes of an operation, as Jepsen records them.
const (
	outOK      = "ok"      // the bank answered with an outcome
	outFail    = "fail"    // the bank refused it: it certainly did not happen
	outUnknown = "unknown" // no answer (a timeout, no responder): it may or may not have happened
)

// transferOp is one transfer a client asked for, and what it was told. A refund is one too: of
// the transfer Original (its payer and request id), from that transfer's payee back to its payer.
type transferOp struct {
	From, To, ID string
	Amount       int64
	Original     *contract.TransferRef  // set for a refund
	Outcome      string                 // ok, fail, unknown
	Status       contract.TransferState // for ok: committed or aborted
	Reason       contract.Code
	At           time.Duration // since the start of the run
}

// workload runs clients that transfer random amounts among the accounts and read balances.
type workload struct {
	c        *client.Client
	accounts []string
	start    time.Time
	mu       sync.Mutex
	ops      []transferOp
	reads    map[string]int // by outcome
}

var eur, _ = money.LookupCurrency("EUR")

func (w *workload) client(ctx context.Context, n int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	for i := 0; ctx.Err() == nil; i++ {
		if r.IntN(5) == 0 {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := w.c.Balance(rctx, w.accounts[r.IntN(len(w.accounts))])
			cancel()
			w.mu.Lock()
			w.reads[classify(err)]++
			w.mu.Unlock()
			continue
		}
		if r.IntN(10) == 0 {
			if op, ok := w.refundOfOne(r, fmt.Sprintf("c%d-r%d", n, i)); ok {
				w.send(ctx, &op)
				w.mu.Lock()
				w.ops = append(w.ops, op)
				w.mu.Unlock()
				continue
			}
		}
		from, to := w.accounts[r.IntN(len(w.accounts))], w.accounts[r.IntN(len(w.accounts))]
		if from == to {
			continue
		}
		op := transferOp{From: from, To: to, ID: fmt.Sprintf("c%d-%d", n, i), Amount: 1 + r.Int64N(20000), At: time.Since(w.start)}
		w.send(ctx, &op)
		w.mu.Lock()
		w.ops = append(w.ops, op)
		w.mu.Unlock()
	}
}

// refundOfOne picks a transfer acknowledged committed (not itself a refund) and makes the op that
// refunds part of it, up to all of it, with request id id; ok is false while there is none. The
// bank refuses what would pass the original's amount, a refusal the checker takes as such.
func (w *workload) refundOfOne(r *rand.Rand, id string) (transferOp, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for range 20 {
		if len(w.ops) == 0 {
			break
		}
		o := w.ops[r.IntN(len(w.ops))]
		if o.Outcome != outOK || o.Status != contract.TransferCommitted || o.Original != nil {
			continue
		}
		return transferOp{From: o.To, To: o.From, ID: id, Amount: 1 + r.Int64N(o.Amount),
			Original: &contract.TransferRef{From: o.From, ID: o.ID}, At: time.Since(w.start)}, true
	}
	return transferOp{}, false
}

// send asks for the transfer (or the refund) and records the answer.
func (w *workload) send(ctx context.Context, op *transferOp) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 6*time.Second)
	defer cancel()
	var tr contract.Transfer
	var err error
	if op.Original != nil {
		tr, err = w.c.Refund(rctx, op.From, contract.RefundRequest{ID: op.ID, Original: op.Original, Amount: money.Format(op.Amount, eur)})
	} else {
		tr, err = w.c.Transfer(rctx, op.From, contract.TransferRequest{ID: op.ID, To: op.To, Amount: money.Format(op.Amount, eur)})
	}
	op.Outcome = classify(err)
	switch {
	case err != nil:
		op.Reason = contract.CodeOf(err)
	case tr.Status == contract.TransferPreparing:
		op.Outcome = outUnknown // the coordinator has not decided within the request's time
	default:
		op.Status, op.Reason = tr.Status, tr.Reason
	}
}

// classify says what an error means for whether the operation happened.
func classify(err error) string {
	switch contract.CodeOf(err) {
	case "":
		if err == nil {
			return outOK
		}
		return outUnknown // transport: timeout, no connection
	case contract.CodeTimeout, contract.CodeNodeUnavailable, contract.CodeInternal, contract.CodeOutcomeUnknown:
		return outUnknown
	}
	return outFail
}

// replay sends n earlier transfer requests again, with the same ids and bodies: a request the
// bank answered must get the same answer again.
func (w *workload) replay(ctx context.Context, n int, r *rand.Rand) (checked int, mismatches []string) {
	w.mu.Lock()
	var done []transferOp
	for _, op := range w.ops {
		if op.Outcome == outOK {
			done = append(done, op)
		}
	}
	w.mu.Unlock()
	for range min(n, len(done)) {
		op := done[r.IntN(len(done))]
		again := op
		w.send(ctx, &again)
		if again.Outcome != outOK {
			continue // no answer this time: nothing to compare
		}
		checked++
		if again.Status != op.Status {
			mismatches = append(mismatches, fmt.Sprintf("%s/%s was %s, replayed %s", op.From, op.ID, op.Status, again.Status))
		}
	}
	return checked, mismatches
}
