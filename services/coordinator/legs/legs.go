// Package legs sends the coordinator's prepare, commit and abort to the account nodes that own a
// transfer's accounts, straight to each owner's node, in batches signed with the coordinator's key.
package legs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"tsbank/contract"
	"tsbank/contract/client"
	"tsbank/contract/money"
	"tsbank/contract/natstrace"
	"tsbank/services/coordinator/transfer"
)

// Legs implements transfer.Participants over NATS.
type Legs struct {
	c   *client.Client
	key nkeys.KeyPair // signs every message: a node acts only on what the coordinator signed
	// owners caches account -> node, until the node answers that the account has moved.
	owners sync.Map
	// currencies caches account -> money.Currency, learned from a yes vote or asked of the node
	// once: an account's currency never changes either.
	currencies sync.Map
	// inFlight is how many batches each node may have unanswered (see nodeBatches).
	inFlight int

	mu       sync.Mutex
	batchers map[string]*nodeBatches
}

// New returns a Legs that sends on nc, signs with key, and keeps up to inFlight batches
// unanswered per node.
func New(nc *nats.Conn, key nkeys.KeyPair, inFlight int) *Legs {
	return &Legs{c: client.New(nc), key: key, inFlight: max(inFlight, 1), batchers: map[string]*nodeBatches{}}
}

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
	if leg == contract.LegCredit {
		counterparty = t.From
	}
	r, err := l.step(ctx, contract.LegStep{Op: contract.OpPrepare, Account: account, TransferID: t.ID, Leg: leg,
		Amount: t.Amount, Counterparty: counterparty, Description: t.Description, RefundOf: t.RefundOf, Exchange: wireExchange(t.Exchange)})
	if err == nil && r.Error != nil {
		err = r.Error
	}
	if err == nil && r.Vote == nil {
		err = fmt.Errorf("node of account %s answered a prepare without a vote", account)
	}
	switch {
	case errors.Is(err, errNoAccount):
		return transfer.Vote{Reason: contract.CodeAccountNotFound, Message: fmt.Sprintf("account %s does not exist", account)}
	case err != nil:
		return noAnswer(account, err)
	case !r.Vote.Yes:
		return transfer.Vote{Reason: r.Vote.Reason, Message: r.Vote.Message}
	}
	if c, err := money.LookupCurrency(r.Vote.Currency); err == nil {
		l.currencies.Store(account, c)
	}
	return transfer.Vote{Yes: true, Currency: r.Vote.Currency, AmountMinor: r.Vote.AmountMinor}
}

// wireExchange is what a prepare carries of a cross-currency transfer's exchange; nil for none.
func wireExchange(x *transfer.Exchange) *contract.Exchange {
	if x == nil {
		return nil
	}
	return &contract.Exchange{Quote: x.Quote, Rate: x.Rate, FromAmount: x.FromAmount, FromCurrency: x.FromCurrency,
		ToAmount: x.ToAmount, ToCurrency: x.ToCurrency}
}

// Currency returns the currency of account: known from an earlier vote, or asked of its node (a
// get, routed to the owner). An account the registry does not have, or its node does not know,
// is transfer.ErrAccountNotFound.
func (l *Legs) Currency(ctx context.Context, account string) (money.Currency, error) {
	if c, ok := l.currencies.Load(account); ok {
		return c.(money.Currency), nil
	}
	if _, err := l.owner(ctx, account); errors.Is(err, errNoAccount) {
		return money.Currency{}, transfer.ErrAccountNotFound
	} else if err != nil {
		return money.Currency{}, err
	}
	acc, err := l.c.Get(ctx, account)
	if contract.CodeOf(err) == contract.CodeAccountNotFound {
		return money.Currency{}, transfer.ErrAccountNotFound
	}
	if err != nil {
		return money.Currency{}, fmt.Errorf("currency of %s: %w", account, err)
	}
	c, err := money.LookupCurrency(acc.Currency)
	if err != nil {
		return money.Currency{}, fmt.Errorf("currency of %s: %w", account, err)
	}
	l.currencies.Store(account, c)
	return c, nil
}

func noAnswer(account string, err error) transfer.Vote {
	switch code := contract.CodeOf(err); {
	case code == contract.CodeNodeUnavailable:
		return transfer.Vote{Reason: contract.CodeNodeUnavailable, Message: fmt.Sprintf("the node of account %s is not running", account)}
	case code != "":
		return transfer.Vote{Reason: code, Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return transfer.Vote{Reason: contract.CodeTimeout, Message: fmt.Sprintf("the node of account %s did not vote in time", account)}
	}
	return transfer.Vote{Reason: contract.CodeNodeUnavailable, Message: fmt.Sprintf("account %s: %v", account, err)}
}

// Send delivers commit or abort for leg. An account that does not exist holds nothing, so there is
// nothing to deliver.
func (l *Legs) Send(ctx context.Context, account string, t transfer.Transfer, leg string, commit bool) error {
	op := contract.OpAbort
	if commit {
		op = contract.OpCommit
	}
	r, err := l.step(ctx, contract.LegStep{Op: op, Account: account, TransferID: t.ID, Leg: leg})
	switch {
	case errors.Is(err, errNoAccount):
		return nil
	case err != nil:
		return err
	case r.Error != nil:
		return r.Error
	case r.State == nil:
		return fmt.Errorf("node of account %s answered a %s without the leg's state", account, op)
	}
	return nil
}

// movingPause is the wait before a step is sent again to an account that is moving to another
// node: a move takes milliseconds once its legs in flight are decided.
const movingPause = 20 * time.Millisecond

// step sends st in the next batch to the node of its account. An account that is moving is
// asked again until ctx ends; one that has moved is asked of its new node (docs/adr/0036).
//
// The step has a span of its own, from the first send to the last answer, whose context the
// step carries to the node (contract.LegStep.Trace): the node's span for the step is its child,
// in the transfer's trace, whatever batch the step travels in (docs/adr/0039).
func (l *Legs) step(ctx context.Context, st contract.LegStep) (r contract.LegResult, err error) {
	ctx, span := natstrace.Start(ctx, st.Op, trace.WithAttributes(natstrace.TransferID.String(st.TransferID),
		attribute.String("tsbank.leg", st.Leg), attribute.String("tsbank.account", st.Account)))
	defer func() {
		if err == nil && r.Error != nil {
			err = r.Error
		}
		natstrace.End(span, err)
	}()
	st.Trace = natstrace.InjectMap(ctx)
	for {
		r, err := l.stepOnce(ctx, st)
		var code contract.Code
		if r.Error != nil {
			code = r.Error.Code
		}
		switch {
		case err != nil:
			return r, err
		case code == contract.CodeAccountMoved:
			l.owners.Delete(st.Account)
		case code != contract.CodeAccountMoving:
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, nil // the last answer: moving
		case <-time.After(movingPause):
		}
	}
}

func (l *Legs) stepOnce(ctx context.Context, st contract.LegStep) (contract.LegResult, error) {
	node, err := l.owner(ctx, st.Account)
	if err != nil {
		return contract.LegResult{}, err
	}
	l.mu.Lock()
	b := l.batchers[node]
	if b == nil {
		b = newNodeBatches(l, node, l.inFlight)
		l.batchers[node] = b
	}
	l.mu.Unlock()
	return b.do(ctx, st)
}
