// Package legs sends the coordinator's prepare, commit and abort to the account nodes that own a
// transfer's accounts, straight to each owner's node subject, each signed with the coordinator's key.
package legs

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/decisionsig"
	"tsbank/services/coordinator/transfer"
)

// Legs implements transfer.Participants over NATS.
type Legs struct {
	c   *client.Client
	key nkeys.KeyPair // signs every message: a node acts only on what the coordinator signed
	// owners caches account -> node. An account never changes owner, so a found owner is kept.
	owners sync.Map
}

// New returns a Legs that sends on nc and signs with key.
func New(nc *nats.Conn, key nkeys.KeyPair) *Legs { return &Legs{c: client.New(nc), key: key} }

// errNoAccount means the registry has no such account: nothing can be held on it.
var errNoAccount = errors.New("account not found")

func (l *Legs) owner(ctx context.Context, account string) (string, error) {
	if node, ok := l.owners.Load(account); ok {
		return node.(string), nil
	}
	w, err := l.c.Whereis(ctx, account)
	if contract.CodeOf(err) == contract.CodeAccountNotFound {
		return "", errNoAccount
	}
	if err != nil {
		return "", err
	}
	l.owners.Store(account, w.Node)
	return w.Node, nil
}

// Prepare asks the owner of account to hold leg and returns its vote; a missing account, a node
// that does not answer and a timeout are no votes with their reasons.
func (l *Legs) Prepare(ctx context.Context, account string, t transfer.Transfer, leg string) transfer.Vote {
	counterparty := t.To
	if leg == transfer.Credit {
		counterparty = t.From
	}
	req := contract.PrepareRequest{TransferID: t.ID, Leg: leg, Amount: t.Amount, Counterparty: counterparty, Description: t.Description}
	var v contract.Vote
	sig, err := decisionsig.Sign(l.key, decisionsig.Prepare(account, req))
	if err == nil {
		req.Sig = sig
		err = l.call(ctx, account, contract.OpPrepare, req, &v)
	}
	switch {
	case errors.Is(err, errNoAccount):
		return transfer.Vote{Reason: contract.CodeAccountNotFound, Message: fmt.Sprintf("account %s does not exist", account)}
	case err != nil:
		return noAnswer(account, err)
	case !v.Yes:
		return transfer.Vote{Reason: v.Reason, Message: v.Message}
	}
	return transfer.Vote{Yes: true, Currency: v.Currency, AmountMinor: v.AmountMinor}
}

func noAnswer(account string, err error) transfer.Vote {
	switch code := contract.CodeOf(err); {
	case code == contract.CodeNodeUnavailable:
		return transfer.Vote{Reason: transfer.ReasonNodeUnavailable, Message: fmt.Sprintf("the node of account %s is not running", account)}
	case code != "":
		return transfer.Vote{Reason: code, Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return transfer.Vote{Reason: transfer.ReasonTimeout, Message: fmt.Sprintf("the node of account %s did not vote in time", account)}
	}
	return transfer.Vote{Reason: transfer.ReasonNodeUnavailable, Message: fmt.Sprintf("account %s: %v", account, err)}
}

// Send delivers commit or abort for leg. An account that does not exist holds nothing, so there is
// nothing to deliver.
func (l *Legs) Send(ctx context.Context, account string, t transfer.Transfer, leg string, commit bool) error {
	op := contract.OpAbort
	if commit {
		op = contract.OpCommit
	}
	req := contract.LegRequest{TransferID: t.ID, Leg: leg}
	sig, err := decisionsig.Sign(l.key, decisionsig.Leg(op, account, req))
	if err != nil {
		return err
	}
	req.Sig = sig
	var st contract.LegState
	err = l.call(ctx, account, op, req, &st)
	if errors.Is(err, errNoAccount) {
		return nil
	}
	return err
}

func (l *Legs) call(ctx context.Context, account, op string, req, reply any) error {
	node, err := l.owner(ctx, account)
	if err != nil {
		return err
	}
	return l.c.Call(ctx, contract.NodeAccountSubject(node, account, op), req, reply)
}
