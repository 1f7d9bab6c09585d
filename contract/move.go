package contract

import (
	"encoding/json"
	"time"
)

// Moving an account from one node to another (docs/adr/0036). An operator asks the coordinator
// (SubjectMoves); the coordinator drives the move through the two nodes (NodeMoveSubject) and
// records where the account now lives in MovesBucket.

// MovesBucket says where each moved account lives now, and where it lived before: key = account
// id, value = a Placement. An account never moved has no key here, and lives on the node of its
// entry in AccountsBucket, which never changes. Only the coordinator writes it, with
// compare-and-set.
const MovesBucket = "tsbank_moves"

// Placement is the value of an account's key in MovesBucket: the node that owns it now, and every
// move it made, oldest first. An event numbered seq belongs to the node the moves put the account
// on after its AfterSeq: the history judges an event by its owner at its time.
type Placement struct {
	Node  string       `json:"node"`
	Moves []MoveRecord `json:"moves"`
}

// MoveRecord is one finished switch of an account's owner.
type MoveRecord struct {
	ID       string    `json:"id"` // the move's request id
	From     string    `json:"from"`
	To       string    `json:"to"`
	AfterSeq int64     `json:"after_seq"` // the last event numbered by From; To numbers from AfterSeq+1
	At       time.Time `json:"at"`
}

// OwnerAt is the node that numbered event seq of an account whose entry in AccountsBucket names
// home: home, or the To of the last move whose AfterSeq is below seq.
func (p Placement) OwnerAt(home string, seq int64) string {
	owner := home
	for _, m := range p.Moves {
		if seq > m.AfterSeq {
			owner = m.To
		}
	}
	return owner
}

// Subjects of moves.
const (
	SubjectMoves      = "bank.accounts.move"        // an operator moves an account to another node
	SubjectMoveStatus = "bank.accounts.move.status" // a move's state by its request id
)

// NodeMoveSubject is where the coordinator sends the steps of a move to a node.
func NodeMoveSubject(node string) string { return "bank.node." + node + ".move" }

// MoveRequest asks for account to be moved to node To; ID is the idempotency key.
type MoveRequest struct {
	ID      string `json:"id"`
	Account string `json:"account"`
	To      string `json:"to"`
}

// MoveStatusRequest asks for a move's state.
type MoveStatusRequest struct {
	ID string `json:"id"`
}

// States of a move, in the order a move passes them; done and aborted are final.
const (
	MoveLeaving   = "leaving"   // the account takes no new work on its old node; holds in flight finish
	MoveCopying   = "copying"   // the old node let go of it; its state is being copied to the new node
	MoveSwitching = "switching" // copied; the registry is being switched to the new node
	MoveArriving  = "arriving"  // switched; the new node is being told to serve it
	MoveDone      = "done"
	MoveAborted   = "aborted" // given up before the old node let go: the account stayed where it was
)

// Move is a move as the coordinator logs it.
type Move struct {
	ID        string    `json:"id"`
	Account   string    `json:"account"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	State     string    `json:"state"`
	Reason    Code      `json:"reason,omitempty"`  // of an aborted move
	Message   string    `json:"message,omitempty"` // of an aborted move
	AfterSeq  int64     `json:"after_seq"`         // the last event number on the old node, once copying
	Copied    int       `json:"copied"`            // rows copied (the account, its idempotency records and legs)
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Operations of a move on a node (NodeMoveRequest.Op).
const (
	MoveOpLeave    = "leave"    // old node: take no new work on the account
	MoveOpStay     = "stay"     // old node: take work again (the move was given up)
	MoveOpDepart   = "depart"   // old node: let go of the account, once no leg of it is prepared
	MoveOpExport   = "export"   // old node: a page of the account's rows
	MoveOpImport   = "import"   // new node: store a page, the account not served yet
	MoveOpActivate = "activate" // new node: serve the account
)

// Parts of an account a move copies, in order (MovePage.Part).
const (
	MovePartAccount  = "account"
	MovePartRequests = "requests"
	MovePartHolds    = "holds"
)

// NodeMoveRequest is one step of a move, for a node. Page travels with an import. Sig is the
// coordinator's signature (decisionsig.MoveStep): an import carries balances, so a node takes one
// only from the coordinator.
type NodeMoveRequest struct {
	Op      string    `json:"op"`
	MoveID  string    `json:"move_id"`
	Account string    `json:"account"`
	Peer    string    `json:"peer"` // the other node of the move
	Part    string    `json:"part,omitempty"`
	After   string    `json:"after,omitempty"` // export: the cursor of the page before
	Page    *MovePage `json:"page,omitempty"`
	Sig     string    `json:"sig,omitempty"`
}

// MovePage is a page of an account's rows, as its old node stores them: opaque to everyone but
// the nodes, which run the same migrations.
type MovePage struct {
	Part string            `json:"part"`
	Rows []json.RawMessage `json:"rows"`
	Next string            `json:"next,omitempty"` // the cursor of the next page; "" when the part is done
}

// NodeMoveReply is a node's answer to a step.
type NodeMoveReply struct {
	State    string    `json:"state"`              // the account's move state on the node: "", leaving, gone or arriving
	Prepared int       `json:"prepared"`           // legs of the account still prepared (leave, depart)
	EventSeq int64     `json:"event_seq"`          // the account's last event number
	Page     *MovePage `json:"page,omitempty"`     // export
	Imported int       `json:"imported,omitempty"` // import: rows written
}

// MovePageRows is the most rows a MovePage carries: a page must fit a NATS message.
const MovePageRows = 200
