// Package resolver asks the coordinator for the outcome of transfer legs that have stayed
// prepared for too long. A participant that voted yes never decides alone: it applies the
// coordinator's answer, and keeps the hold while there is none or it is not signed by the
// coordinator.
package resolver

import (
	"context"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/decisionsig"
	"tsbank/contract/natstrace"
	"tsbank/services/account/account"
)

// Resolver checks prepared legs older than Age every Interval.
type Resolver struct {
	Service *account.Service
	Client  *client.Client
	// Coordinators verifies each answer: an answer on the reply subject from anyone but the
	// coordinator would otherwise commit or abort the leg.
	Coordinators *decisionsig.Verifier
	Log          *slog.Logger
	Age          time.Duration
	Interval     time.Duration
	Timeout      time.Duration // of one question to the coordinator
}

// Run checks until ctx ends.
func (r *Resolver) Run(ctx context.Context) {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.Once(ctx)
		}
	}
}

// Once asks about each stale leg and applies the outcomes it learns; it returns how many legs it
// settled.
func (r *Resolver) Once(ctx context.Context) int {
	holds, err := r.Service.StaleHolds(ctx, r.Age, 100)
	if err != nil {
		r.Log.Warn("stale holds", "err", err)
		return 0
	}
	settled := 0
	for _, h := range holds {
		if r.settle(ctx, h) {
			settled++
		}
	}
	return settled
}

// settle asks the coordinator for the outcome of the stale leg h and applies it, in a span of
// its own (its log lines name its trace); it tells whether h was settled.
func (r *Resolver) settle(ctx context.Context, h account.Hold) bool {
	ctx, span := natstrace.Start(ctx, "settle stale leg", trace.WithAttributes(natstrace.TransferID.String(h.TransferID),
		attribute.String("tsbank.leg", h.Leg), attribute.String("tsbank.account", h.Account)))
	defer span.End()
	qctx, cancel := context.WithTimeout(ctx, r.Timeout)
	var d contract.Decision
	err := r.Client.Call(qctx, contract.SubjectDecision,
		contract.DecisionRequest{TransferID: h.TransferID, Leg: h.Leg, Account: h.Account}, &d)
	cancel()
	if err != nil {
		r.Log.WarnContext(ctx, "ask coordinator", "transfer_id", h.TransferID, "err", err)
		return false // keep the hold: no answer is not an abort
	}
	// The statement is built from the hold, not from the answer: an answer signed for another
	// transfer, leg or account does not verify.
	asked := contract.Decision{TransferID: h.TransferID, Outcome: d.Outcome}
	if err := r.Coordinators.Verify(decisionsig.Outcome(h.Account, h.Leg, asked), d.Sig); err != nil {
		r.Log.WarnContext(ctx, "refused a decision answer", "transfer_id", h.TransferID, "leg", h.Leg, "account", h.Account,
			"outcome", d.Outcome, "err", err)
		return false // keep the hold, as with no answer
	}
	switch d.Outcome {
	case contract.TransferCommitted:
		_, err = r.Service.Commit(ctx, h.Account, h.TransferID, h.Leg)
	case contract.TransferAborted:
		_, err = r.Service.Abort(ctx, h.Account, h.TransferID, h.Leg)
	default:
		return false // still undecided
	}
	if err != nil {
		r.Log.ErrorContext(ctx, "apply decision", "transfer_id", h.TransferID, "leg", h.Leg, "outcome", d.Outcome, "err", err)
		return false
	}
	r.Log.InfoContext(ctx, "settled a stale leg", "transfer_id", h.TransferID, "leg", h.Leg, "outcome", d.Outcome)
	return true
}
