package e2e

import (
	"fmt"
	"testing"
	"time"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
	"tsbank/services/coordinator/pgstore"
	"tsbank/services/coordinator/transfer"
	"tsbank/testkit"
)

// The crash-point tests build, in the real databases, exactly the state a coordinator or a
// participant leaves when it dies at that point, then start the services and check that every
// transfer reaches one outcome on both legs, the one in the coordinator's log.

// logTransfer records a transfer of amount from alice to bob in the coordinator's log, as its
// coordinator did before preparing.
func (b *bank) logTransfer(id, amount string) transfer.Transfer {
	b.t.Helper()
	rec, created, err := pgstore.New(b.pool("coordinator"), time.Second, testkit.Logger(b.t)).Begin(ctx(b.t), transfer.Transfer{
		ID: id, From: "alice", RequestID: "r-" + id, Fingerprint: []byte(id), To: "bob", Amount: amount,
	})
	if err != nil || !created {
		b.t.Fatalf("log %s: %v", id, err)
	}
	return rec
}

func (b *bank) decide(id string, outcome contract.TransferState) {
	b.t.Helper()
	d := transfer.Decision{Outcome: outcome, DebitVote: "yes", CreditVote: "yes"}
	if _, err := pgstore.New(b.pool("coordinator"), 0, testkit.Logger(b.t)).Decide(ctx(b.t), id, d); err != nil {
		b.t.Fatal(err)
	}
}

// leg sends a protocol message for one leg of transfer id straight to the node that owns account,
// signed as the coordinator would.
func (b *bank) leg(op, nodeName, account, id, leg string) (contract.Vote, contract.LegState, error) {
	b.t.Helper()
	subject := contract.NodeAccountSubject(nodeName, account, op)
	if op == contract.OpPrepare {
		counterparty := map[string]string{"alice": "bob", "bob": "alice"}[account]
		req := contract.PrepareRequest{TransferID: id, Leg: leg, Amount: "30.00", Counterparty: counterparty}
		req.Sig = b.sign(decisionsig.Prepare(account, req))
		var v contract.Vote
		err := b.c.Call(ctx(b.t), subject, req, &v)
		return v, contract.LegState{}, err
	}
	req := contract.LegRequest{TransferID: id, Leg: leg}
	req.Sig = b.sign(decisionsig.Leg(op, account, req))
	var st contract.LegState
	err := b.c.Call(ctx(b.t), subject, req, &st)
	return contract.Vote{}, st, err
}

func (b *bank) mustVoteYes(nodeName, account, id, leg string) {
	b.t.Helper()
	v, _, err := b.leg(contract.OpPrepare, nodeName, account, id, leg)
	if err != nil || !v.Yes {
		b.t.Fatalf("prepare %s/%s: %+v, %v", id, leg, v, err)
	}
}

// aliceAndBob starts both account nodes (not the coordinator) with alice on account-1 holding
// 100.00 and bob on account-2 holding nothing.
func aliceAndBob(t *testing.T) *bank {
	b := newBank(t)
	for _, name := range nodeNames {
		b.startNode(name)
	}
	b.open("alice", "account-1", "EUR")
	b.open("bob", "account-2", "EUR")
	b.deposit("alice", "100.00")
	return b
}

// checkOutcome waits until the transfer is done and checks that both legs have its outcome and
// the balances show it.
func (b *bank) checkOutcome(id string, outcome contract.TransferState, alice, bob string) {
	b.t.Helper()
	b.settled()
	if state, got := b.logState(id); state != transfer.Done || got != outcome {
		b.t.Fatalf("log says %s/%s, want done/%s", state, got, outcome)
	}
	for _, l := range []struct{ node, leg string }{{"account-1", "debit"}, {"account-2", "credit"}} {
		if got := b.legState(l.node, id, l.leg); got != string(outcome) {
			b.t.Fatalf("%s leg is %q on %s, want %s", l.leg, got, l.node, outcome)
		}
	}
	if a, c := b.balance("alice"), b.balance("bob"); a != alice || c != bob {
		b.t.Fatalf("balances alice %s, bob %s; want %s, %s", a, c, alice, bob)
	}
}

func TestCoordinatorDeadAfterPreparingOneLegIsAborted(t *testing.T) {
	t.Parallel()
	b := aliceAndBob(t)
	b.logTransfer("x1", "30.00")
	b.mustVoteYes("account-1", "alice", "x1", "debit")
	b.startCoordinator() // the restart: no decision was recorded, so it aborts
	b.checkOutcome("x1", contract.TransferAborted, "100.00", "0.00")
	// The credit leg's prepare, if it arrives now, is refused and holds nothing.
	if v, _, err := b.leg(contract.OpPrepare, "account-2", "bob", "x1", "credit"); err != nil || v.Yes {
		t.Fatalf("late prepare = %+v, %v; want a no", v, err)
	}
	b.settled()
}

