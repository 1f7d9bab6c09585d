package account

import (
	"errors"
	"testing"

	"tsbank/contract"
)

func TestAnAccountLeavesOnlyOnceItsLegsInFlightAreDecided(t *testing.T) {
	a := Account{ID: "alice", Status: StatusOpen, Balance: 100, OnHold: 10}
	if err := a.Leave("m-1", "account-2"); err != nil {
		t.Fatal(err)
	}
	if err := a.Deposit(5); !errors.Is(err, ErrMoving) {
		t.Fatalf("a deposit while leaving: %v, want ErrMoving", err)
	}
	if err := a.Prepare(contract.LegDebit, 5); !errors.Is(err, ErrMoving) {
		t.Fatalf("a new leg while leaving: %v, want ErrMoving", err)
	}
	if err := a.served(false); err != nil {
		t.Fatalf("a decision of a leg in flight is refused while leaving: %v", err)
	}
	if gone, err := a.Depart("m-1", 1); gone || err != nil {
		t.Fatalf("departed with a leg prepared: %v, %v", gone, err)
	}
	a.OnHold = 0
	if gone, err := a.Depart("m-1", 0); !gone || err != nil {
		t.Fatalf("depart once the legs are decided: %v, %v", gone, err)
	}
	for name, err := range map[string]error{"deposit": a.Deposit(1), "decision": a.served(false), "stay": a.Stay("m-1"), "another move": a.Leave("m-2", "account-3")} {
		if err == nil {
			t.Errorf("%s on an account that has gone: allowed", name)
		}
	}
	if err := a.Leave("m-1", "account-2"); err != nil {
		t.Fatalf("a repeated leave of the same move: %v", err)
	}
}

func TestAGivenUpMoveCannotLeaveAgainUnderItsID(t *testing.T) {
	a := Account{ID: "alice", Status: StatusOpen}
	if err := a.Leave("m-1", "account-2"); err != nil {
		t.Fatal(err)
	}
	if err := a.Stay("m-1"); err != nil || a.Move.State != MoveNone {
		t.Fatalf("stay: %v, %+v", err, a.Move)
	}
	if err := a.Deposit(1); err != nil {
		t.Fatalf("a deposit after the move was given up: %v", err)
	}
	if err := a.Leave("m-1", "account-2"); !errors.Is(err, ErrMoveConflict) {
		t.Fatalf("a late leave of the given-up move: %v, want ErrMoveConflict", err)
	}
	if err := a.Leave("m-2", "account-2"); err != nil {
		t.Fatalf("a new move: %v", err)
	}
}

func TestAnArrivalIsWrittenUntilItIsActivatedAndNeverOverAnotherAccount(t *testing.T) {
	gone := &Account{ID: "alice", Move: Move{State: MoveGone, ID: "m-1", Peer: "account-2"}}
	arriving := &Account{ID: "alice", Move: Move{State: MoveArriving, ID: "m-2", Peer: "account-2"}}
	served := &Account{ID: "alice", Move: Move{State: MoveNone, ID: "m-2"}}
	other := &Account{ID: "alice"}
	for _, c := range []struct {
		name      string
		current   *Account
		first     bool
		write, ok bool
	}{
		{"new here", nil, true, true, true},
		{"records before the account", nil, false, false, false},
		{"back where it left", gone, true, true, true},
		{"records of an arrival", arriving, false, true, true},
		{"the account again", arriving, true, true, true},
		{"after activation", served, false, false, true},
		{"over an account served here", other, true, false, false},
	} {
		write, err := Arrival(c.current, "m-2", c.first)
		if write != c.write || (err == nil) != c.ok {
			t.Errorf("%s: write %v, err %v; want write %v, ok %v", c.name, write, err, c.write, c.ok)
		}
	}
	if err := arriving.served(false); !errors.Is(err, ErrMoving) {
		t.Fatalf("an arriving account is served: %v", err)
	}
	if err := arriving.Activate("m-2"); err != nil || arriving.served(true) != nil {
		t.Fatalf("activate: %v", err)
	}
	if err := arriving.Activate("m-2"); err != nil {
		t.Fatalf("a repeated activation: %v", err)
	}
}
