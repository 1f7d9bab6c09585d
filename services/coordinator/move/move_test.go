package move_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/services/coordinator/move"
	"tsbank/services/coordinator/transfer/memstore"
)

// memNodes plays two nodes: the account's state on each, its legs in flight on the old one, and
// a node that may be down.
type memNodes struct {
	mu       sync.Mutex
	state    map[string]string // node -> the account's move state there ("-": no row)
	prepared int
	down     map[string]bool
	conflict bool // the old node has the account in no move of this id, or not at all
	rows     int  // rows the old node exports
	imported int
	steps    []string
}

var errDown = contract.Errorf(contract.CodeNodeUnavailable, "down")

func (n *memNodes) Step(_ context.Context, node string, r contract.NodeMoveRequest) (contract.NodeMoveReply, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.steps = append(n.steps, node+" "+r.Op)
	if n.down[node] {
		return contract.NodeMoveReply{}, errDown
	}
	st := n.state[node]
	reply := func(s string) (contract.NodeMoveReply, error) {
		n.state[node] = s
		return contract.NodeMoveReply{State: s, Prepared: n.prepared, EventSeq: 7}, nil
	}
	switch r.Op {
	case contract.MoveOpLeave:
		if n.conflict {
			return contract.NodeMoveReply{}, contract.Errorf(contract.CodeMoveConflict, "%s is not leaving in move %s", r.Account, r.MoveID)
		}
		if st == "gone" {
			return reply("gone")
		}
		return reply("leaving")
	case contract.MoveOpDepart:
		if n.prepared > 0 {
			return reply("leaving")
		}
		return reply("gone")
	case contract.MoveOpStay:
		return reply("")
	case contract.MoveOpExport:
		page := &contract.MovePage{Part: r.Part}
		if r.Part == contract.MovePartAccount {
			page.Rows = make([]json.RawMessage, 1)
		} else if r.After == "" {
			page.Rows = make([]json.RawMessage, n.rows)
		}
		return contract.NodeMoveReply{State: "gone", Page: page}, nil
	case contract.MoveOpImport:
		n.imported += len(r.Page.Rows)
		return reply("arriving")
	case contract.MoveOpActivate:
		return reply("")
	}
	return contract.NodeMoveReply{}, errors.New("unknown step")
}

func (n *memNodes) Known(_ context.Context, node string) (bool, error) {
	return node == "account-1" || node == "account-2", nil
}

func (n *memNodes) Live(_ context.Context, node string) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.down[node], nil
}

type memPlacements struct {
	mu    sync.Mutex
	owner map[string]string
	moves []contract.MoveRecord
}

func (p *memPlacements) Owner(_ context.Context, account string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.owner[account]
	if !ok {
		return "", move.ErrNoAccount
	}
	return o, nil
}

func (p *memPlacements) Switch(_ context.Context, account string, rec contract.MoveRecord) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.moves); n > 0 && p.moves[n-1].ID == rec.ID {
		return nil
	}
	p.owner[account], p.moves = rec.To, append(p.moves, rec)
	return nil
}

// clock is a fake clock that moves on by Poll at every look at the legs in flight.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(10 * time.Millisecond)
	return c.now
}

func newMover() (*move.Mover, move.Store, *memNodes, *memPlacements) {
	// The log of moves that the store contract test holds to pgstore's behaviour.
	st := memstore.New(time.Now, 0).Moves()
	nodes := &memNodes{state: map[string]string{"account-1": "", "account-2": "-"}, down: map[string]bool{}, rows: 3}
	pl := &memPlacements{owner: map[string]string{"alice": "account-1"}}
	c := &clock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	m := &move.Mover{Store: st, Nodes: nodes, Placements: pl, Log: slog.New(slog.DiscardHandler), Now: c.Now,
		Drain: time.Second, Poll: time.Microsecond, StepTimeout: time.Second}
	return m, st, nodes, pl
}

