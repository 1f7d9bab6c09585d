package natsapi

import (
	"context"
	"errors"
	"fmt"

	"tsbank/contract"
	"tsbank/contract/money"
	"tsbank/services/account/account"
)

// serve decodes and runs op on account id, which this node owns.
func (a *API) serve(ctx context.Context, op, id string, data []byte) (any, *contract.Error) {
	switch op {
	case contract.OpOpen:
		return a.open(ctx, id, data)
	case contract.OpDeposit, contract.OpWithdraw:
		return a.move(ctx, op, id, data)
	case contract.OpLimit:
		return a.limit(ctx, id, data)
	case contract.OpClose:
		var r contract.CloseRequest
		if e := decodeWithID(data, &r, &r.ID); e != nil {
			return nil, e
		}
		res, err := a.Service.Close(ctx, id, r.ID)
		if err != nil {
			return nil, a.toWire(id, err)
		}
		return wireAccount(res.Account), nil
	case contract.OpPrepare:
		return a.prepare(ctx, id, data)
	case contract.OpCommit, contract.OpAbort:
		return a.decide(ctx, op, id, data)
	case contract.OpGet, contract.OpBalance:
		if e := contract.Decode(data, &struct{}{}); e != nil {
			return nil, e
		}
		acc, err := a.Service.Get(ctx, id)
		if err != nil {
			return nil, a.toWire(id, err)
		}
		if op == contract.OpGet {
			return wireAccount(acc), nil
		}
		return contract.Balance{
			Account: acc.ID, Currency: acc.Currency.Code, Balance: money.Format(acc.Balance, acc.Currency),
			OnHold: money.Format(acc.OnHold, acc.Currency), Available: money.Format(acc.Available(), acc.Currency),
			EventSeq: acc.EventSeq,
		}, nil
	}
	return nil, contract.Errorf(contract.CodeBadRequest, "unknown operation %q", op)
}

func (a *API) open(ctx context.Context, id string, data []byte) (any, *contract.Error) {
	r, e := decodeOpen(id, data)
	if e != nil {
		return nil, e
	}
	if e := checkRequestID(r.ID); e != nil {
		return nil, e
	}
	if r.Currency == "" {
		return nil, contract.Errorf(contract.CodeInvalidCurrency, `currency is missing: send an ISO 4217 code such as "EUR"`)
	}
	c, err := money.LookupCurrency(r.Currency)
	if err != nil {
		return nil, contract.Errorf(contract.CodeInvalidCurrency, "%s", err)
	}
	res, err := a.Service.Open(ctx, id, r.ID, c)
	if err != nil {
		return nil, a.toWire(id, err)
	}
	return wireAccount(res.Account), nil
}

// openRequest is an open as clients sent it when open took an overdraft limit, so that such a
// request is refused with the way to get a limit instead of as an unknown field.
type openRequest struct {
	contract.OpenRequest
	OverdraftLimit *string `json:"overdraft_limit"`
}

// decodeOpen decodes an open of account id ("" when the id is not known yet) and refuses one that
// asks for an overdraft: a limit is the bank's decision, not the customer's.
func decodeOpen(id string, data []byte) (contract.OpenRequest, *contract.Error) {
	var r openRequest
	if e := contract.Decode(data, &r); e != nil {
		return contract.OpenRequest{}, e
	}
	if r.OverdraftLimit != nil {
		if id == "" {
			id = "<account>"
		}
		return contract.OpenRequest{}, contract.Errorf(contract.CodeBadRequest,
			`overdraft_limit is not accepted: an account opens with no overdraft, and the bank sets a limit with the operator request bank.account.%s.limit {"id":"<request id>","overdraft_limit":"50.00"}`, id)
	}
	return r.OpenRequest, nil
}

// limit sets the overdraft limit of account id.
func (a *API) limit(ctx context.Context, id string, data []byte) (any, *contract.Error) {
	var r contract.LimitRequest
	if e := decodeWithID(data, &r, &r.ID); e != nil {
		return nil, e
	}
	if r.OverdraftLimit == "" {
		return nil, contract.Errorf(contract.CodeInvalidAmount, `overdraft_limit is missing: send a decimal string such as "50.00", or "0.00" for no overdraft`)
	}
	res, err := a.Service.SetLimit(ctx, id, r.ID, r.OverdraftLimit)
	if err != nil {
		return nil, a.toWire(id, err)
	}
	return wireAccount(res.Account), nil
}

