package natsapi

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/micro"

	"tsbank/contract"
	"tsbank/services/coordinator/move"
)

// moveAccount starts (or, repeated with the same id, resumes) a move and answers the move as it
// stands when it is done or when the request's time is up; the coordinator finishes it either way.
func (a *API) moveAccount(_ context.Context, _ micro.Request, r contract.MoveRequest) (any, *contract.Error) {
	if r.ID == "" {
		return nil, contract.Errorf(contract.CodeInvalidID, `id is missing: send a client-chosen id such as {"id":"mv-1",...} so that a retry is one move`)
	}
	for _, f := range [][2]string{{"id", r.ID}, {"account", r.Account}, {"to", r.To}} {
		if e := contract.CheckID(f[0], f[1]); e != nil {
			return nil, e
		}
	}
	// The move goes on after the reply: a context of its own, bounded so that a node that is
	// down leaves the move to recovery instead of to a goroutine that waits for ever.
	done := make(chan struct{})
	var m contract.Move
	var err error
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), a.Mover.Drain+a.Timeout)
		defer cancel()
		m, err = a.Mover.Start(ctx, r.ID, r.Account, r.To)
	}()
	select {
	case <-done:
	case <-time.After(a.Timeout):
		ctx, cancel := context.WithTimeout(context.Background(), a.Timeout)
		defer cancel()
		if logged, lerr := a.Mover.Store.Get(ctx, r.ID); lerr == nil {
			return logged, nil
		}
		return nil, contract.Errorf(contract.CodeTimeout, "move %s is not logged yet: ask again with the same id", r.ID)
	}
	if err != nil && m.ID == "" {
		return nil, a.moveError(err)
	}
	if err != nil {
		a.Log.Warn("move paused", "move", m.ID, "state", m.State, "err", err)
	}
	return m, nil
}

func (a *API) moveStatus(ctx context.Context, _ micro.Request, r contract.MoveStatusRequest) (any, *contract.Error) {
	if e := contract.CheckID("id", r.ID); e != nil {
		return nil, e
	}
	m, err := a.Mover.Store.Get(ctx, r.ID)
	if err != nil {
		return nil, a.moveError(err)
	}
	return m, nil
}

func (a *API) moveError(err error) *contract.Error {
	switch {
	case errors.Is(err, move.ErrUnknown):
		return contract.Errorf(contract.CodeUnknownMove, "no move with that id")
	case errors.Is(err, move.ErrNoAccount):
		return contract.Errorf(contract.CodeAccountNotFound, "%s", err)
	case errors.Is(err, move.ErrNoNode):
		return contract.Errorf(contract.CodeNodeNotFound, "%s: name a node of bank.nodes.list", err)
	case errors.Is(err, move.ErrNodeDown):
		return contract.Errorf(contract.CodeNodeUnavailable, "%s: a move needs both nodes running; nothing was logged", err)
	case errors.Is(err, move.ErrSameNode):
		return contract.Errorf(contract.CodeBadRequest, "%s", err)
	case errors.Is(err, move.ErrConflict):
		return contract.Errorf(contract.CodeConflict, "%s: use a new id for a new move", err)
	case errors.Is(err, move.ErrBusy):
		return contract.Errorf(contract.CodeMoveConflict, "%s: wait for it to finish (bank.accounts.move.status)", err)
	case contract.CodeOf(err) != "":
		var e *contract.Error
		if errors.As(err, &e) {
			return e
		}
	}
	a.Log.Error("move", "err", err)
	return contract.Errorf(contract.CodeInternal, "the move could not be logged: retry with the same id")
}
