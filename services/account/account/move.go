package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// An account's part in a move to another node (docs/adr/0036), as its row on each node says.
const (
	MoveNone     = ""         // served here
	MoveLeaving  = "leaving"  // takes no new work here; the legs in flight finish
	MoveGone     = "gone"     // lives on Move.Peer now: this node never writes it again
	MoveArriving = "arriving" // copied here from Move.Peer, not served until activated
)

var (
	// ErrMoving means the account is between two nodes for a moment: retry with the same id.
	ErrMoving = errors.New("account is moving to another node")
	// ErrMoved means the account lives on another node now.
	ErrMoved = errors.New("account has moved to another node")
	// ErrMoveConflict is a step of a move that does not fit the account's state: another move, or
	// a step this move has passed.
	ErrMoveConflict = errors.New("the account is not in this move's state")
)

// Move is the account's last move on this node: its state, the move's id (kept once it is done,
// so that a repeated step is recognised) and the other node.
type Move struct {
	State string
	ID    string
	Peer  string
}

// served refuses what this node may not do with the account because of a move: anything once it
// has gone or before it has arrived, and new work (a deposit, a withdrawal, a new leg, a limit or
// a close) while it is leaving. The legs already prepared may still be decided while it leaves.
func (a *Account) served(newWork bool) error {
	switch a.Move.State {
	case MoveGone:
		return fmt.Errorf("%w: %s is on node %s now", ErrMoved, a.ID, a.Move.Peer)
	case MoveArriving:
		return fmt.Errorf("%w: %s is arriving from node %s", ErrMoving, a.ID, a.Move.Peer)
	case MoveLeaving:
		if newWork {
			return fmt.Errorf("%w: %s is leaving for node %s", ErrMoving, a.ID, a.Move.Peer)
		}
	}
	return nil
}

func (a *Account) moveConflict(moveID, step string) error {
	return fmt.Errorf("%w: %s of move %s, but account %s is %q in move %s", ErrMoveConflict, step, moveID, a.ID, a.Move.State, a.Move.ID)
}

// Leave stops new work on the account, for move moveID to node to. Repeated, it changes nothing.
// A move given up here (Stay) cannot leave again under the same id.
func (a *Account) Leave(moveID, to string) error {
	switch {
	case a.Move.ID == moveID && (a.Move.State == MoveLeaving || a.Move.State == MoveGone):
		return nil
	case a.Move.State == MoveNone && a.Move.ID != moveID:
		a.Move = Move{State: MoveLeaving, ID: moveID, Peer: to}
		return nil
	}
	return a.moveConflict(moveID, "leave")
}

// Stay gives the account back its work after move moveID was given up. Too late once it has gone.
func (a *Account) Stay(moveID string) error {
	switch {
	case a.Move.ID != moveID:
		return a.moveConflict(moveID, "stay")
	case a.Move.State == MoveLeaving:
		a.Move = Move{State: MoveNone, ID: moveID}
		return nil
	case a.Move.State == MoveNone:
		return nil
	}
	return a.moveConflict(moveID, "stay")
}

// Depart lets go of the account once none of its legs is prepared (prepared counts them): from
// then on this node never writes it again. It tells whether the account has gone.
func (a *Account) Depart(moveID string, prepared int) (bool, error) {
	switch {
	case a.Move.ID == moveID && a.Move.State == MoveGone:
		return true, nil
	case a.Move.ID == moveID && a.Move.State == MoveLeaving:
		if prepared > 0 || a.OnHold != 0 || a.PendingIn != 0 {
			return false, nil
		}
		a.Move.State = MoveGone
		return true, nil
	}
	return false, a.moveConflict(moveID, "depart")
}

// Activate serves the account that arrived in move moveID. Repeated, it changes nothing.
func (a *Account) Activate(moveID string) error {
	switch {
	case a.Move.ID == moveID && a.Move.State == MoveArriving:
		a.Move.State = MoveNone
		return nil
	case a.Move.ID == moveID && a.Move.State == MoveNone:
		return nil
	}
	return a.moveConflict(moveID, "activate")
}

// Arrival says what an import of move moveID may do with the account as this node has it (nil:
// it never had it): write its rows, or nothing because the move already activated it here.
func Arrival(current *Account, moveID string, first bool) (write bool, err error) {
	switch {
	case current == nil:
		if !first {
			return false, fmt.Errorf("%w: the account's rows must arrive before its records", ErrMoveConflict)
		}
		return true, nil
	case current.Move.ID == moveID && current.Move.State == MoveArriving:
		return true, nil
	case current.Move.ID == moveID && current.Move.State == MoveNone:
		return false, nil // activated already: the copy is done, and the account is served here
	case first && current.Move.State == MoveGone:
		return true, nil // it left this node once and comes back
	}
	return false, current.moveConflict(moveID, "import")
}