func (a *API) move(ctx context.Context, op, id string, data []byte) (any, *contract.Error) {
	var r contract.MoneyRequest
	if e := decodeWithID(data, &r, &r.ID); e != nil {
		return nil, e
	}
	if r.Amount == "" {
		return nil, contract.Errorf(contract.CodeInvalidAmount, `amount is missing: send a decimal string such as "12.50"`)
	}
	if e := contract.CheckDescription(r.Description); e != nil {
		return nil, e
	}
	do := a.Service.Deposit
	if op == contract.OpWithdraw {
		do = a.Service.Withdraw
	}
	res, err := do(ctx, id, r.ID, r.Amount, r.Description)
	if err != nil {
		return nil, a.toWire(id, err)
	}
	ev, acc := res.Event, res.Account
	return contract.Receipt{
		RequestID: ev.RequestID, EventID: ev.ID, Account: id, Type: ev.Type,
		Amount: money.Format(ev.Amount, acc.Currency), Currency: acc.Currency.Code,
		BalanceAfter: money.Format(ev.BalanceAfter, acc.Currency),
		Available:    money.Format(acc.Available(), acc.Currency), At: ev.Time,
	}, nil
}

// decodeWithID decodes a state-changing request and checks its idempotency id.
func decodeWithID(data []byte, v any, id *string) *contract.Error {
	if e := contract.Decode(data, v); e != nil {
		return e
	}
	return checkRequestID(*id)
}

// checkRequestID checks the idempotency id of a state-changing request.
func checkRequestID(id string) *contract.Error {
	if id == "" {
		return contract.Errorf(contract.CodeInvalidID, `id is missing: every request that changes state needs a client-chosen id, such as {"id":"d-1",...}, so that a retry is applied once`)
	}
	return contract.CheckID("id", id)
}

func wireAccount(acc account.Account) contract.Account {
	f := func(n int64) string { return money.Format(n, acc.Currency) }
	return contract.Account{
		ID: acc.ID, Node: acc.Node, Currency: acc.Currency.Code, Status: acc.Status,
		Balance: f(acc.Balance), OnHold: f(acc.OnHold), Available: f(acc.Available()),
		OverdraftLimit: f(acc.OverdraftLimit), OpenedAt: acc.OpenedAt, ClosedAt: acc.ClosedAt,
	}
}

func notFound(id string) *contract.Error {
	return contract.Errorf(contract.CodeAccountNotFound, "account %s does not exist: open it first with bank.account.%s.open", id, id)
}

// toWire maps an error of the account service to a contract error; anything unexpected is
// logged here, once, and answered as internal.
func (a *API) toWire(id string, err error) *contract.Error {
	var pe *money.ParseError
	switch {
	case errors.Is(err, account.ErrNotFound):
		return notFound(id)
	case errors.As(err, &pe):
		return contract.Errorf(contract.CodeInvalidAmount, "%s", pe)
	case errors.Is(err, account.ErrTooLarge):
		return contract.Errorf(contract.CodeInvalidAmount, "%s: send a smaller amount", err)
	case errors.Is(err, account.ErrExists):
		return contract.Errorf(contract.CodeAccountExists, "%s: choose another account id", err)
	case errors.Is(err, account.ErrClosed):
		return contract.Errorf(contract.CodeAccountClosed, "%s", err)
	case errors.Is(err, account.ErrNotEmpty):
		return contract.Errorf(contract.CodeAccountNotEmpty, "%s: withdraw or transfer the balance first", err)
	case errors.Is(err, account.ErrInsufficientFunds):
		return contract.Errorf(contract.CodeInsufficient, "%s", err)
	case errors.Is(err, account.ErrConflict):
		return contract.Errorf(contract.CodeConflict, "%s: use a new id for a new request", err)
	case errors.Is(err, account.ErrUnknownTransfer):
		return contract.Errorf(contract.CodeUnknownTransfer, "%s", err)
	case errors.Is(err, account.ErrDecisionConflict):
		return contract.Errorf(contract.CodeConflict, "%s", err)
	case errors.Is(err, account.ErrMoving):
		return contract.Errorf(contract.CodeAccountMoving, "%s: retry in a moment with the same request id", err)
	case errors.Is(err, account.ErrMoved):
		a.Registry.Forget(id) // whoever asked this node about it next asks the registry
		return contract.Errorf(contract.CodeAccountMoved, "%s: retry with the same request id", err)
	case errors.Is(err, account.ErrMoveConflict):
		return contract.Errorf(contract.CodeMoveConflict, "%s", err)
	case errors.Is(err, account.ErrFenced):
		return contract.Errorf(contract.CodeNodeUnavailable, "node %s is changing hands (this process lost its lease): retry with the same request id", a.Node)
	case errors.Is(err, context.DeadlineExceeded):
		return contract.Errorf(contract.CodeTimeout, "account %s: no answer in %s: retry with the same request id", id, a.Timeout)
	}
	return a.internal(fmt.Sprintf("account %s", id), err)
}

func (a *API) internal(what string, err error) *contract.Error {
	a.Log.Error("internal error", "what", what, "err", err)
	return contract.Errorf(contract.CodeInternal, "%s failed on node %s: retry with the same request id", what, a.Node)
}
