package account

import (
	"context"
	"fmt"

	"tsbank/contract"
	"tsbank/contract/money"
)

// Step is one two-phase-commit step the coordinator asks of a leg on this node: a prepare (with
// the amount as sent, the counterparty and the description) or a decision.
type Step struct {
	Op           string
	TransferID   string
	Leg          string
	Account      string
	Amount       string    // prepare
	Counterparty string    // prepare
	Description  string    // prepare
	RefundOf     string    // prepare, of a refund's leg: the transfer it refunds
	Exchange     *Exchange // prepare, of a cross-currency transfer's leg
	// Trace is the trace context of the step (opaque here), which the events it writes keep
	// for their publication (docs/adr/0039).
	Trace map[string]string
}

// StepResult is what one step did: the leg as it stands after it, or the step's own error
// (ErrNotFound, ErrUnknownTransfer, ErrDecisionConflict). A refusal by the rules is not an
// error: the leg is aborted, with its Reason.
type StepResult struct {
	Hold Hold
	Err  error
}

// LegKey names a leg: the store loads it with its account.
type LegKey struct {
	TransferID string
	Leg        string
	Account    string
}

// Apply runs steps, in order, in one transaction of the store: a batch costs one commit however
// many legs it holds (docs/adr/0024). Each step has its own result, so a refused or conflicting
// leg never fails its neighbours; only a fault of the store fails them all.
func (s *Service) Apply(ctx context.Context, steps []Step) ([]StepResult, error) {
	keys := make([]LegKey, len(steps))
	for i, st := range steps {
		keys[i] = LegKey{TransferID: st.TransferID, Leg: st.Leg, Account: st.Account}
	}
	results := make([]StepResult, len(steps))
	events := false
	err := s.Store.Legs(ctx, keys, func(i int, a *Account, known *Hold) (Hold, bool, *Event, error) {
		h, write, ev, err := s.step(steps[i], a, known)
		results[i] = StepResult{Hold: h, Err: err}
		events = events || ev != nil
		return h, write, ev, err
	})
	if err != nil {
		return nil, err
	}
	if events && s.Changed != nil {
		s.Changed()
	}
	return results, nil
}

// step applies st to account a (nil: not on this node) whose leg, as stored and as changed by the
// batch's earlier steps, is known (nil: never seen). It returns the leg after the step, whether it
// must be written, and the event of a commit. On an error nothing of the step is written and a is
// unchanged.
func (s *Service) step(st Step, a *Account, known *Hold) (h Hold, write bool, ev *Event, err error) {
	commit := st.Op == contract.OpCommit
	switch {
	case st.Op != contract.OpPrepare && !commit && st.Op != contract.OpAbort:
		return Hold{}, false, nil, fmt.Errorf("unknown step %q", st.Op)
	case a == nil && st.Op == contract.OpAbort:
		// Nothing was ever held on an account that does not exist.
		return Hold{TransferID: st.TransferID, Leg: st.Leg, Account: st.Account, State: contract.HoldAborted}, false, nil, nil
	case a == nil:
		return Hold{}, false, nil, fmt.Errorf("%w: %s", ErrNotFound, st.Account)
	}
	// A leg already prepared may still be decided while its account leaves; a new one may not.
	if err := a.served(st.Op == contract.OpPrepare && known == nil); err != nil {
		return Hold{}, false, nil, err
	}
	switch {
	case st.Op == contract.OpPrepare && known != nil:
		return *known, false, nil, nil // a duplicate prepare, or one after its abort: as it stands
	case st.Op == contract.OpPrepare:
		return s.prepare(st, a)
	case known == nil && commit:
		return Hold{}, false, nil, fmt.Errorf("%w: %s/%s on %s", ErrUnknownTransfer, st.TransferID, st.Leg, st.Account)
	case known == nil:
		// An abort before the prepare: recorded, so that the prepare, if it comes later, is refused.
		return Hold{TransferID: st.TransferID, Leg: st.Leg, Account: st.Account, Currency: a.Currency,
			State: contract.HoldAborted, Reason: contract.ReasonAbortedBeforePrepare, CreatedAt: s.now()}, true, nil, nil
	}
	target := contract.HoldAborted
	if commit {
		target = contract.HoldCommitted
	}
	h = *known
	switch h.State {
	case target:
		return h, false, nil, nil
	case contract.HoldPrepared:
	default:
		return Hold{}, false, nil, fmt.Errorf("%w: %s/%s is %s", ErrDecisionConflict, st.TransferID, st.Leg, h.State)
	}
	a.Settle(h, commit)
	h.State = target
	if commit {
		ev = a.record(s.legEvent(a, h))
		ev.Trace = st.Trace
	}
	return h, true, ev, nil
}

// prepare holds a new leg: a debit reserves the amount, a credit records it as pending. A refusal
// of the rules is recorded as an aborted leg with its reason, so that a duplicate or late prepare
// gets the same no.
func (s *Service) prepare(st Step, a *Account) (Hold, bool, *Event, error) {
	h := Hold{TransferID: st.TransferID, Leg: st.Leg, Account: st.Account, Currency: a.Currency,
		Counterparty: st.Counterparty, Description: st.Description, RefundOf: st.RefundOf, Exchange: st.Exchange, State: contract.HoldPrepared, CreatedAt: s.now()}
	n, err := money.Parse(st.Amount, a.Currency)
	if err == nil {
		h.Amount = n
		err = a.Prepare(st.Leg, n)
	}
	if err != nil {
		reason := Reason(err)
		if reason == "" {
			return Hold{}, false, nil, err
		}
		h.State, h.Reason, h.Message = contract.HoldAborted, reason, err.Error()
	}
	return h, true, nil, nil
}

// legEvent is the event of a committed leg: money out of a debit's account, into a credit's.
func (s *Service) legEvent(a *Account, h Hold) *Event {
	typ, amount := contract.EventTransferIn, h.Amount
	if Side(h.Leg) == contract.SideDebit {
		typ, amount = contract.EventTransferOut, -h.Amount
	}
	return &Event{
		ID: s.NewID(), Type: typ, Account: a.ID, Node: s.Node, Amount: amount, Currency: a.Currency.Code,
		BalanceAfter: a.Balance, Time: s.now(), Description: h.Description,
		TransferID: h.TransferID, Counterparty: h.Counterparty, RefundOf: h.RefundOf, Exchange: h.Exchange,
	}
}

// Prepare holds leg of transfer transferID on account id; see Apply.
func (s *Service) Prepare(ctx context.Context, id, transferID, leg, amount, counterparty, description string) (Hold, error) {
	return s.one(ctx, Step{Op: contract.OpPrepare, TransferID: transferID, Leg: leg, Account: id,
		Amount: amount, Counterparty: counterparty, Description: description})
}

// Commit applies a prepared leg: the money moves and the leg's event goes to the outbox.
func (s *Service) Commit(ctx context.Context, id, transferID, leg string) (Hold, error) {
	return s.one(ctx, Step{Op: contract.OpCommit, TransferID: transferID, Leg: leg, Account: id})
}

// Abort releases a prepared leg, or records the abort of a leg not prepared yet.
func (s *Service) Abort(ctx context.Context, id, transferID, leg string) (Hold, error) {
	return s.one(ctx, Step{Op: contract.OpAbort, TransferID: transferID, Leg: leg, Account: id})
}

func (s *Service) one(ctx context.Context, st Step) (Hold, error) {
	res, err := s.Apply(ctx, []Step{st})
	if err != nil {
		return Hold{}, err
	}
	return res[0].Hold, res[0].Err
}
