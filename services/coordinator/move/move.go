// Package move moves an account from one account node to another while the bank runs
// (docs/adr/0036). The coordinator drives each move through a log of states, each step
// idempotent, so that any coordinator can resume a move after a crash of either node or of the
// coordinator that began it:
//
//	leaving    the old node takes no new work on the account; the legs in flight are decided
//	copying    the old node has let go of it for good; its rows are copied to the new node
//	switching  the placement (contract.MovesBucket) is switched to the new node
//	arriving   the new node is told to serve it
//	done
//
// A move can be given up (aborted) only while leaving: once the old node has let go, the account
// can only go forward.
package move

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"tsbank/contract"
)

// Errors of the mover; natsapi maps each to a code.
var (
	ErrUnknown   = errors.New("no such move")
	ErrConflict  = errors.New("move id reused for another move")
	ErrBusy      = errors.New("the account is in another move")
	ErrNoAccount = errors.New("account not found")
	ErrSameNode  = errors.New("the account is on that node already")
	ErrNoNode    = errors.New("no such account node")
	ErrNodeDown  = errors.New("the account node is not running")
)

// Store is the coordinator's log of moves.
type Store interface {
	// Create logs m as leaving, unless a move with its id is logged (which it returns, with
	// ErrConflict if it moves another account or to another node); ErrBusy if another move of
	// the account is unfinished.
	Create(ctx context.Context, m contract.Move) (contract.Move, bool, error)
	// Save records m's state, unless the log has it in a later state already (another
	// coordinator resumed it); it returns the move as logged.
	Save(ctx context.Context, m contract.Move) (contract.Move, error)
	Get(ctx context.Context, id string) (contract.Move, error)
	// Unfinished lists moves neither done nor aborted, last changed before before.
	Unfinished(ctx context.Context, before time.Time) ([]contract.Move, error)
}

// Nodes sends a step of a move to a node, signed.
type Nodes interface {
	Step(ctx context.Context, node string, r contract.NodeMoveRequest) (contract.NodeMoveReply, error)
	// Known and Live tell whether a node of that name has ever run, and whether it runs now.
	Known(ctx context.Context, node string) (bool, error)
	Live(ctx context.Context, node string) (bool, error)
}

// Placements is where accounts live: the registry and the moves bucket.
type Placements interface {
	// Owner is the node account lives on now; ErrNoAccount if no node has it.
	Owner(ctx context.Context, account string) (string, error)
	// Switch records rec as account's latest move, unless it already is.
	Switch(ctx context.Context, account string, rec contract.MoveRecord) error
}

// Mover runs moves.
type Mover struct {
	Store      Store
	Nodes      Nodes
	Placements Placements
	Log        *slog.Logger
	Now        func() time.Time
	// Drain is how long the old node may take to see its legs in flight decided; a move still
	// leaving after it is given up, and the account stays where it was.
	Drain time.Duration
	// Poll is the pause between two looks at the legs in flight.
	Poll time.Duration
	// StepTimeout bounds one step sent to a node.
	StepTimeout time.Duration
}

