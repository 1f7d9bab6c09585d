package pgstore_test

import (
	"context"
	"errors"
	"testing"

	"tsbank/contract"
	"tsbank/services/account/account"
)

// TestABatchOfLegsKeepsEachLegsOwnOutcome applies one batch of two-phase-commit steps in one
// transaction, the way the coordinator sends them under load: legs that the rules refuse, that
// name an unknown transfer or an account of another node, fail alone; the others apply, several
// on one account among them, and each committed leg gets the account's next event number.
func TestABatchOfLegsKeepsEachLegsOwnOutcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t, newPool(t), "alice", "bob")
	if _, err := svc.Deposit(ctx, "alice", "d-1", "100.00", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Prepare(ctx, "alice", "t0", contract.LegDebit, "10.00", "bob", ""); err != nil {
		t.Fatal(err)
	}

	prepare := func(tr, acct, leg, amount string) account.Step {
		return account.Step{Op: contract.OpPrepare, TransferID: tr, Leg: leg, Account: acct, Amount: amount, Counterparty: "x"}
	}
	decide := func(op, tr, acct, leg string) account.Step {
		return account.Step{Op: op, TransferID: tr, Leg: leg, Account: acct}
	}
	steps := []account.Step{
		decide(contract.OpCommit, "t0", "alice", contract.LegDebit), // 0: commits the earlier hold
		prepare("t1", "alice", contract.LegDebit, "50.00"),          // 1: held
		prepare("t2", "alice", contract.LegDebit, "45.00"),          // 2: refused: 40.00 left after 1
		prepare("t3", "bob", contract.LegCredit, "5.00"),            // 3: held...
		decide(contract.OpCommit, "t3", "bob", contract.LegCredit),  // 4: ...and committed in the same batch
		decide(contract.OpCommit, "t9", "bob", contract.LegCredit),  // 5: unknown transfer
		prepare("t4", "carol", contract.LegCredit, "1.00"),          // 6: not on this node
		decide(contract.OpAbort, "t5", "carol", contract.LegCredit), // 7: nothing held there: aborted
		prepare("t6", "bob", contract.LegCredit, "1.005"),           // 8: bad amount: refused
		decide(contract.OpAbort, "t7", "alice", contract.LegDebit),  // 9: abort before prepare
		prepare("t7", "alice", contract.LegDebit, "1.00"),           // 10: refused: aborted already
		decide(contract.OpAbort, "t1", "alice", contract.LegDebit),  // 11: conflict? no: 1 is prepared, so released
		decide(contract.OpCommit, "t1", "alice", contract.LegDebit), // 12: conflict: 11 aborted it
	}
	res, err := svc.Apply(ctx, steps)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		state  contract.HoldState
		reason contract.Code
		err    error
	}{
		{contract.HoldCommitted, "", nil},
		{contract.HoldPrepared, "", nil},
		{contract.HoldAborted, "insufficient_funds", nil},
		{contract.HoldPrepared, "", nil},
		{contract.HoldCommitted, "", nil},
		{"", "", account.ErrUnknownTransfer},
		{"", "", account.ErrNotFound},
		{contract.HoldAborted, "", nil},
		{contract.HoldAborted, "invalid_amount", nil},
		{contract.HoldAborted, contract.ReasonAbortedBeforePrepare, nil},
		{contract.HoldAborted, contract.ReasonAbortedBeforePrepare, nil},
		{contract.HoldAborted, "", nil},
		{"", "", account.ErrDecisionConflict},
	}
	for i, w := range want {
		r := res[i]
		if w.err != nil {
			if !errors.Is(r.Err, w.err) {
				t.Errorf("step %d: %+v, %v; want %v", i, r.Hold, r.Err, w.err)
			}
			continue
		}
		if r.Err != nil || r.Hold.State != w.state || r.Hold.Reason != w.reason {
			t.Errorf("step %d: %s %q, %v; want %s %q", i, r.Hold.State, r.Hold.Reason, r.Err, w.state, w.reason)
		}
	}

	alice, err := s.Get(ctx, "alice")
	if err != nil || alice.Balance != 9000 || alice.OnHold != 0 || alice.EventSeq != 2 {
		t.Fatalf("alice = %+v, %v; want 90.00, nothing on hold, events 1 (deposit) and 2 (t0)", alice, err)
	}
	bob, err := s.Get(ctx, "bob")
	if err != nil || bob.Balance != 500 || bob.PendingIn != 0 || bob.EventSeq != 1 {
		t.Fatalf("bob = %+v, %v; want 5.00, nothing pending, one event", bob, err)
	}
	// The batch is durable as a whole: each leg answers a repeat as the batch left it.
	again, err := svc.Apply(ctx, []account.Step{prepare("t2", "alice", contract.LegDebit, "1.00"), decide(contract.OpCommit, "t3", "bob", contract.LegCredit)})
	if err != nil || again[0].Hold.Reason != "insufficient_funds" || again[1].Hold.State != contract.HoldCommitted {
		t.Fatalf("repeats: %+v, %v", again, err)
	}
}

// TestAPaymentsLegsOnOneNodeAreHeldSideBySide stores several legs of one payment (one transfer
// id) on one node, named "debit.N" and "credit.N": the holds table keys a leg by transfer id and
// leg name, and its check must take a payment's names; each leg settles on its own side.
func TestAPaymentsLegsOnOneNodeAreHeldSideBySide(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, s := newService(t, newPool(t), "alice", "bob", "carol")
	if _, err := svc.Deposit(ctx, "alice", "d-1", "100.00", ""); err != nil {
		t.Fatal(err)
	}
	step := func(op, acct, leg, amount string) account.Step {
		return account.Step{Op: op, TransferID: "p1", Leg: leg, Account: acct, Amount: amount}
	}
	res, err := svc.Apply(ctx, []account.Step{
		step(contract.OpPrepare, "alice", "debit.1", "30.00"),
		step(contract.OpPrepare, "bob", "credit.2", "10.00"),
		step(contract.OpPrepare, "carol", "credit.3", "20.00"),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.Hold.State != contract.HoldPrepared {
			t.Fatalf("prepare %d: %+v, %v", i, r.Hold, r.Err)
		}
	}
	res, err = svc.Apply(ctx, []account.Step{
		step(contract.OpCommit, "alice", "debit.1", ""),
		step(contract.OpCommit, "bob", "credit.2", ""),
		step(contract.OpCommit, "carol", "credit.3", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.Hold.State != contract.HoldCommitted {
			t.Fatalf("commit %d: %+v, %v", i, r.Hold, r.Err)
		}
	}
	for id, want := range map[string]int64{"alice": 7000, "bob": 1000, "carol": 2000} {
		a, err := s.Get(ctx, id)
		if err != nil || a.Balance != want || a.OnHold != 0 || a.PendingIn != 0 {
			t.Errorf("%s = %+v, %v; want balance %d and nothing held", id, a, err, want)
		}
	}
}