func TestAMoveGoesThroughEveryStateToDone(t *testing.T) {
	m, _, nodes, pl := newMover()
	mv, err := m.Start(context.Background(), "mv-1", "alice", "account-2")
	if err != nil || mv.State != contract.MoveDone {
		t.Fatalf("move: %+v, %v", mv, err)
	}
	if mv.AfterSeq != 7 || mv.Copied != 7 || nodes.imported != 7 { // the account, 3 records, 3 legs
		t.Fatalf("copied %d rows (imported %d) after event %d; want 7 after 7", mv.Copied, nodes.imported, mv.AfterSeq)
	}
	if pl.owner["alice"] != "account-2" || len(pl.moves) != 1 || pl.moves[0].AfterSeq != 7 {
		t.Fatalf("placement: %v %+v", pl.owner, pl.moves)
	}
	if nodes.state["account-1"] != "gone" || nodes.state["account-2"] != "" {
		t.Fatalf("node states: %v", nodes.state)
	}
}

func TestAMoveIsRefusedBeforeLoggingWhenItCannotBegin(t *testing.T) {
	m, st, nodes, _ := newMover()
	for _, c := range []struct {
		account, to string
		want        error
	}{
		{"nobody", "account-2", move.ErrNoAccount},
		{"alice", "account-1", move.ErrSameNode},
		{"alice", "account-9", move.ErrNoNode},
	} {
		if _, err := m.Start(context.Background(), "mv-x", c.account, c.to); !errors.Is(err, c.want) {
			t.Errorf("move %s to %s: %v, want %v", c.account, c.to, err, c.want)
		}
	}
	nodes.down["account-2"] = true
	if _, err := m.Start(context.Background(), "mv-x", "alice", "account-2"); !errors.Is(err, move.ErrNodeDown) {
		t.Errorf("a move to a node that is down: %v", err)
	}
	if logged, err := st.Get(context.Background(), "mv-x"); !errors.Is(err, move.ErrUnknown) || len(nodes.steps) != 0 {
		t.Fatalf("refused moves logged %+v and sent %v", logged, nodes.steps)
	}
}

func TestAMoveWhoseLegsStayPreparedIsGivenUpAndTheAccountStays(t *testing.T) {
	m, _, nodes, pl := newMover()
	nodes.prepared = 1
	mv, err := m.Start(context.Background(), "mv-1", "alice", "account-2")
	if err != nil || mv.State != contract.MoveAborted || mv.Reason != "legs_in_flight" {
		t.Fatalf("move: %+v, %v", mv, err)
	}
	if nodes.state["account-1"] != "" || pl.owner["alice"] != "account-1" {
		t.Fatalf("after the given-up move: nodes %v, owner %s", nodes.state, pl.owner["alice"])
	}
}

// TestAMovePausedByANodeThatIsDownIsResumedByRecovery: the new node is down when the old one
// has let go; the move waits in copying, and recovery, once the node is back, finishes it.
func TestAMovePausedByANodeThatIsDownIsResumedByRecovery(t *testing.T) {
	m, st, nodes, pl := newMover()
	ctx := context.Background()
	// Logged and begun while both ran; the new node then dies.
	mv, _, err := m.Store.Create(ctx, contract.Move{ID: "mv-1", Account: "alice", From: "account-1", To: "account-2", State: contract.MoveLeaving})
	if err != nil {
		t.Fatal(err)
	}
	nodes.down["account-2"] = true
	if mv, err = m.Run(ctx, mv); err == nil || mv.State != contract.MoveCopying {
		t.Fatalf("a move whose new node is down: %+v, %v; want copying and an error", mv, err)
	}
	if n, _ := m.Recover(ctx, 0); n != 0 {
		t.Fatalf("recovery finished %d moves while the node is down", n)
	}
	nodes.down["account-2"] = false
	if n, err := m.Recover(ctx, 0); n != 1 || err != nil {
		t.Fatalf("recovery once the node is back: %d, %v", n, err)
	}
	if got, _ := st.Get(ctx, "mv-1"); got.State != contract.MoveDone || pl.owner["alice"] != "account-2" {
		t.Fatalf("after recovery: %+v, owner %s", got, pl.owner["alice"])
	}
}