// Start checks and logs a move of account to node to, then runs it as far as ctx allows; the
// reply is the move as it then stands (Recover finishes what ctx did not).
func (m *Mover) Start(ctx context.Context, id, account, to string) (contract.Move, error) {
	from, err := m.Placements.Owner(ctx, account)
	if err != nil {
		return contract.Move{}, err
	}
	if logged, err := m.Store.Get(ctx, id); err == nil {
		if logged.Account != account || logged.To != to {
			return logged, ErrConflict
		}
		return m.Run(ctx, logged)
	} else if !errors.Is(err, ErrUnknown) {
		return contract.Move{}, err
	}
	if from == to {
		return contract.Move{}, fmt.Errorf("%w: %s is on %s", ErrSameNode, account, to)
	}
	if known, err := m.Nodes.Known(ctx, to); err != nil {
		return contract.Move{}, err
	} else if !known {
		return contract.Move{}, fmt.Errorf("%w: %s", ErrNoNode, to)
	}
	for _, n := range []string{from, to} {
		if live, err := m.Nodes.Live(ctx, n); err != nil {
			return contract.Move{}, err
		} else if !live {
			return contract.Move{}, fmt.Errorf("%w: %s", ErrNodeDown, n)
		}
	}
	now := m.Now().UTC()
	mv, _, err := m.Store.Create(ctx, contract.Move{ID: id, Account: account, From: from, To: to,
		State: contract.MoveLeaving, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return mv, err
	}
	return m.Run(ctx, mv)
}

// Run takes mv from the state it is in to done (or aborted) as far as ctx allows. A step that
// fails (a node down, a timeout) leaves the move where it was, for a later Run.
func (m *Mover) Run(ctx context.Context, mv contract.Move) (contract.Move, error) {
	for {
		var err error
		switch mv.State {
		case contract.MoveDone, contract.MoveAborted:
			return mv, nil
		case contract.MoveLeaving:
			err = m.leave(ctx, &mv)
		case contract.MoveCopying:
			err = m.copy(ctx, &mv)
		case contract.MoveSwitching:
			err = m.Placements.Switch(ctx, mv.Account, contract.MoveRecord{
				ID: mv.ID, From: mv.From, To: mv.To, AfterSeq: mv.AfterSeq, At: m.Now().UTC()})
			mv.State = contract.MoveArriving
		case contract.MoveArriving:
			_, err = m.step(ctx, mv.To, mv, contract.MoveOpActivate, mv.From)
			mv.State = contract.MoveDone
		default:
			return mv, fmt.Errorf("move %s: unknown state %q", mv.ID, mv.State)
		}
		if err != nil {
			return m.current(ctx, mv), err
		}
		mv.UpdatedAt = m.Now().UTC()
		if mv, err = m.Store.Save(ctx, mv); err != nil {
			return mv, err
		}
		m.Log.Info("move", "move", mv.ID, "account", mv.Account, "from", mv.From, "to", mv.To, "state", mv.State)
	}
}

// current is the move as logged, for a reply after a failed step; mv itself if the log is away.
func (m *Mover) current(ctx context.Context, mv contract.Move) contract.Move {
	if logged, err := m.Store.Get(ctx, mv.ID); err == nil {
		return logged
	}
	return mv
}

// leave stops new work on the old node and waits for its legs in flight; past Drain it gives the
// move up. It ends with mv copying (the old node let go, AfterSeq its last event number) or
// aborted.
func (m *Mover) leave(ctx context.Context, mv *contract.Move) error {
	r, err := m.step(ctx, mv.From, *mv, contract.MoveOpLeave, mv.To)
	if contract.CodeOf(err) == contract.CodeMoveConflict {
		// The old node does not have the account in this move, and never let it go in it.
		mv.State, mv.Reason, mv.Message = contract.MoveAborted, contract.CodeMoveConflict, err.Error()
		return nil
	}
	for err == nil && r.State != "gone" {
		if r, err = m.step(ctx, mv.From, *mv, contract.MoveOpDepart, mv.To); err != nil || r.State == "gone" {
			break
		}
		if m.Now().Sub(mv.CreatedAt) > m.Drain {
			if _, err := m.step(ctx, mv.From, *mv, contract.MoveOpStay, mv.To); err != nil {
				return err // it may have let go meanwhile: the next Run finds out
			}
			mv.State, mv.Reason = contract.MoveAborted, "legs_in_flight"
			mv.Message = fmt.Sprintf("%d legs of %s stayed prepared for %s", r.Prepared, mv.Account, m.Drain)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(m.Poll):
		}
	}
	if err != nil {
		return err
	}
	mv.State, mv.AfterSeq = contract.MoveCopying, r.EventSeq
	return nil
}

// copy copies each part of the account, page after page, from the old node to the new one.
// Imports are idempotent, so a copy cut short starts again from its beginning.
func (m *Mover) copy(ctx context.Context, mv *contract.Move) error {
	copied := 0
	for _, part := range []string{contract.MovePartAccount, contract.MovePartRequests, contract.MovePartHolds} {
		after := ""
		for {
			ex := m.request(*mv, contract.MoveOpExport, mv.To)
			ex.Part, ex.After = part, after
			r, err := m.call(ctx, mv.From, ex)
			if err != nil {
				return err
			}
			if r.Page == nil {
				return fmt.Errorf("move %s: node %s answered an export without a page", mv.ID, mv.From)
			}
			im := m.request(*mv, contract.MoveOpImport, mv.From)
			im.Part, im.Page = part, r.Page
			if _, err := m.call(ctx, mv.To, im); err != nil {
				return err
			}
			copied += len(r.Page.Rows)
			if r.Page.Next == "" {
				break
			}
			after = r.Page.Next
		}
	}
	mv.State, mv.Copied = contract.MoveSwitching, copied
	return nil
}

func (m *Mover) request(mv contract.Move, op, peer string) contract.NodeMoveRequest {
	return contract.NodeMoveRequest{Op: op, MoveID: mv.ID, Account: mv.Account, Peer: peer}
}

func (m *Mover) step(ctx context.Context, node string, mv contract.Move, op, peer string) (contract.NodeMoveReply, error) {
	return m.call(ctx, node, m.request(mv, op, peer))
}

func (m *Mover) call(ctx context.Context, node string, r contract.NodeMoveRequest) (contract.NodeMoveReply, error) {
	ctx, cancel := context.WithTimeout(ctx, m.StepTimeout)
	defer cancel()
	return m.Nodes.Step(ctx, node, r)
}

// Recover resumes the moves that no coordinator has advanced for idle; it returns how many it
// finished.
func (m *Mover) Recover(ctx context.Context, idle time.Duration) (int, error) {
	moves, err := m.Store.Unfinished(ctx, m.Now().Add(-idle))
	if err != nil {
		return 0, err
	}
	finished := 0
	for _, mv := range moves {
		mv, err := m.Run(ctx, mv)
		if err != nil {
			m.Log.Warn("resume move", "move", mv.ID, "account", mv.Account, "state", mv.State, "err", err)
			continue
		}
		finished++
	}
	return finished, nil
}