// MoveStatus is an account's state in a move as one node sees it.
type MoveStatus struct {
	State    string
	Prepared int // legs of the account still prepared
	EventSeq int64
}

// Page is a page of an account's rows as the node stores them, opaque outside the store: the
// nodes of a bank run the same migrations.
type Page struct {
	Part string
	Rows []json.RawMessage
	Next string // the cursor of the next page; "" when the part is done
}

// Parts of an account that a move copies, in order.
const (
	PartAccount  = "account"
	PartRequests = "requests"
	PartHolds    = "holds"
)

// MoveStore is what a move needs of the store.
type MoveStore interface {
	// Moving locks account id, counts its prepared legs, calls fn and, if fn changed the
	// account's Move, saves it, in one transaction.
	Moving(ctx context.Context, id string, fn func(a *Account, prepared int) error) (Account, int, error)
	// Export reads up to limit rows of part of account id after the cursor after.
	Export(ctx context.Context, id, part, after string, limit int) (Page, error)
	// Import locks account id (nil if this node has no row for it), calls allow, and if it says
	// so writes rows of part, the account's own row marked as arriving in move (id, peer).
	Import(ctx context.Context, id string, move Move, part string, rows []json.RawMessage,
		allow func(current *Account) (bool, error)) (int, error)
}

// Leave stops new work on account id for move moveID to node to.
func (s *Service) Leave(ctx context.Context, id, moveID, to string) (MoveStatus, error) {
	return s.moving(ctx, id, func(a *Account, _ int) error { return a.Leave(moveID, to) })
}

// Stay gives account id its work back: move moveID was given up.
func (s *Service) Stay(ctx context.Context, id, moveID string) (MoveStatus, error) {
	return s.moving(ctx, id, func(a *Account, _ int) error { return a.Stay(moveID) })
}

// Depart lets go of account id once its legs in flight are decided; until then it answers
// leaving with the number of legs it waits for.
func (s *Service) Depart(ctx context.Context, id, moveID string) (MoveStatus, error) {
	return s.moving(ctx, id, func(a *Account, prepared int) error {
		_, err := a.Depart(moveID, prepared)
		return err
	})
}

// Activate serves account id, which arrived in move moveID.
func (s *Service) Activate(ctx context.Context, id, moveID string) (MoveStatus, error) {
	return s.moving(ctx, id, func(a *Account, _ int) error { return a.Activate(moveID) })
}

func (s *Service) moving(ctx context.Context, id string, fn func(*Account, int) error) (MoveStatus, error) {
	a, prepared, err := s.Moves.Moving(ctx, id, fn)
	if err != nil {
		return MoveStatus{}, err
	}
	return MoveStatus{State: a.Move.State, Prepared: prepared, EventSeq: a.EventSeq}, nil
}

// Export returns a page of part of account id, which has gone in move moveID: nothing of it
// changes any more on this node, so pages read one after another make one consistent copy.
func (s *Service) Export(ctx context.Context, id, moveID, part, after string, limit int) (Page, error) {
	a, err := s.Store.Get(ctx, id)
	if err != nil {
		return Page{}, err
	}
	if a.Move.ID != moveID || a.Move.State != MoveGone {
		return Page{}, a.moveConflict(moveID, "export")
	}
	switch part {
	case PartAccount, PartRequests, PartHolds:
	default:
		return Page{}, fmt.Errorf("%w: no part %q", ErrMoveConflict, part)
	}
	return s.Moves.Export(ctx, id, part, after, limit)
}

// Import writes a page of account id arriving from node from in move moveID; the account's own
// row comes first.
func (s *Service) Import(ctx context.Context, id, moveID, from, part string, rows []json.RawMessage) (int, error) {
	switch part {
	case PartAccount:
		if len(rows) != 1 {
			return 0, fmt.Errorf("%w: the account part is one row, not %d", ErrMoveConflict, len(rows))
		}
	case PartRequests, PartHolds:
	default:
		return 0, fmt.Errorf("%w: no part %q", ErrMoveConflict, part)
	}
	return s.Moves.Import(ctx, id, Move{State: MoveArriving, ID: moveID, Peer: from}, part, rows,
		func(current *Account) (bool, error) { return Arrival(current, moveID, part == PartAccount) })
}
