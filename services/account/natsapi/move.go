package natsapi

import (
	"context"
	"encoding/json"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/services/account/account"
)

// moveStep runs one step of a move of an account to or from this node (node_move), signed by the
// coordinator, which drives the move (docs/adr/0036).
func (a *API) moveStep(ctx context.Context, _ micro.Request, r contract.NodeMoveRequest) (any, *contract.Error) {
	for _, f := range [][2]string{{"account", r.Account}, {"move_id", r.MoveID}, {"peer", r.Peer}} {
		if e := contract.CheckID(f[0], f[1]); e != nil {
			return nil, e
		}
	}
	if err := a.Coordinators.Verify(decisionsig.MoveStep(r), r.Sig); err != nil {
		a.Log.Warn("refused a step of a move", "op", r.Op, "account", r.Account, "move", r.MoveID, "err", err)
		return nil, contract.Errorf(contract.CodeForbidden, "not allowed: the %s of move %s of %s: %s", r.Op, r.MoveID, r.Account, err)
	}
	var st account.MoveStatus
	var err error
	reply := contract.NodeMoveReply{}
	switch r.Op {
	case contract.MoveOpLeave:
		st, err = a.Service.Leave(ctx, r.Account, r.MoveID, r.Peer)
	case contract.MoveOpStay:
		st, err = a.Service.Stay(ctx, r.Account, r.MoveID)
	case contract.MoveOpDepart:
		st, err = a.Service.Depart(ctx, r.Account, r.MoveID)
		if err == nil && st.State == account.MoveGone {
			a.Registry.Forget(r.Account) // requests for it go to its new node from now on
		}
	case contract.MoveOpExport:
		var p account.Page
		p, err = a.Service.Export(ctx, r.Account, r.MoveID, r.Part, r.After, contract.MovePageRows)
		reply.Page = &contract.MovePage{Part: p.Part, Rows: p.Rows, Next: p.Next}
		st.State = account.MoveGone
	case contract.MoveOpImport:
		if r.Page == nil || r.Page.Part != r.Part || len(r.Page.Rows) > contract.MovePageRows {
			return nil, contract.Errorf(contract.CodeBadRequest, "an import carries one page of its part, of at most %d rows", contract.MovePageRows)
		}
		reply.Imported, err = a.Service.Import(ctx, r.Account, r.MoveID, r.Peer, r.Part, r.Page.Rows)
		st.State = account.MoveArriving
		if err == nil {
			// This node answers for the account from now on, "moving" until it is activated: the
			// old node has let go of it, and requests every node receives must find an owner.
			a.Registry.Remember(r.Account, a.Node)
		}
	case contract.MoveOpActivate:
		st, err = a.Service.Activate(ctx, r.Account, r.MoveID)
		if err == nil {
			a.Registry.Remember(r.Account, a.Node)
		}
	default:
		return nil, contract.Errorf(contract.CodeBadRequest, "unknown move step %q", r.Op)
	}
	if err != nil {
		return nil, a.toWire(r.Account, err)
	}
	reply.State, reply.Prepared, reply.EventSeq = st.State, st.Prepared, st.EventSeq
	return reply, nil
}

// movedReply tells whether a relayed reply says the account left the node that answered.
func movedReply(data []byte, code string) bool {
	if contract.Code(code) == contract.CodeAccountMoved {
		return true
	}
	var body struct {
		Error *contract.Error `json:"error"`
	}
	return json.Unmarshal(data, &body) == nil && body.Error != nil && body.Error.Code == contract.CodeAccountMoved
}