// TestAMoveStartedAgainWithItsIDResumesItAndAnotherMoveWithTheIDIsAConflict: a retry of a
// move's request finds it logged, and answers its state without logging or moving anything
// again; the id reused for another account or node is refused.
func TestAMoveStartedAgainWithItsIDResumesItAndAnotherMoveWithTheIDIsAConflict(t *testing.T) {
	m, _, nodes, pl := newMover()
	pl.owner["bob"] = "account-1"
	ctx := context.Background()
	if mv, err := m.Start(ctx, "mv-1", "alice", "account-2"); err != nil || mv.State != contract.MoveDone {
		t.Fatalf("move: %+v, %v", mv, err)
	}
	steps := len(nodes.steps)
	if mv, err := m.Start(ctx, "mv-1", "alice", "account-2"); err != nil || mv.State != contract.MoveDone || len(nodes.steps) != steps || len(pl.moves) != 1 {
		t.Fatalf("a retry: %+v, %v, %d more steps, %d switches; want the move done, nothing sent again", mv, err, len(nodes.steps)-steps, len(pl.moves))
	}
	if _, err := m.Start(ctx, "mv-1", "bob", "account-2"); !errors.Is(err, move.ErrConflict) {
		t.Fatalf("the id reused for another account: %v, want ErrConflict", err)
	}
}

// TestASecondMoveOfAnAccountInAMoveIsRefused: one move of an account at a time.
func TestASecondMoveOfAnAccountInAMoveIsRefused(t *testing.T) {
	m, _, _, _ := newMover()
	ctx := context.Background()
	if _, _, err := m.Store.Create(ctx, contract.Move{ID: "mv-1", Account: "alice", From: "account-1", To: "account-2", State: contract.MoveLeaving}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, "mv-2", "alice", "account-2"); !errors.Is(err, move.ErrBusy) {
		t.Fatalf("a second move: %v, want ErrBusy", err)
	}
}

// TestAMoveTheOldNodeDoesNotKnowIsAbortedAndTheAccountStays: the old node answers leave with
// move_conflict (it has the account in no such move): it never let the account go, so the move
// is given up.
func TestAMoveTheOldNodeDoesNotKnowIsAbortedAndTheAccountStays(t *testing.T) {
	m, _, nodes, pl := newMover()
	nodes.conflict = true
	mv, err := m.Start(context.Background(), "mv-1", "alice", "account-2")
	if err != nil || mv.State != contract.MoveAborted || mv.Reason != contract.CodeMoveConflict {
		t.Fatalf("move: %+v, %v; want aborted, move_conflict", mv, err)
	}
	if pl.owner["alice"] != "account-1" || len(pl.moves) != 0 {
		t.Fatalf("after the aborted move: owner %s, switches %v", pl.owner["alice"], pl.moves)
	}
}

// TestRecoveryLeavesAMoveAdvancedRecentlyAlone: a move another coordinator has advanced within
// idle is that coordinator's to finish.
func TestRecoveryLeavesAMoveAdvancedRecentlyAlone(t *testing.T) {
	m, st, nodes, _ := newMover()
	ctx := context.Background()
	now := m.Now()
	if _, _, err := st.Create(ctx, contract.Move{ID: "mv-1", Account: "alice", From: "account-1", To: "account-2", State: contract.MoveLeaving, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if n, err := m.Recover(ctx, time.Hour); n != 0 || err != nil || len(nodes.steps) != 0 {
		t.Fatalf("recovery of a move advanced just now: %d finished, %v, steps %v; want it left alone", n, err, nodes.steps)
	}
	if got, _ := st.Get(ctx, "mv-1"); got.State != contract.MoveLeaving {
		t.Fatalf("move %+v, want still leaving", got)
	}
}
