package natsapi

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/contract/natstrace"
	"tsbank/services/account/account"
)

func checkLeg(transferID, leg string) *contract.Error {
	if e := contract.CheckID("transfer_id", transferID); e != nil {
		return e
	}
	if _, ok := contract.LegSide(leg); !ok {
		return contract.Errorf(contract.CodeBadRequest, `leg %q: send "debit" or "credit", or "debit.N" or "credit.N" (N from 1 to %d) for a payment's leg`, leg, contract.MaxPaymentLegs)
	}
	return nil
}

// checkSig refuses a two-phase-commit message the coordinator did not sign, before anything is
// read or written: a refused prepare leaves no hold, not even an aborted one.
func (a *API) checkSig(ctx context.Context, s decisionsig.Statement, st contract.LegStep, sig string) *contract.Error {
	err := a.Coordinators.Verify(s, sig)
	if err == nil {
		return nil
	}
	a.Log.WarnContext(ctx, "refused a two-phase-commit message", "op", st.Op, "account", st.Account, "transfer_id", st.TransferID, "leg", st.Leg, "err", err)
	return contract.Errorf(contract.CodeForbidden, "not allowed: the %s of the %s leg of transfer %s on %s: %s",
		st.Op, st.Leg, st.TransferID, st.Account, err)
}

// prepare answers a vote for one leg (node_prepare).
func (a *API) prepare(ctx context.Context, id string, data []byte) (any, *contract.Error) {
	var r contract.PrepareRequest
	if e := contract.Decode(data, &r); e != nil {
		return nil, e
	}
	st := contract.LegStep{Op: contract.OpPrepare, Account: id, TransferID: r.TransferID, Leg: r.Leg,
		Amount: r.Amount, Counterparty: r.Counterparty, Description: r.Description, RefundOf: r.RefundOf, Exchange: r.Exchange}
	return a.one(ctx, st, decisionsig.Step(st), r.Sig)
}

// decide commits or aborts one leg (node_commit, node_abort).
func (a *API) decide(ctx context.Context, op, id string, data []byte) (any, *contract.Error) {
	var r contract.LegRequest
	if e := contract.Decode(data, &r); e != nil {
		return nil, e
	}
	st := contract.LegStep{Op: op, Account: id, TransferID: r.TransferID, Leg: r.Leg}
	return a.one(ctx, st, decisionsig.Step(st), r.Sig)
}

// one runs a single step signed on its own, and answers its vote or state, or its error.
func (a *API) one(ctx context.Context, st contract.LegStep, s decisionsig.Statement, sig string) (any, *contract.Error) {
	if e := checkLeg(st.TransferID, st.Leg); e != nil {
		return nil, e
	}
	if e := a.checkSig(ctx, s, st, sig); e != nil {
		return nil, e
	}
	trace.SpanFromContext(ctx).SetAttributes(natstrace.TransferID.String(st.TransferID))
	step := toStep(st)
	step.Trace = natstrace.InjectMap(ctx) // the request's span is the step's
	res, err := a.Service.Apply(ctx, []account.Step{step})
	if err != nil {
		return nil, a.toWire(st.Account, err)
	}
	r := a.result(st, res[0])
	switch {
	case r.Error != nil:
		return nil, r.Error
	case r.Vote != nil:
		return *r.Vote, nil
	}
	return *r.State, nil
}

// legs runs a batch of steps (node_legs) in one transaction: a step that is malformed, not this
// node's, refused or in conflict answers its own error or no vote, and the others still apply.
// Only a bad signature, which covers the whole batch, or a fault of the database, fails them all.
func (a *API) legs(ctx context.Context, _ micro.Request, b contract.LegBatch) (any, *contract.Error) {
	if len(b.Steps) == 0 || len(b.Steps) > contract.MaxLegBatch {
		return nil, contract.Errorf(contract.CodeBadRequest, "a batch holds 1 to %d steps, not %d", contract.MaxLegBatch, len(b.Steps))
	}
	if err := a.Coordinators.Verify(decisionsig.Batch(b.Steps), b.Sig); err != nil {
		a.Log.Warn("refused a batch of two-phase-commit steps", "steps", len(b.Steps), "err", err)
		return nil, contract.Errorf(contract.CodeForbidden, "not allowed: a batch of %d steps: %s", len(b.Steps), err)
	}
	reply := contract.LegBatchReply{Results: make([]contract.LegResult, len(b.Steps))}
	var run []account.Step
	var at []int // index in b.Steps of each step in run
	var spans []trace.Span
	batch := trace.LinkFromContext(ctx)
	for i, st := range b.Steps {
		if e := checkStep(st); e != nil {
			reply.Results[i].Error = e
			continue
		}
		sctx, span := stepSpan(ctx, st, batch)
		step := toStep(st)
		step.Trace = natstrace.InjectMap(sctx) // the step's events are published in its trace
		run, at, spans = append(run, step), append(at, i), append(spans, span)
	}
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		ids := make([]string, len(b.Steps))
		for i, st := range b.Steps {
			ids[i] = st.TransferID
		}
		span.SetAttributes(natstrace.TransferIDs.StringSlice(ids))
	}
	if len(run) > 0 {
		res, err := a.Service.Apply(ctx, run)
		if err != nil {
			for _, span := range spans {
				natstrace.End(span, err)
			}
			return nil, a.toWire(run[0].Account, err)
		}
		for k, r := range res {
			reply.Results[at[k]] = a.result(b.Steps[at[k]], r)
			var serr error
			if e := reply.Results[at[k]].Error; e != nil {
				serr = e
			}
			natstrace.End(spans[k], serr)
		}
	}
	return reply, nil
}