func TestCoordinatorDeadAfterDecidingBeforeSendingIsCommitted(t *testing.T) {
	t.Parallel()
	b := aliceAndBob(t)
	b.logTransfer("x2", "30.00")
	b.mustVoteYes("account-1", "alice", "x2", "debit")
	b.mustVoteYes("account-2", "bob", "x2", "credit")
	b.decide("x2", contract.TransferCommitted)
	b.startCoordinator()
	b.checkOutcome("x2", contract.TransferCommitted, "70.00", "30.00")
}

func TestCoordinatorDeadHalfWayThroughSendingIsCommitted(t *testing.T) {
	t.Parallel()
	b := aliceAndBob(t)
	b.logTransfer("x3", "30.00")
	b.mustVoteYes("account-1", "alice", "x3", "debit")
	b.mustVoteYes("account-2", "bob", "x3", "credit")
	b.decide("x3", contract.TransferCommitted)
	if _, st, err := b.leg(contract.OpCommit, "account-1", "alice", "x3", "debit"); err != nil || st.State != "committed" {
		t.Fatalf("commit debit: %+v, %v", st, err)
	}
	b.startCoordinator()
	b.checkOutcome("x3", contract.TransferCommitted, "70.00", "30.00")
}

func TestParticipantDeadAfterVotingYesKeepsItsHoldAndCommits(t *testing.T) {
	t.Parallel()
	b := aliceAndBob(t)
	b.logTransfer("x4", "30.00")
	b.mustVoteYes("account-1", "alice", "x4", "debit")
	b.mustVoteYes("account-2", "bob", "x4", "credit")
	b.stopNode("account-2") // dies after voting yes
	b.decide("x4", contract.TransferCommitted)
	b.startCoordinator()
	// The debit leg commits; the credit leg is in doubt until its node is back.
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if got := b.legState("account-1", "x4", "debit"); got != "committed" {
			return fmt.Errorf("debit leg %q", got)
		}
		return nil
	})
	pending, err := b.c.PendingTransfers(ctx(t))
	if err != nil || len(pending.InDoubt) != 1 || pending.InDoubt[0].TransferID != "x4" {
		t.Fatalf("pending = %+v, %v; want x4 in doubt", pending, err)
	}
	if got := b.legState("account-2", "x4", "credit"); got != "prepared" {
		t.Fatalf("the dead node's leg is %q, want prepared (durable)", got)
	}
	b.startNode("account-2")
	b.checkOutcome("x4", contract.TransferCommitted, "70.00", "30.00")
}

func TestAParticipantAsksAboutALegHeldTooLong(t *testing.T) {
	t.Parallel()
	b := aliceAndBob(t)
	// Re-sends far apart, so the participant's own question settles the leg first.
	b.env["SEND_TIMEOUT"], b.env["MAX_BACKOFF"] = "10s", "10s"
	b.startCoordinator()
	// A hold whose transfer the coordinator never logged: presumed abort.
	b.mustVoteYes("account-1", "alice", "ghost", "debit")
	// A decided transfer whose decision has not reached the legs.
	b.logTransfer("x9", "30.00")
	b.mustVoteYes("account-1", "alice", "x9", "debit")
	b.mustVoteYes("account-2", "bob", "x9", "credit")
	b.decide("x9", contract.TransferCommitted)
	testkit.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		if s := b.legState("account-1", "ghost", "debit"); s != "aborted" {
			return fmt.Errorf("ghost leg %q", s)
		}
		if s := b.legState("account-2", "x9", "credit"); s != "committed" {
			return fmt.Errorf("x5 credit leg %q", s)
		}
		return nil
	})
	if a, c := b.balance("alice"), b.balance("bob"); a != "70.00" || c != "30.00" {
		t.Fatalf("balances %s, %s", a, c)
	}
}

