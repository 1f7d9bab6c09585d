package natsapi

import (
	"context"
	"errors"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/services/account/account"
)

func checkLeg(transferID, leg string) *contract.Error {
	if e := contract.CheckID("transfer_id", transferID); e != nil {
		return e
	}
	if leg != contract.LegDebit && leg != contract.LegCredit {
		return contract.Errorf(contract.CodeBadRequest, `leg %q: send "debit" or "credit"`, leg)
	}
	return nil
}

// checkSig refuses a two-phase-commit message the coordinator did not sign, before anything is
// read or written: a refused prepare leaves no hold, not even an aborted one.
func (a *API) checkSig(s decisionsig.Statement, sig string) *contract.Error {
	err := a.Coordinators.Verify(s, sig)
	if err == nil {
		return nil
	}
	a.Log.Warn("refused a two-phase-commit message", "op", s.Op, "account", s.Account, "transfer", s.TransferID, "leg", s.Leg, "err", err)
	return contract.Errorf(contract.CodeForbidden, "not allowed: the %s of the %s leg of transfer %s on %s: %s",
		s.Op, s.Leg, s.TransferID, s.Account, err)
}

// prepare answers a vote. A refusal by the rules is a no vote, not an error reply: the leg has an
// outcome (aborted), and the coordinator needs its reason.
func (a *API) prepare(ctx context.Context, id string, data []byte) (any, *contract.Error) {
	var r contract.PrepareRequest
	if e := contract.Decode(data, &r); e != nil {
		return nil, e
	}
	if e := checkLeg(r.TransferID, r.Leg); e != nil {
		return nil, e
	}
	if e := a.checkSig(decisionsig.Prepare(id, r), r.Sig); e != nil {
		return nil, e
	}
	vote := contract.Vote{TransferID: r.TransferID, Leg: r.Leg}
	h, err := a.Service.Prepare(ctx, id, r.TransferID, r.Leg, r.Amount, r.Counterparty, r.Description)
	switch {
	case errors.Is(err, account.ErrNotFound):
		vote.Reason, vote.Message = contract.CodeAccountNotFound, notFound(id).Message
	case err != nil:
		return nil, a.toWire(id, err)
	case h.State == account.HoldAborted:
		vote.Reason, vote.Message = h.Reason, h.Message
		if h.Message == "" { // a repeated prepare: the words were not kept, only the code
			vote.Message = "account " + id + " refused the " + r.Leg + " leg: " + h.Reason
		}
		if h.Reason == "" || h.Reason == "aborted_before_prepare" {
			vote.Reason, vote.Message = contract.CodeConflict, "transfer "+r.TransferID+" was already aborted on "+id
		}
	default:
		vote.Yes, vote.Currency, vote.AmountMinor = true, h.Currency.Code, h.Amount
	}
	return vote, nil
}

func (a *API) decide(ctx context.Context, op, id string, data []byte) (any, *contract.Error) {
	var r contract.LegRequest
	if e := contract.Decode(data, &r); e != nil {
		return nil, e
	}
	if e := checkLeg(r.TransferID, r.Leg); e != nil {
		return nil, e
	}
	if e := a.checkSig(decisionsig.Leg(op, id, r), r.Sig); e != nil {
		return nil, e
	}
	do := a.Service.Abort
	if op == contract.OpCommit {
		do = a.Service.Commit
	}
	h, err := do(ctx, id, r.TransferID, r.Leg)
	if err != nil {
		return nil, a.toWire(id, err)
	}
	return contract.LegState{TransferID: h.TransferID, Leg: h.Leg, State: h.State}, nil
}