// stepSpan starts the span of one step of a batch: a child of the coordinator's span for the
// step, which the step carries, so that it sits in its transfer's trace, linked to the batch's
// request (ctx's span), which it shares with the other steps. A step that carries no trace
// context is a child of the batch's request.
func stepSpan(ctx context.Context, st contract.LegStep, batch trace.Link) (context.Context, trace.Span) {
	return natstrace.Start(natstrace.ExtractMap(ctx, st.Trace), "node "+st.Op, trace.WithLinks(batch),
		trace.WithAttributes(natstrace.TransferID.String(st.TransferID), attribute.String("tsbank.leg", st.Leg),
			attribute.String("tsbank.account", st.Account)))
}

func checkStep(st contract.LegStep) *contract.Error {
	switch st.Op {
	case contract.OpPrepare, contract.OpCommit, contract.OpAbort:
	default:
		return contract.Errorf(contract.CodeBadRequest, `op %q: send "prepare", "commit" or "abort"`, st.Op)
	}
	if e := contract.CheckID("account", st.Account); e != nil {
		return e
	}
	return checkLeg(st.TransferID, st.Leg)
}

func toStep(st contract.LegStep) account.Step {
	return account.Step{Op: st.Op, TransferID: st.TransferID, Leg: st.Leg, Account: st.Account,
		Amount: st.Amount, Counterparty: st.Counterparty, Description: st.Description, RefundOf: st.RefundOf,
		Exchange: stepExchange(st.Exchange)}
}

func stepExchange(x *contract.Exchange) *account.Exchange {
	if x == nil {
		return nil
	}
	return &account.Exchange{Quote: x.Quote, Rate: x.Rate, FromAmount: x.FromAmount, FromCurrency: x.FromCurrency,
		ToAmount: x.ToAmount, ToCurrency: x.ToCurrency}
}

// result answers one step. A prepare's refusal by the rules is a no vote, not an error: the leg
// has an outcome (aborted), and the coordinator needs its reason.
func (a *API) result(st contract.LegStep, r account.StepResult) contract.LegResult {
	h, err := r.Hold, r.Err
	if st.Op != contract.OpPrepare {
		if err != nil {
			return contract.LegResult{Error: a.toWire(st.Account, err)}
		}
		return contract.LegResult{State: &contract.LegState{TransferID: h.TransferID, Leg: h.Leg, State: h.State}}
	}
	vote := contract.Vote{TransferID: st.TransferID, Leg: st.Leg}
	switch {
	case errors.Is(err, account.ErrNotFound):
		vote.Reason, vote.Message = contract.CodeAccountNotFound, notFound(st.Account).Message
	case err != nil:
		return contract.LegResult{Error: a.toWire(st.Account, err)}
	case h.State == contract.HoldAborted:
		vote.Reason, vote.Message = h.Reason, h.Message
		if h.Message == "" { // a repeated prepare: the words were not kept, only the code
			vote.Message = "account " + st.Account + " refused the " + st.Leg + " leg: " + string(h.Reason)
		}
		if h.Reason == "" || h.Reason == contract.ReasonAbortedBeforePrepare {
			vote.Reason, vote.Message = contract.CodeConflict, "transfer "+st.TransferID+" was already aborted on "+st.Account
		}
	default:
		vote.Yes, vote.Currency, vote.AmountMinor = true, h.Currency.Code, h.Amount
	}
	return contract.LegResult{Vote: &vote}
}