// TestProtocolMessagesAreIdempotentAndOrderSafe sends duplicated and re-ordered messages straight
// to the participants: nothing changes beyond the first effect.
func TestProtocolMessagesAreIdempotentAndOrderSafe(t *testing.T) {
	t.Parallel()
	b := aliceAndBob(t)
	onHold := func() int64 {
		var n int64
		if err := b.pool("account-1").QueryRow(ctx(t), `SELECT on_hold FROM accounts WHERE id = 'alice'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	t.Run("a duplicated prepare holds once", func(t *testing.T) {
		b.mustVoteYes("account-1", "alice", "d1", "debit")
		b.mustVoteYes("account-1", "alice", "d1", "debit")
		if h := onHold(); h != 3000 {
			t.Fatalf("on hold %d, want 3000", h)
		}
	})
	t.Run("a duplicated commit moves money once", func(t *testing.T) {
		for range 2 {
			if _, st, err := b.leg(contract.OpCommit, "account-1", "alice", "d1", "debit"); err != nil || st.State != "committed" {
				t.Fatalf("commit: %+v, %v", st, err)
			}
		}
		if a := b.balance("alice"); a != "70.00" || onHold() != 0 {
			t.Fatalf("alice %s, on hold %d; want 70.00, 0", a, onHold())
		}
	})
	t.Run("an abort after a commit is refused", func(t *testing.T) {
		_, _, err := b.leg(contract.OpAbort, "account-1", "alice", "d1", "debit")
		wantCode(t, err, contract.CodeConflict)
		if a := b.balance("alice"); a != "70.00" {
			t.Fatalf("alice %s", a)
		}
	})
	t.Run("an abort before its prepare makes the prepare fail", func(t *testing.T) {
		if _, st, err := b.leg(contract.OpAbort, "account-1", "alice", "d2", "debit"); err != nil || st.State != "aborted" {
			t.Fatalf("abort: %+v, %v", st, err)
		}
		if v, _, err := b.leg(contract.OpPrepare, "account-1", "alice", "d2", "debit"); err != nil || v.Yes {
			t.Fatalf("prepare after abort = %+v, %v; want a no", v, err)
		}
		if onHold() != 0 {
			t.Fatalf("on hold %d after a refused prepare", onHold())
		}
	})
	t.Run("a prepare after a release is refused and the abort is applied once", func(t *testing.T) {
		b.mustVoteYes("account-1", "alice", "d3", "debit")
		for range 2 {
			if _, st, err := b.leg(contract.OpAbort, "account-1", "alice", "d3", "debit"); err != nil || st.State != "aborted" {
				t.Fatalf("abort: %+v, %v", st, err)
			}
		}
		if v, _, _ := b.leg(contract.OpPrepare, "account-1", "alice", "d3", "debit"); v.Yes {
			t.Fatal("prepare after abort voted yes")
		}
		if a := b.balance("alice"); a != "70.00" || onHold() != 0 {
			t.Fatalf("alice %s, on hold %d", a, onHold())
		}
	})
	t.Run("a commit after an abort is refused", func(t *testing.T) {
		_, _, err := b.leg(contract.OpCommit, "account-1", "alice", "d3", "debit")
		wantCode(t, err, contract.CodeConflict)
	})
	t.Run("a commit of an unknown leg is refused", func(t *testing.T) {
		_, _, err := b.leg(contract.OpCommit, "account-1", "alice", "d9", "debit")
		wantCode(t, err, contract.CodeUnknownTransfer)
	})
}

// TestAParticipantPausedPastThePrepareTimeoutAborts blocks the credit leg's prepare on its row lock
// (as a paused participant would not answer), so the transfer aborts on timeout; when the pause
// ends, the late vote is ignored and every hold is released.
func TestAParticipantPausedPastThePrepareTimeoutAborts(t *testing.T) {
	t.Parallel()
	b := aliceAndBob(t)
	b.startCoordinator()
	tx, err := b.pool("account-2").Begin(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx(t), `SELECT 1 FROM accounts WHERE id = 'bob' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	tr := b.transfer("alice", "t-1", "bob", "30.00")
	if tr.Status != contract.TransferAborted || tr.Reason != contract.CodeTimeout {
		t.Fatalf("transfer = %+v, want aborted on timeout", tr)
	}
	if err := tx.Rollback(ctx(t)); err != nil { // the pause ends
		t.Fatal(err)
	}
	b.checkOutcome(tr.TransferID, contract.TransferAborted, "100.00", "0.00")
}

// The acknowledgements are written in batches after the client has its answer, so a crash can
// lose them after both legs have committed. That state is a decided transfer not done: the
// restarted coordinator re-sends the decision, both legs acknowledge it again without applying
// it twice, and the money moved once.
func TestCoordinatorDeadBeforeItsAckBatchWasWrittenIsDoneOnce(t *testing.T) {
	t.Parallel()
	b := aliceAndBob(t)
	b.logTransfer("x9", "30.00")
	b.mustVoteYes("account-1", "alice", "x9", "debit")
	b.mustVoteYes("account-2", "bob", "x9", "credit")
	b.decide("x9", contract.TransferCommitted)
	for _, l := range []struct{ node, account, leg string }{{"account-1", "alice", "debit"}, {"account-2", "bob", "credit"}} {
		if _, st, err := b.leg(contract.OpCommit, l.node, l.account, "x9", l.leg); err != nil || st.State != "committed" {
			t.Fatalf("commit %s: %+v, %v", l.leg, st, err)
		}
	}
	b.startCoordinator()
	b.checkOutcome("x9", contract.TransferCommitted, "70.00", "30.00")
}
